import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchId, throwawayDatabase, type Engines, type ThrowawayDatabase } from './engines.ts';
import { dropKafkaNamespace } from './logs.ts';
import { progress, summarize, type LatencySummary } from './stats.ts';
import { startServerProcess } from '@lectern/server/process';

/** Users the loop rotates through, so no single stream grows past a few dozen events (every PUT reads its stream). */
const USERS = 10;

type LatencyRun = Readonly<{
  iterations: number;
  warmup: number;
  users: number;
  /** PUT sent → GET answered with the new value: the figure the target is about. */
  commandToReadMs: LatencySummary;
  putMs: LatencySummary;
  getMs: LatencySummary;
  /** GETs that answered `X-Consistency: stale` or without the value just written. */
  stale: number;
  caughtUp: number;
  startupSeconds: number;
}>;

const expectOk = async (res: Response, what: string): Promise<void> => {
  if (!res.ok) throw new Error(`${what} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
};

/** Runs the read-your-writes loop over HTTP against a backend in its own process. */
const loop = async (
  env: Record<string, string>,
  dataDir: string,
  plan: { warmup: number; iterations: number },
): Promise<LatencyRun> => {
  const lectern = await startServerProcess({ ...env, LECTERN_DATA_DIR: dataDir });
  const startupSeconds = lectern.startupSeconds;
  try {
    // A development server mints tokens for any user at its development-only route.
    const users = await Promise.all(
      Array.from({ length: USERS }, async () => {
        const sub = randomUUID();
        const res = await fetch(`${lectern.url}/api/dev/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ sub, roles: ['learner'] }),
        });
        return { sub, token: ((await res.json()) as { token: string }).token };
      }),
    );
    const total: number[] = [];
    const puts: number[] = [];
    const gets: number[] = [];
    let stale = 0;
    let caughtUp = 0;
    for (let i = 0; i < plan.warmup + plan.iterations; i++) {
      const user = users[i % users.length]!;
      const displayName = `Learner ${i} ${randomUUID().slice(0, 8)}`;
      const auth = { authorization: `Bearer ${user.token}` };
      const start = performance.now();
      const put = await fetch(`${lectern.url}/api/profile`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ displayName }),
      });
      await expectOk(put, 'PUT /api/profile');
      await put.arrayBuffer();
      const putDone = performance.now();
      const token = put.headers.get('x-consistency-token');
      if (!token) throw new Error('PUT /api/profile sent no X-Consistency-Token');
      const get = await fetch(`${lectern.url}/api/profile`, {
        headers: { ...auth, 'x-consistency-token': token },
      });
      await expectOk(get, 'GET /api/profile');
      const doc = (await get.json()) as { displayName?: string | null };
      const end = performance.now();
      if (i < plan.warmup) continue;
      const fresh = get.headers.get('x-consistency') === 'caught-up' && doc.displayName === displayName;
      if (fresh) caughtUp++;
      else stale++;
      total.push(end - start);
      puts.push(putDone - start);
      gets.push(end - putDone);
    }
    return {
      iterations: plan.iterations,
      warmup: plan.warmup,
      users: USERS,
      commandToReadMs: summarize(total),
      putMs: summarize(puts),
      getMs: summarize(gets),
      stale,
      caughtUp,
      startupSeconds,
    };
  } finally {
    await lectern.stop();
  }
};

const attempt = async (
  label: string,
  run: () => Promise<LatencyRun>,
): Promise<LatencyRun | { error: string }> => {
  try {
    const r = await run();
    progress(
      `latency ${label}: p50 ${r.commandToReadMs.p50} ms, p99 ${r.commandToReadMs.p99} ms, stale ${r.stale}/${r.iterations}`,
    );
    return r;
  } catch (error) {
    progress(`latency ${label} failed: ${(error as Error).stack ?? String(error)}`);
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
};

/**
 * Command → read-model latency over HTTP: PUT /api/profile, then GET
 * /api/profile with the PUT's consistency token, timed until the GET returns
 * the value just written. (a) Embedded: PGlite and the SQL log in a fresh data
 * directory. (b) PostgreSQL (fresh database) and Kafka (LECTERN_NAMESPACE of
 * its own).
 */
export const latencySection = async (engines: Engines, plan: { warmup: number; iterations: number }) => {
  const result: Record<string, unknown> = {};

  {
    const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-'));
    try {
      result.embedded = await attempt('embedded (pglite + sql log)', () => loop({}, dataDir, plan));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  if (engines.databaseUrl && engines.kafkaBrokers) {
    const brokers = engines.kafkaBrokers;
    const url = engines.databaseUrl;
    // Its own namespace: every topic and consumer group startLectern makes
    // on the shared Kafka is the bench's, and is deleted afterwards.
    const namespace = benchId();
    const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-'));
    let db: ThrowawayDatabase | null = null;
    try {
      db = await throwawayDatabase(url);
      const env = { DATABASE_URL: db.url, KAFKA_BROKERS: brokers.join(','), LECTERN_NAMESPACE: namespace };
      result.postgresKafka = await attempt('postgres + kafka', () => loop(env, dataDir, plan));
    } finally {
      await dropKafkaNamespace(brokers, namespace).catch((e: unknown) =>
        progress(`could not drop kafka topics ${namespace}.*: ${String(e)}`),
      );
      await db?.drop().catch((e: unknown) => progress(`could not drop ${db?.name}: ${String(e)}`));
      await rm(dataDir, { recursive: true, force: true });
    }
  } else
    result.postgresKafka = {
      skipped: !engines.databaseUrl ? 'DATABASE_URL not set' : 'KAFKA_BROKERS not set',
    };

  return {
    method:
      `the server as its own process (node apps/server/src/main.ts, LECTERN_DATA_DIR a fresh temp dir), ready on /readyz; per iteration: PUT /api/profile ` +
      `{displayName: <new value>} then GET /api/profile with X-Consistency-Token from the PUT, timed from PUT sent until the GET body ` +
      `is read; stale = X-Consistency not caught-up or an old value; ${plan.warmup} warm-up iterations not counted; ` +
      `${USERS} learner tokens signed with the data directory's development keys, used round robin; HTTP keep-alive (fetch)`,
    ...result,
  };
};
