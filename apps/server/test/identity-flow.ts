import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { sharedLectern, type ProfileSetup } from './testing.ts';
import { identityUser, sessionList, tokenPair } from '@lectern/schemas/identity/api';
import { jsonClient, problem, type Reply } from './http-client.ts';
import { devMailbox } from './dev-mailbox.ts';
import { recordsOf } from './log-records.ts';
import { topicOf } from '@lectern/schemas';

/**
 * Identity end to end over HTTP against a whole backend in this process,
 * registered once per profile (embedded; PostgreSQL + Kafka). Each test uses
 * its own addresses and its own client IP (X-Forwarded-For, trusted from
 * loopback) so that the per-IP limits of one test do not leak into another.
 */
export const identityFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const ctx = async () => ({ lectern: await lectern() });
  const http = jsonClient(async () => (await ctx()).lectern.url);
  let ipCounter = 0;
  const newIp = () => `198.51.100.${++ipCounter}`;
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const newEmail = () => `u-${randomUUID().slice(0, 8)}@example.org`;
  const password = 'correct horse battery staple';

  const mailbox = devMailbox(http);

  const registerAndVerify = async (email = newEmail(), ip = newIp()) => {
    const reg = await http('POST', '/api/identity/register', {
      body: { email, password },
      headers: from(ip),
    });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`);
    const { token } = await mailbox.waitFor(email, 'verify-email');
    const verified = await http('POST', '/api/identity/verify-email', { body: { token }, headers: from(ip) });
    if (verified.status !== 200)
      throw new Error(`verify: ${verified.status} ${JSON.stringify(verified.body)}`);
    return { email, ip, userId: reg.body!.userId as string, tokens: verified.body! };
  };

  test.serial(
    `${name}: register → verify → the tokens work on profile; the verification token is spent`,
    async (t) => {
      const email = newEmail();
      const ip = newIp();
      const reg = await http('POST', '/api/identity/register', {
        body: { email: email.toUpperCase(), password },
        headers: from(ip),
      });
      t.is(reg.status, 201);
      t.like(reg.body, { email, status: 'pending' });
      const mail = await mailbox.waitFor(email, 'verify-email');
      t.truthy(mail.token);
      // A pending user cannot log in yet.
      problem(
        t,
        await http('POST', '/api/identity/login', { body: { email, password }, headers: from(ip) }),
        403,
        'email_not_verified',
      );

      const verified = await http('POST', '/api/identity/verify-email', { body: { token: mail.token } });
      t.is(verified.status, 200);
      t.is(verified.headers.get('cache-control'), 'no-store');
      t.is(verified.body?.tokenType, 'Bearer');
      t.true(tokenPair(verified.body).ok, 'the token pair is as documented');
      t.is(verified.body?.expiresIn, 3600);
      const refreshDays = (Date.parse(verified.body?.refreshTokenExpiresAt) - Date.now()) / 86_400_000;
      t.true(refreshDays > 29.9 && refreshDays <= 30, `refresh token lives ${refreshDays} days`);
      const header = decodeProtectedHeader(verified.body?.accessToken);
      const claims = decodeJwt(verified.body?.accessToken);
      t.like(header, { alg: 'EdDSA', typ: 'at+jwt' });
      t.truthy(header.kid);
      t.is(claims.sub, reg.body?.userId);
      t.deepEqual(claims.roles, ['learner']);
      t.is((claims.exp as number) - (claims.iat as number), 3600);

      // Spent.
      problem(
        t,
        await http('POST', '/api/identity/verify-email', { body: { token: mail.token } }),
        400,
        'verification_token_invalid',
      );
      // Identity's token is accepted by profile, verified through the JWKS.
      const put = await http('PUT', '/api/profile', {
        token: verified.body?.accessToken,
        body: { displayName: 'Ada' },
      });
      t.is(put.status, 200);
      // And the user read model knows them.
      const me = await http('GET', '/api/identity/me', {
        token: verified.body?.accessToken,
        headers: { 'x-consistency-token': reg.headers.get('x-consistency-token')! },
      });
      for (let i = 0; me.status === 200 && me.body?.status !== 'active' && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 50));
        Object.assign(me, await http('GET', '/api/identity/me', { token: verified.body?.accessToken }));
      }
      t.like(me.body, { userId: reg.body?.userId, email, status: 'active', roles: ['learner'] });
      t.true(identityUser(me.body).ok, 'the user is as documented');
    },
  );

  test.serial(
    `${name}: registration input is validated; an address registers once, even concurrently`,
    async (t) => {
      const ip = newIp();
      const bad = await http('POST', '/api/identity/register', {
        body: { email: 'nope', password: 'short' },
        headers: from(ip),
      });
      problem(t, bad, 400, 'validation_failed');
      t.deepEqual((bad.body?.errors as { path: string }[]).map((e) => e.path).sort(), [
        '/email',
        '/password',
      ]);
      problem(
        t,
        await http('POST', '/api/identity/register', { raw: '{"email":', headers: from(ip) }),
        400,
        'malformed_json',
      );

      const email = newEmail();
      const racers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          http('POST', '/api/identity/register', {
            body: { email, password },
            headers: from(`203.0.113.${i + 1}`),
          }),
        ),
      );
      t.deepEqual(racers.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
      t.true(racers.filter((r) => r.status === 409).every((r) => r.body?.code === 'email_taken'));
      // Case does not make a new address.
      problem(
        t,
        await http('POST', '/api/identity/register', {
          body: { email: email.toUpperCase(), password },
          headers: from(ip),
        }),
        409,
        'email_taken',
      );
    },
  );

  test.serial(
    `${name}: login: wrong password 401, unknown e-mail 401, success starts a session with its device`,
    async (t) => {
      const { email, ip } = await registerAndVerify();
      problem(
        t,
        await http('POST', '/api/identity/login', {
          body: { email, password: 'wrong password!' },
          headers: from(ip),
        }),
        401,
        'invalid_credentials',
      );
      problem(
        t,
        await http('POST', '/api/identity/login', {
          body: { email: newEmail(), password },
          headers: from(ip),
        }),
        401,
        'invalid_credentials',
      );
      problem(
        t,
        await http('POST', '/api/identity/login', { body: { email }, headers: from(ip) }),
        400,
        'validation_failed',
      );
      const ok = await http('POST', '/api/identity/login', {
        body: { email, password, device: { name: 'Test phone', platform: 'android' } },
        headers: { ...from(ip), 'user-agent': 'lectern-e2e/1' },
      });
      t.is(ok.status, 200);
      t.truthy(ok.body?.refreshToken);
      const familyId = (ok.body?.refreshToken as string).split('.')[0];
      let sessions: Reply | null = null;
      for (let i = 0; i < 60; i++) {
        sessions = await http('GET', '/api/identity/sessions', { token: ok.body?.accessToken });
        if ((sessions.body?.items as { familyId: string }[]).some((s) => s.familyId === familyId)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      t.true(sessionList(sessions!.body).ok, 'the session list is as documented');
      const session = (sessions!.body?.items as Record<string, any>[]).find((s) => s.familyId === familyId);
      t.like(session, {
        device: { name: 'Test phone', platform: 'android', userAgent: 'lectern-e2e/1' },
        revokedAt: null,
      });
    },
  );

  test.serial(
    `${name}: refresh rotates; reusing a spent token revokes the family; logout ends it`,
    async (t) => {
      const { tokens } = await registerAndVerify();
      const first = tokens.refreshToken as string;
      const second = await http('POST', '/api/identity/refresh', { body: { refreshToken: first } });
      t.is(second.status, 200);
      t.not(second.body?.refreshToken, first);
      t.not(second.body?.accessToken, tokens.accessToken);
      const third = await http('POST', '/api/identity/refresh', {
        body: { refreshToken: second.body?.refreshToken },
      });
      t.is(third.status, 200);
      // The first token again: reuse. The whole family dies, the newest token too.
      problem(
        t,
        await http('POST', '/api/identity/refresh', { body: { refreshToken: first } }),
        401,
        'refresh_token_reused',
      );
      problem(
        t,
        await http('POST', '/api/identity/refresh', { body: { refreshToken: third.body?.refreshToken } }),
        401,
        'refresh_token_invalid',
      );
      // Garbage and forged tokens.
      problem(
        t,
        await http('POST', '/api/identity/refresh', { body: { refreshToken: 'not-a-refresh-token-at-all' } }),
        401,
        'refresh_token_invalid',
      );
      const [fam, tok] = (third.body?.refreshToken as string).split('.');
      problem(
        t,
        await http('POST', '/api/identity/refresh', {
          body: { refreshToken: `${fam}.${tok}.forgedsecretforgedsecret` },
        }),
        401,
        'refresh_token_invalid',
      );

      const login = await registerAndVerify();
      t.is(
        (await http('POST', '/api/identity/logout', { body: { refreshToken: login.tokens.refreshToken } }))
          .status,
        204,
      );
      problem(
        t,
        await http('POST', '/api/identity/refresh', { body: { refreshToken: login.tokens.refreshToken } }),
        401,
        'refresh_token_invalid',
      );
    },
  );

  test.serial(`${name}: two concurrent refreshes of one token: exactly one succeeds`, async (t) => {
    for (let round = 0; round < 3; round++) {
      const { tokens } = await registerAndVerify();
      const both = await Promise.all(
        [0, 1, 2].map(() =>
          http('POST', '/api/identity/refresh', { body: { refreshToken: tokens.refreshToken } }),
        ),
      );
      const statuses = both.map((r) => r.status);
      t.is(statuses.filter((s) => s === 200).length, 1, `round ${round}: ${statuses.join(',')}`);
      // The winner's new token still works: a race is not reuse.
      const winner = both.find((r) => r.status === 200)!;
      t.is(
        (await http('POST', '/api/identity/refresh', { body: { refreshToken: winner.body?.refreshToken } }))
          .status,
        200,
      );
    }
  });

  test.serial(
    `${name}: password reset: 15-minute token by e-mail; confirming revokes every refresh token`,
    async (t) => {
      const { email, ip, tokens } = await registerAndVerify();
      const other = await http('POST', '/api/identity/login', {
        body: { email, password },
        headers: from(ip),
      });
      t.is(
        (await http('POST', '/api/identity/password-reset', { body: { email }, headers: from(ip) })).status,
        202,
      );
      // The mail goes after the answer (whose time must not depend on the address): wait for it, bounded.
      const mail = await mailbox.waitFor(email, 'reset-password');
      t.truthy(mail.token);
      // Unknown addresses get the same answer and no mail.
      const stranger = newEmail();
      t.is(
        (await http('POST', '/api/identity/password-reset', { body: { email: stranger }, headers: from(ip) }))
          .status,
        202,
      );
      t.is((await mailbox.now(stranger, 'reset-password')).length, 0);

      const newPassword = 'a brand new passphrase';
      problem(
        t,
        await http('POST', '/api/identity/password-reset/confirm', {
          body: { token: mail.token, newPassword: 'short' },
        }),
        400,
        'validation_failed',
      );
      t.is(
        (
          await http('POST', '/api/identity/password-reset/confirm', {
            body: { token: mail.token, newPassword },
          })
        ).status,
        204,
      );
      problem(
        t,
        await http('POST', '/api/identity/password-reset/confirm', {
          body: { token: mail.token, newPassword },
        }),
        400,
        'reset_token_invalid',
      );
      for (const refreshToken of [tokens.refreshToken, other.body?.refreshToken])
        problem(
          t,
          await http('POST', '/api/identity/refresh', { body: { refreshToken } }),
          401,
          'refresh_token_invalid',
        );
      problem(
        t,
        await http('POST', '/api/identity/login', { body: { email, password }, headers: from(ip) }),
        401,
        'invalid_credentials',
      );
      t.is(
        (
          await http('POST', '/api/identity/login', {
            body: { email, password: newPassword },
            headers: from(ip),
          })
        ).status,
        200,
      );
    },
  );

  test.serial(`${name}: change e-mail and change phone are each re-verified`, async (t) => {
    const { email, ip, tokens } = await registerAndVerify();
    const next = newEmail();
    problem(
      t,
      await http('POST', '/api/identity/email', {
        token: tokens.accessToken,
        body: { newEmail: next, password: 'wrong password!' },
      }),
      401,
      'invalid_credentials',
    );
    problem(
      t,
      await http('POST', '/api/identity/email', { body: { newEmail: next, password } }),
      401,
      'token_missing',
    );
    t.is(
      (
        await http('POST', '/api/identity/email', {
          token: tokens.accessToken,
          body: { newEmail: next, password },
        })
      ).status,
      202,
    );
    // Nothing changes until the new address proves itself.
    problem(
      t,
      await http('POST', '/api/identity/login', { body: { email: next, password }, headers: from(ip) }),
      401,
      'invalid_credentials',
    );
    const mail = await mailbox.waitFor(next, 'confirm-email-change');
    const confirmed = await http('POST', '/api/identity/email/confirm', { body: { token: mail.token } });
    t.is(confirmed.status, 200);
    t.is(confirmed.body?.email, next);
    t.is(
      (await http('POST', '/api/identity/login', { body: { email: next, password }, headers: from(ip) }))
        .status,
      200,
    );
    problem(
      t,
      await http('POST', '/api/identity/login', { body: { email, password }, headers: from(ip) }),
      401,
      'invalid_credentials',
    );
    // The old address is free again.
    t.is(
      (await http('POST', '/api/identity/register', { body: { email, password }, headers: from(ip) })).status,
      201,
    );

    const phone = `+4915${String(Date.now()).slice(-8)}`;
    problem(
      t,
      await http('POST', '/api/identity/phone', {
        token: tokens.accessToken,
        body: { phone: '12345' },
        headers: from(ip),
      }),
      400,
      'validation_failed',
    );
    t.is(
      (
        await http('POST', '/api/identity/phone', {
          token: tokens.accessToken,
          body: { phone },
          headers: from(ip),
        })
      ).status,
      202,
    );
    const sms = await mailbox.waitFor(phone, 'phone-code');
    t.regex(sms.code ?? '', /^\d{6}$/);
    const wrongCode = sms.code === '000000' ? '000001' : '000000';
    const wrong = await http('POST', '/api/identity/phone/verify', {
      token: tokens.accessToken,
      body: { phone, code: wrongCode },
    });
    problem(t, wrong, 400, 'phone_code_wrong');
    t.is(wrong.body?.attemptsLeft, 4);
    const ok = await http('POST', '/api/identity/phone/verify', {
      token: tokens.accessToken,
      body: { phone, code: sms.code },
    });
    t.is(ok.status, 200);
    t.like(ok.body, { phone, verified: true });
    // Single use.
    problem(
      t,
      await http('POST', '/api/identity/phone/verify', {
        token: tokens.accessToken,
        body: { phone, code: sms.code },
      }),
      400,
      'phone_code_invalid',
    );
  });

  test.serial(
    `${name}: phone codes: one per 30 s per phone, 5 per hour per IP (429 + Retry-After); 5 wrong codes lock 1 h (423)`,
    async (t) => {
      const { tokens } = await registerAndVerify();
      const ip = newIp();
      const base = Number(String(Date.now()).slice(-7)) * 10;
      const phones = Array.from({ length: 6 }, (_, i) => `+4917${String(base + i).padStart(8, '0')}`);
      const send = (phone: string, fromIp = ip) =>
        http('POST', '/api/identity/phone', {
          token: tokens.accessToken,
          body: { phone },
          headers: from(fromIp),
        });
      t.is((await send(phones[0]!)).status, 202);
      const tooSoon = await send(phones[0]!, newIp());
      problem(t, tooSoon, 429, 'phone_code_too_soon');
      const retry = Number(tooSoon.headers.get('retry-after'));
      t.true(retry >= 1 && retry <= 30, `Retry-After ${retry}`);
      for (const phone of phones.slice(1, 5)) t.is((await send(phone)).status, 202);
      const sixth = await send(phones[5]!);
      problem(t, sixth, 429, 'rate_limited');
      t.true(Number(sixth.headers.get('retry-after')) > 0);

      // Five wrong codes on phones[1]: four 400s, then 423 with an hour's Retry-After.
      const { code } = await mailbox.waitFor(phones[1]!, 'phone-code');
      const wrongCode = code === '000000' ? '000001' : '000000';
      const verify = (c: string) =>
        http('POST', '/api/identity/phone/verify', {
          token: tokens.accessToken,
          body: { phone: phones[1], code: c },
        });
      for (let i = 0; i < 4; i++) problem(t, await verify(wrongCode), 400, 'phone_code_wrong');
      const locked = await verify(wrongCode);
      problem(t, locked, 423, 'phone_locked');
      t.is(locked.headers.get('retry-after'), '3600');
      // Locked even for the right code, and for new sends.
      problem(t, await verify(code!), 423, 'phone_locked');
      problem(t, await send(phones[1]!, newIp()), 423, 'phone_locked');
    },
  );

  test.serial(
    `${name}: login brute force: 5 wrong passwords lock the account (423); 20 failures from one IP are refused (429)`,
    async (t) => {
      const { email } = await registerAndVerify();
      const attempt = (pw: string, ip = newIp()) =>
        http('POST', '/api/identity/login', { body: { email, password: pw }, headers: from(ip) });
      for (let i = 0; i < 4; i++) problem(t, await attempt('wrong password!'), 401, 'invalid_credentials');
      const fifth = await attempt('wrong password!');
      problem(t, fifth, 423, 'account_locked');
      t.is(fifth.headers.get('retry-after'), '900');
      const locked = await attempt(password);
      problem(t, locked, 423, 'account_locked');
      t.true(Number(locked.headers.get('retry-after')) > 800);

      const ip = newIp();
      for (let i = 0; i < 20; i++)
        problem(
          t,
          await http('POST', '/api/identity/login', {
            body: { email: newEmail(), password },
            headers: from(ip),
          }),
          401,
          'invalid_credentials',
        );
      const blocked = await http('POST', '/api/identity/login', {
        body: { email: newEmail(), password },
        headers: from(ip),
      });
      problem(t, blocked, 429, 'rate_limited');
      t.true(Number(blocked.headers.get('retry-after')) > 0);
    },
  );

  test.serial(`${name}: JWKS, key rotation with overlap, and RBAC on identity's admin routes`, async (t) => {
    const { lectern } = await ctx();
    const jwks = await http('GET', '/.well-known/jwks.json');
    t.is(jwks.status, 200);
    const keys = jwks.body?.keys as Record<string, unknown>[];
    t.true(keys.length >= 1);
    t.true(keys.every((k) => typeof k.kid === 'string' && !('d' in k)));

    const user = await registerAndVerify();
    problem(
      t,
      await http('POST', '/api/admin/identity/keys/rotate', { token: user.tokens.accessToken }),
      403,
      'forbidden',
    );
    problem(
      t,
      await http('PUT', `/api/admin/users/${user.userId}/roles`, {
        token: user.tokens.accessToken,
        body: { roles: ['admin'] },
      }),
      403,
      'forbidden',
    );

    const admin = (await lectern.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
    const oldKid = decodeProtectedHeader(user.tokens.accessToken).kid;
    const rotated = await http('POST', '/api/admin/identity/keys/rotate', { token: admin });
    t.is(rotated.status, 200);
    t.not(rotated.body?.kid, oldKid);
    const after = (await http('GET', '/.well-known/jwks.json')).body?.keys as { kid: string }[];
    t.truthy(
      after.find((k) => k.kid === oldKid),
      'the old key stays published',
    );
    t.truthy(after.find((k) => k.kid === rotated.body?.kid));
    // Old tokens still work; new ones carry the new key.
    t.is((await http('GET', '/api/profile', { token: user.tokens.accessToken })).status, 200);
    const refreshed = await http('POST', '/api/identity/refresh', {
      body: { refreshToken: user.tokens.refreshToken },
    });
    t.is(decodeProtectedHeader(refreshed.body?.accessToken).kid, rotated.body?.kid);

    // An admin grants a role; the next access token carries it.
    problem(
      t,
      await http('PUT', `/api/admin/users/${user.userId}/roles`, {
        token: admin,
        body: { roles: ['wizard'] },
      }),
      400,
      'validation_failed',
    );
    const granted = await http('PUT', `/api/admin/users/${user.userId}/roles`, {
      token: admin,
      body: { roles: ['learner', 'author'] },
    });
    t.is(granted.status, 200);
    const next = await http('POST', '/api/identity/refresh', {
      body: { refreshToken: refreshed.body?.refreshToken },
    });
    t.deepEqual(decodeJwt(next.body?.accessToken).roles, ['author', 'learner']);
  });

  test.serial(
    `${name}: edge headers on identity's answers; no secret in any event or log record`,
    async (t) => {
      const email = newEmail();
      const ip = newIp();
      const reg = await http('POST', '/api/identity/register', {
        body: { email, password },
        headers: from(ip),
      });
      for (const h of [
        'content-security-policy',
        'strict-transport-security',
        'referrer-policy',
        'x-content-type-options',
      ])
        t.truthy(reg.headers.get(h), h);
      const { token } = await mailbox.waitFor(email, 'verify-email');
      const verified = await http('POST', '/api/identity/verify-email', { body: { token } });
      const { tokens } = await registerAndVerify();
      const phone = `+4916${String(Date.now()).slice(-8)}`;
      await http('POST', '/api/identity/phone', {
        token: tokens.accessToken,
        body: { phone },
        headers: from(newIp()),
      });
      const { code } = await mailbox.waitFor(phone, 'phone-code');
      // A reset asked for, and its mail sent (the notifications worker has rendered it by then).
      t.is(
        (await http('POST', '/api/identity/password-reset', { body: { email }, headers: from(newIp()) }))
          .status,
        202,
      );
      const reset = await mailbox.waitFor(email, 'reset-password');

      const { lectern } = await ctx();
      const secrets = [
        password,
        token!,
        token!.split('.')[1]!,
        reset.token!,
        verified.body?.refreshToken,
        (verified.body?.refreshToken as string).split('.')[2]!,
        verified.body?.accessToken,
      ];
      // Every event of every context (a notification's events record what was sent, never its text).
      let scanned = 0;
      let cursor = '';
      for (;;) {
        const page = await lectern.store.readAll(cursor, 500);
        for (const e of page) {
          scanned++;
          const text = JSON.stringify(e);
          for (const s of secrets) t.false(text.includes(s), `${e.type} holds a secret`);
          if (e.type === 'identity.PhoneCodeSent' && (e.data as { phone: string }).phone === phone)
            t.false(JSON.stringify(e.data).includes(`"${code}"`), 'phone code in clear');
        }
        if (page.length === 0) break;
        cursor = page[page.length - 1]!.cursor;
      }
      t.true(scanned > 10, `scanned ${scanned} events`);
      // And every record the log holds for identity and notifications, as a consumer reads them.
      for (const topic of ['identity', 'notifications'].map((c) => topicOf(c, lectern.namespace))) {
        const records = await recordsOf(lectern.log, topic);
        t.true(records.length > 0, `${topic} has records`);
        for (const r of records)
          for (const s of secrets)
            t.false(r.value.includes(s), `${topic}/${r.partition}@${r.offset} holds a secret`);
      }
    },
  );
};
