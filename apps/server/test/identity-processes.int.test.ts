import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { mailpit } from '@lectern/infra/testing/mailpit';
import { jsonClient } from './http-client.ts';
import { devMailbox } from './dev-mailbox.ts';
import { startServerProcess } from '../src/process.ts';

/** A real server process (`main.ts`) in a data folder of its own (chDB serves one process per folder). */
const startProcess = async (env: Record<string, string>) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-process-'));
  const server = await startServerProcess({ LECTERN_DATA_DIR: dataDir, ...env });
  return {
    url: server.url,
    http: jsonClient(() => server.url),
    output: server.output,
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
};

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
const smtpUrl = requireEngine(test, 'SMTP_URL', 'mailpit (SMTP)');
const mailpitUrl = requireEngine(test, 'MAILPIT_URL', 'mailpit (API)');

if (databaseUrl && smtpUrl && mailpitUrl) {
  test('two identity processes on one PostgreSQL share limits, lockouts and keys', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const a = await startProcess({ DATABASE_URL: db.url, LECTERN_NAMESPACE: `two-${db.name}` });
    // B serves the API only, and verifies tokens through A's JWKS endpoint as any later service would.
    const b = await startProcess({
      DATABASE_URL: db.url,
      LECTERN_NAMESPACE: `two-${db.name}`,
      LECTERN_ROLES: 'api',
      JWT_JWKS_URL: `${a.url}/.well-known/jwks.json`,
    });
    try {
      const ip = { 'x-forwarded-for': '192.0.2.10' };
      const email = `two-${randomUUID().slice(0, 8)}@example.org`;
      const password = 'correct horse battery staple';
      t.is(
        (await a.http('POST', '/api/identity/register', { body: { email, password }, headers: ip })).status,
        201,
      );
      // The mailbox is shared too: B reads what A's worker sent, and B verifies the user A registered.
      const { token } = await devMailbox(b.http).waitFor(email, 'verify-email');
      const verified = await b.http('POST', '/api/identity/verify-email', { body: { token } });
      t.is(verified.status, 200);
      const access = verified.body?.accessToken as string;
      // A token issued by B is accepted by A, and one from A by B (through the JWKS over HTTP).
      t.is(
        (await a.http('PUT', '/api/profile', { token: access, body: { displayName: 'Two' } })).status,
        200,
      );
      const fromA = await a.http('POST', '/api/identity/login', { body: { email, password }, headers: ip });
      t.is(fromA.status, 200);
      t.is((await b.http('GET', '/api/identity/sessions', { token: fromA.body?.accessToken })).status, 200);

      // Phone: a send on A makes B refuse the same phone within 30 s.
      const phone = `+4930${String(Date.now()).slice(-8)}`;
      t.is(
        (await a.http('POST', '/api/identity/phone', { token: access, body: { phone }, headers: ip })).status,
        202,
      );
      const soon = await b.http('POST', '/api/identity/phone', {
        token: access,
        body: { phone },
        headers: ip,
      });
      t.is(soon.status, 429);
      t.is(soon.body?.code, 'phone_code_too_soon');
      // Per IP: 5 sends an hour in total, whichever process they reach (one was spent above, one refused).
      const base = Number(String(Date.now()).slice(-7)) * 10;
      const phones = Array.from({ length: 4 }, (_, i) => `+4931${String(base + i).padStart(8, '0')}`);
      const statuses: number[] = [];
      for (const [i, p] of phones.entries())
        statuses.push(
          (
            await (i % 2 ? b : a).http('POST', '/api/identity/phone', {
              token: access,
              body: { phone: p },
              headers: ip,
            })
          ).status,
        );
      t.deepEqual(statuses, [202, 202, 202, 429], 'the refused send counted too: 1 + 1 + 3 = 5');
      const limited = await b.http('POST', '/api/identity/phone', {
        token: access,
        body: { phone: `+4932${base}` },
        headers: ip,
      });
      t.is(limited.status, 429);
      t.true(Number(limited.headers.get('retry-after')) > 0);

      // Wrong phone codes: attempts on A and B add up to the lock.
      const codePhone = `+4933${String(Date.now()).slice(-8)}`;
      const otherIp = { 'x-forwarded-for': '192.0.2.11' };
      t.is(
        (
          await a.http('POST', '/api/identity/phone', {
            token: access,
            body: { phone: codePhone },
            headers: otherIp,
          })
        ).status,
        202,
      );
      const { code } = await devMailbox(a.http).waitFor(codePhone, 'phone-code');
      const wrong = code === '000000' ? '000001' : '000000';
      const verifyCode = (p: typeof a, c: string) =>
        p.http('POST', '/api/identity/phone/verify', { token: access, body: { phone: codePhone, code: c } });
      t.deepEqual(
        [
          (await verifyCode(a, wrong)).status,
          (await verifyCode(b, wrong)).status,
          (await verifyCode(a, wrong)).status,
          (await verifyCode(b, wrong)).status,
        ],
        [400, 400, 400, 400],
      );
      t.is((await verifyCode(a, wrong)).status, 423);
      t.is((await verifyCode(b, code!)).status, 423);

      // Login: wrong passwords on A and B add up to the account lock.
      const login = (p: typeof a, pw: string) =>
        p.http('POST', '/api/identity/login', {
          body: { email, password: pw },
          headers: { 'x-forwarded-for': `192.0.2.${20 + Math.floor(Math.random() * 200)}` },
        });
      const failures = [];
      for (const p of [a, b, a, b]) failures.push((await login(p, 'wrong password!')).status);
      t.deepEqual(failures, [401, 401, 401, 401]);
      t.is((await login(b, 'wrong password!')).status, 423);
      t.is((await login(a, password)).status, 423);

      // Failed logins per IP: ten on each process make twenty; the next is refused on either.
      const bruteIp = { 'x-forwarded-for': '192.0.2.250' };
      for (let i = 0; i < 20; i++)
        t.is(
          (
            await (i % 2 ? b : a).http('POST', '/api/identity/login', {
              body: { email: `nobody${i}@example.org`, password },
              headers: bruteIp,
            })
          ).status,
          401,
        );
      t.is(
        (
          await a.http('POST', '/api/identity/login', {
            body: { email: 'nobody@example.org', password },
            headers: bruteIp,
          })
        ).status,
        429,
      );
      t.is(
        (
          await b.http('POST', '/api/identity/login', {
            body: { email: 'nobody@example.org', password },
            headers: bruteIp,
          })
        ).status,
        429,
      );
    } finally {
      await a.stop();
      await b.stop();
      await db.drop();
    }
  });

  test('production: messages go out by SMTP; no development routes, and no secret in the log', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const p = await startProcess({
      DATABASE_URL: db.url,
      LECTERN_NAMESPACE: `prod-${db.name}`,
      NODE_ENV: 'production',
      JWT_ISSUER: 'https://id.lectern.test',
      JWT_AUDIENCE: 'lectern-test',
      LECTERN_APP_URL: 'https://app.lectern.test',
      LECTERN_MESSAGE_KEYS: randomBytes(32).toString('base64url'),
      SMTP_URL: smtpUrl!,
      LECTERN_PUBLIC_URL: 'https://api.lectern.test',
      LOG_LEVEL: 'debug',
    });
    try {
      const email = `prod-${randomUUID().slice(0, 8)}@example.org`;
      const password = 'a production passphrase';
      t.is((await p.http('POST', '/api/identity/register', { body: { email, password } })).status, 201);
      t.is(
        (await p.http('POST', '/api/identity/login', { body: { email, password: 'wrong password!!' } }))
          .status,
        401,
      );
      t.is((await p.http('GET', `/api/dev/outbox?to=${encodeURIComponent(email)}`)).status, 404);
      t.is(
        (await p.http('POST', '/api/dev/token', { body: { sub: randomUUID(), roles: ['admin'] } })).status,
        404,
      );
      // Identity drops nothing: the worker sends its messages over SMTP, with links that work.
      const box = mailpit(mailpitUrl!);
      const linkIn = async (query: string, path: string) => {
        const [m] = await box.waitFor(`to:"${email}" ${query}`);
        const text = (await box.message(m!.ID)).Text;
        return new RegExp(`https://app\\.lectern\\.test/${path}#token=([A-Za-z0-9._-]+)`).exec(text)?.[1];
      };
      const verifyToken = await linkIn('subject:"Confirm"', 'verify-email');
      t.truthy(verifyToken, 'the verification link');
      t.is(
        (await p.http('POST', '/api/identity/verify-email', { body: { token: verifyToken } })).status,
        200,
      );
      t.is((await p.http('POST', '/api/identity/password-reset', { body: { email } })).status, 202);
      const resetToken = await linkIn('subject:"password"', 'reset-password');
      t.truthy(resetToken, 'the reset link');
      const reset = await p.http('POST', '/api/identity/password-reset/confirm', {
        body: { token: resetToken, newPassword: 'another production passphrase' },
      });
      t.is(reset.status, 204, JSON.stringify(reset.body));
      t.is((await box.search(`to:"${email}"`)).length, 3, 'welcome, verification and reset: one each');
      const log = p.output();
      t.false(log.includes(password), 'password in the log');
      t.false(log.includes('wrong password!!'), 'attempted password in the log');
      t.false(/#token=|token=[A-Za-z0-9]/.test(log), 'a token in the log');
      t.false(
        log.includes(verifyToken!.split('.')[1]!) || log.includes(resetToken!.split('.')[1]!),
        'a secret in the log',
      );
      t.false(log.includes(email), 'the full address in the log');
    } finally {
      await p.stop();
      await db.drop();
    }
  });
}
