import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, PASSWORD_HASH_COST } from '@lectern/infra/auth/passwords';
import { benchId, throwawayDatabase, type Engines, type ThrowawayDatabase } from './engines.ts';
import { dropKafkaNamespace } from './logs.ts';
import { startServerProcess } from '@lectern/server/process';
import { median, perSecond, progress, round, summarize, type LatencySummary } from './stats.ts';

type Plan = Readonly<{ users: number; concurrency: number; warmupMs: number; measureMs: number }>;
type LoadResult = Readonly<{
  requests: number;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  errors: number;
}>;

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null };
};

/**
 * A closed loop: `concurrency` workers each send one request after another
 * for warmup + measure; only the measured window counts.
 */
const closedLoop = async (
  plan: Plan,
  request: (worker: number, i: number) => Promise<boolean>,
): Promise<LoadResult> => {
  const samples: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const end = measureFrom + plan.measureMs;
  await Promise.all(
    Array.from({ length: plan.concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        const ok = await request(worker, i);
        if (t < measureFrom) continue;
        if (ok) samples.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  return {
    requests: samples.length,
    requestsPerSecond: perSecond(samples.length, plan.measureMs),
    latencyMs: summarize(samples),
    errors,
  };
};

const run = async (env: Record<string, string>, plan: Plan) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-identity-'));
  const server = await startServerProcess({ ...env, LECTERN_DATA_DIR: dataDir });
  try {
    const password = 'bench passphrase 0123456789';
    // 1. Users, registered and verified through the development mailbox (the worker fills it after the answer).
    const verificationToken = async (email: string): Promise<string> => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
        const box = await fetch(`${server.url}/api/dev/outbox?to=${encodeURIComponent(email)}`).then(
          (r) => r.json() as Promise<{ items: { template: string; text: string }[] }>,
        );
        const mail = box.items.find((m) => m.template === 'verify-email');
        const token = mail && /#token=([A-Za-z0-9._-]+)/.exec(mail.text)?.[1];
        if (token) return token;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no verification mail for ${email}`);
    };
    const users = await Promise.all(
      Array.from({ length: plan.users }, async (_, i) => {
        const email = `bench-${i}-${randomUUID().slice(0, 8)}@example.org`;
        const ip = { 'x-forwarded-for': `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}` };
        const reg = await post(`${server.url}/api/identity/register`, { email, password }, ip);
        if (reg.status !== 201) throw new Error(`register ${reg.status}: ${JSON.stringify(reg.body)}`);
        const token = await verificationToken(email);
        const verified = await post(`${server.url}/api/identity/verify-email`, { token });
        if (verified.status !== 200) throw new Error(`verify ${verified.status}`);
        return { email, refreshToken: verified.body!.refreshToken as string };
      }),
    );
    // 2. Logins: users in turn (successful logins count toward no limit).
    const login = await closedLoop(plan, async (worker, i) => {
      const user = users[(worker + i * plan.concurrency) % users.length]!;
      const r = await post(`${server.url}/api/identity/login`, { email: user.email, password });
      return r.status === 200;
    });
    progress(`identity login: ${login.requestsPerSecond}/s, p99 ${login.latencyMs.p99} ms`);
    // 3. Refreshes: each worker rotates its own chain, one token after the other.
    const chains = users.slice(0, plan.concurrency).map((u) => u.refreshToken);
    const refresh = await closedLoop(plan, async (worker) => {
      const r = await post(`${server.url}/api/identity/refresh`, { refreshToken: chains[worker] });
      if (r.status !== 200) return false;
      chains[worker] = r.body!.refreshToken as string;
      return true;
    });
    progress(`identity refresh: ${refresh.requestsPerSecond}/s, p99 ${refresh.latencyMs.p99} ms`);
    return {
      concurrency: plan.concurrency,
      users: plan.users,
      startupSeconds: server.startupSeconds,
      login,
      refresh,
    };
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
};

/**
 * Identity over HTTP against a server in its own process: login (one scrypt
 * verification each: the figure is bound by the hash cost, stated alongside)
 * and refresh (a rotation: read the family, append one event, sign a JWT).
 */
export const identitySection = async (engines: Engines, plan: Plan) => {
  const hashMs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    await hashPassword('bench passphrase 0123456789');
    hashMs.push(performance.now() - t);
  }
  const result: Record<string, unknown> = {
    passwordHash: {
      algorithm: 'scrypt',
      ...PASSWORD_HASH_COST,
      memoryMiB: (128 * PASSWORD_HASH_COST.N * PASSWORD_HASH_COST.r) / 2 ** 20,
      medianMs: round(median(hashMs), 1),
    },
  };
  try {
    result.embedded = await run({}, plan);
  } catch (error) {
    result.embedded = { error: String(error) };
  }
  if (engines.databaseUrl && engines.kafkaBrokers) {
    const namespace = benchId();
    let db: ThrowawayDatabase | null = null;
    try {
      db = await throwawayDatabase(engines.databaseUrl);
      result.postgresKafka = await run(
        { DATABASE_URL: db.url, KAFKA_BROKERS: engines.kafkaBrokers.join(','), LECTERN_NAMESPACE: namespace },
        plan,
      );
    } catch (error) {
      result.postgresKafka = { error: String(error) };
    } finally {
      await dropKafkaNamespace(engines.kafkaBrokers, namespace).catch(() => {});
      await db?.drop().catch(() => {});
    }
  }
  return result;
};
