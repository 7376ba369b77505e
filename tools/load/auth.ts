import { randomUUID } from 'node:crypto';
import { waitUntil } from '../src/bench/stats.ts';
import { client, pacedRun, recorder, type Client, type Plan } from './measure.ts';
import { errorRateBelow, p95Within } from './thresholds.ts';

/**
 * Iterations per second: each spends two scrypt hashes (register and login,
 * about 60 ms each on our 2-core machine), so 5/s keeps 2 cores under
 * two thirds busy with the rest of the server's work beside them.
 */
export const AUTH_RATE = 5;
export const AUTH_QUICK_RATE = 2;

/** The identity routes of an iteration: its latency target is the identity group's. */
const IDENTITY_STEPS = ['register', 'verify', 'login', 'refresh'] as const;
/** The wait for the verification mail is no identity request, but a mail that never comes is an error. */
const STEPS = [...IDENTITY_STEPS, 'mail'] as const;
/** The notifications worker sends after registration has answered; this long it may take. */
const MAIL_PATIENCE_MS = 60_000;
const PASSWORD = 'load test passphrase 0123456789';

/**
 * A client address of its own per registration, from 198.18.0.0/15 (set
 * aside for benchmarks, RFC 2544): registrations are limited per address,
 * and the server trusts X-Forwarded-For from loopback, where the load comes from.
 */
const address = (i: number): string => `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;

/** The token of the verification mail to `email`, once the development mailbox has it (bounded). */
const verificationToken = async (http: Client, email: string): Promise<string> => {
  let token: string | undefined;
  await waitUntil(
    `the verification mail to ${email}`,
    async () => {
      const box = await http('GET', `/api/dev/outbox?to=${encodeURIComponent(email)}`);
      const mail = (box.body.items as { template: string; text: string }[]).find(
        (m) => m.template === 'verify-email',
      );
      token = mail && /#token=([A-Za-z0-9._-]+)/.exec(mail.text)?.[1];
      return token !== undefined;
    },
    { timeoutMs: MAIL_PATIENCE_MS, intervalMs: 50 },
  );
  return token!;
};

/**
 * auth: each iteration is a new user's first visit: register, verify the
 * address with the token of the mail (read from the development mailbox,
 * as the e2e flows do: a login before it is refused), log in with the
 * password, and refresh the session once. The register step is timed from
 * when the iteration was due; the others from their own send.
 */
export const authScenario = async (url: string, plan: Plan) => {
  const http = client(url);
  const rec = recorder();
  const run = randomUUID().slice(0, 8);
  const measured = await pacedRun(
    plan,
    rec,
    async (slot, i) => {
      const email = `load-${run}-${i}@example.org`;
      const headers = { 'x-forwarded-for': address(i) };
      await rec.time('register', slot, slot.due, () =>
        http('POST', '/api/identity/register', { body: { email, password: PASSWORD }, headers, expect: 201 }),
      );
      let sent = performance.now();
      const token = await rec.time('mail', slot, sent, () => verificationToken(http, email));
      sent = performance.now();
      await rec.time('verify', slot, sent, () =>
        http('POST', '/api/identity/verify-email', { body: { token }, headers }),
      );
      sent = performance.now();
      const login = await rec.time('login', slot, sent, () =>
        http('POST', '/api/identity/login', { body: { email, password: PASSWORD }, headers }),
      );
      sent = performance.now();
      await rec.time('refresh', slot, sent, () =>
        http('POST', '/api/identity/refresh', {
          body: { refreshToken: login.body.refreshToken },
          headers,
        }),
      );
    },
    STEPS,
  );
  return {
    ...measured,
    thresholds: [p95Within('identity', rec.pooled(IDENTITY_STEPS).p95), errorRateBelow(measured.errorRate)],
  };
};
