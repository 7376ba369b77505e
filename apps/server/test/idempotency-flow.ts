import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { decodeJwt } from 'jose';
import { jsonClient, problem } from './http-client.ts';
import { devMailbox } from './dev-mailbox.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/** Listed in LECTERN_BOOTSTRAP_ADMINS by the test file: verifying it makes an admin. */
export const bootstrapAdmin = 'boss@idempotency.example.org';

/**
 * Idempotency keys as a stranger would use them (ARCHITECTURE rule 9), over
 * HTTP against a whole backend: each attack that worked while event ids came
 * from client headers, and what a client that retries honestly gets instead.
 */
export const idempotencyFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const http = jsonClient(async () => (await lectern()).url);
  let ipCounter = 0;
  const newIp = () => `192.0.2.${++ipCounter}`;
  const newEmail = () => `i-${randomUUID().slice(0, 8)}@example.org`;
  const password = 'correct horse battery staple';
  const keyed = (key: string, ip: string) => ({
    'idempotency-key': key,
    'x-request-id': key,
    'x-forwarded-for': ip,
  });

  const mailbox = devMailbox(http);
  const registerAndVerify = async (email = newEmail()) => {
    const ip = newIp();
    const reg = await http('POST', '/api/identity/register', {
      body: { email, password },
      headers: { 'x-forwarded-for': ip },
    });
    if (reg.status !== 201) throw new Error(`register: ${reg.status}`);
    const verified = await http('POST', '/api/identity/verify-email', {
      body: { token: (await mailbox.waitFor(email, 'verify-email')).token },
    });
    if (verified.status !== 200) throw new Error(`verify: ${verified.status}`);
    return { email, userId: reg.body!.userId as string, tokens: verified.body! };
  };

  test.serial(
    `${name}: a reused X-Request-Id or key cannot make one user's verification mail another's`,
    async (t) => {
      const ip = newIp();
      const K = `k-${randomUUID()}`;
      const register = (email: string, headers: Record<string, string>) =>
        http('POST', '/api/identity/register', { body: { email, password }, headers });
      const boss = await register(bootstrapAdmin, keyed(K, ip));
      t.is(boss.status, 201);
      // The same request again is the same registration, replayed: one user, one mail.
      const again = await register(bootstrapAdmin, keyed(K, ip));
      t.is(again.status, 201);
      t.is(again.headers.get('idempotent-replayed'), 'true');
      t.is(again.body?.userId, boss.body?.userId);
      // One verification mail and one welcome: the replay decided nothing, so nothing more is sent.
      t.is((await mailbox.waitFor(bootstrapAdmin, 'verify-email')).count, 1);
      t.is((await mailbox.waitFor(bootstrapAdmin, 'welcome')).count, 1);
      // Another address under the same key is refused, not steered onto the boss's user.
      const attacker = newEmail();
      problem(t, await register(attacker, keyed(K, ip)), 422, 'idempotency_key_reused');
      // The same X-Request-Id alone is no key at all: another user.
      const plain = await register(attacker, { 'x-request-id': K, 'x-forwarded-for': ip });
      t.is(plain.status, 201, JSON.stringify(plain.body));
      t.not(plain.body?.userId, boss.body?.userId);
      t.is(
        (
          await http('POST', '/api/identity/verify-email/resend', {
            body: { email: attacker },
            headers: { 'x-forwarded-for': ip },
          })
        ).status,
        202,
      );
      // The registration's mail, then the resent one.
      const { token } = await mailbox.waitFor(attacker, 'verify-email', 2);
      t.true(token?.startsWith(`${plain.body?.userId}.`), 'the resent token is for the attacker’s own user');
      const verified = await http('POST', '/api/identity/verify-email', { body: { token } });
      t.is(verified.status, 200);
      const claims = decodeJwt(verified.body?.accessToken);
      t.is(claims.sub, plain.body?.userId);
      t.deepEqual(claims.roles, ['learner']);
      problem(
        t,
        await http('POST', '/api/identity/login', {
          body: { email: bootstrapAdmin, password },
          headers: { 'x-forwarded-for': newIp() },
        }),
        403,
        'email_not_verified',
      );
    },
  );

  test.serial(`${name}: neither a key nor a request id lets a password guess skip the count`, async (t) => {
    const { email } = await registerAndVerify();
    const ip = newIp();
    const K = `k-${randomUUID()}`;
    const login = (pw: string, headers: Record<string, string>) =>
      http('POST', '/api/identity/login', { body: { email, password: pw }, headers });
    // A 401 identifies no one, so it is not kept under the key: each guess under it runs and is counted.
    for (let i = 0; i < 2; i++) {
      const guess = await login('wrong guess 0', keyed(K, ip));
      problem(t, guess, 401, 'invalid_credentials');
      t.is(guess.headers.get('idempotent-replayed'), null);
    }
    problem(t, await login('wrong guess 1', keyed(K, ip)), 401, 'invalid_credentials');
    // Guesses sharing one X-Request-Id are each counted too: 3 + 2 = 5 wrong passwords lock the account.
    problem(
      t,
      await login('other guess 0', { 'x-request-id': K, 'x-forwarded-for': ip }),
      401,
      'invalid_credentials',
    );
    problem(
      t,
      await login('other guess 1', { 'x-request-id': K, 'x-forwarded-for': ip }),
      423,
      'account_locked',
    );
    problem(t, await login(password, keyed(K, ip)), 423, 'account_locked');
    problem(t, await login(password, { 'x-forwarded-for': ip }), 423, 'account_locked');
  });

  test.serial(
    `${name}: phone codes: every wrong code is counted, and one number is never verified for two accounts`,
    async (t) => {
      const a = await registerAndVerify();
      const b = await registerAndVerify();
      const phone = `+4916${String(Date.now()).slice(-8)}`;
      const ip = newIp();
      const [K1, K2] = [`k-${randomUUID()}`, `k-${randomUUID()}`];
      const send = (token: string, key: string) =>
        http('POST', '/api/identity/phone', { token, body: { phone }, headers: keyed(key, ip) });
      const verify = (token: string, code: string, headers: Record<string, string>) =>
        http('POST', '/api/identity/phone/verify', { token, body: { phone, code }, headers });
      t.is((await send(a.tokens.accessToken, K1)).status, 202);
      const { code } = await mailbox.waitFor(phone, 'phone-code');
      t.is((await verify(a.tokens.accessToken, code!, keyed(K2, ip))).status, 200);
      // B under A's very keys: another caller, so another command, and the number is A's.
      problem(t, await send(b.tokens.accessToken, K1), 409, 'phone_taken');
      const stolen = await verify(b.tokens.accessToken, code!, keyed(K2, ip));
      t.not(stolen.status, 200, JSON.stringify(stolen.body));
      const me = await http('GET', '/api/identity/me', { token: b.tokens.accessToken });
      t.not(me.body?.phone, phone);

      // Five wrong codes under one request id lock the phone.
      const other = `+4915${String(Date.now()).slice(-8)}`;
      t.is(
        (
          await http('POST', '/api/identity/phone', {
            token: b.tokens.accessToken,
            body: { phone: other },
            headers: { 'x-forwarded-for': newIp() },
          })
        ).status,
        202,
      );
      const right = (await mailbox.waitFor(other, 'phone-code')).code!;
      const wrong = right === '000000' ? '000001' : '000000';
      const same = { 'x-request-id': K1 };
      const guess = () =>
        http('POST', '/api/identity/phone/verify', {
          token: b.tokens.accessToken,
          body: { phone: other, code: wrong },
          headers: same,
        });
      for (let i = 0; i < 4; i++) problem(t, await guess(), 400, 'phone_code_wrong');
      problem(t, await guess(), 423, 'phone_locked');
    },
  );

  test.serial(
    `${name}: refresh: a retried rotation is replayed, never rotated twice; reuse under a new key revokes the family`,
    async (t) => {
      const { tokens } = await registerAndVerify();
      const ip = newIp();
      const K = `k-${randomUUID()}`;
      const refresh = (refreshToken: string, headers: Record<string, string>) =>
        http('POST', '/api/identity/refresh', { body: { refreshToken }, headers });
      const first = await refresh(tokens.refreshToken, keyed(K, ip));
      t.is(first.status, 200);
      const retried = await refresh(tokens.refreshToken, keyed(K, ip));
      t.is(retried.status, 200);
      t.is(retried.body?.refreshToken, first.body?.refreshToken, 'the lost answer, not a new rotation');
      const second = await refresh(first.body?.refreshToken, keyed(`k-${randomUUID()}`, ip));
      t.is(second.status, 200);
      // The first token again, under a key of its own, is reuse: the whole family goes.
      problem(
        t,
        await refresh(tokens.refreshToken, keyed(`k-${randomUUID()}`, ip)),
        401,
        'refresh_token_reused',
      );
      problem(
        t,
        await refresh(second.body?.refreshToken, keyed(`k-${randomUUID()}`, ip)),
        401,
        'refresh_token_invalid',
      );
    },
  );

  test.serial(
    `${name}: profile: a reused key with another body is refused; a retried If-Match write gets its own answer, not 412`,
    async (t) => {
      const { tokens } = await registerAndVerify();
      const token = tokens.accessToken;
      const K = `k-${randomUUID()}`;
      const first = await http('PUT', '/api/profile', {
        token,
        body: { displayName: 'First' },
        headers: { 'idempotency-key': K },
      });
      t.is(first.status, 200);
      problem(
        t,
        await http('PUT', '/api/profile', {
          token,
          body: { displayName: 'Second' },
          headers: { 'idempotency-key': K },
        }),
        422,
        'idempotency_key_reused',
      );
      const read = await http('GET', '/api/profile', {
        token,
        headers: { 'x-consistency-token': first.headers.get('x-consistency-token')! },
      });
      t.is(read.body?.displayName, 'First');

      const etag = first.headers.get('etag')!;
      const K2 = `k-${randomUUID()}`;
      const put = () =>
        http('PUT', '/api/profile', {
          token,
          body: { bio: 'Retried' },
          headers: { 'idempotency-key': K2, 'if-match': etag },
        });
      const written = await put();
      t.is(written.status, 200);
      const retried = await put();
      t.is(retried.status, 200, 'the client learns its own write went through');
      t.is(retried.headers.get('etag'), written.headers.get('etag'));
      t.is(retried.headers.get('x-consistency-token'), written.headers.get('x-consistency-token'));
      t.deepEqual(retried.body, written.body);
      // Someone else's write in between is still a 412 for a new request under the old ETag.
      problem(
        t,
        await http('PUT', '/api/profile', { token, body: { bio: 'Stale' }, headers: { 'if-match': etag } }),
        412,
        'revision_mismatch',
      );
    },
  );
};
