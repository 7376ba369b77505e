import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRow } from '@lectern/analytics-projection-events/schema';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { DAY_MS, dataPlan, generateEvents } from './analytics-data.ts';
import { benchId, throwawayDatabase, type Engines, type ThrowawayDatabase } from './engines.ts';
import { dropKafkaNamespace } from './logs.ts';
import { startServerProcess, type ServerProcess } from '@lectern/server/process';
import { perSecond, progress, round, sleep, summarize, type LatencySummary } from './stats.ts';

export type IngestPlan = Readonly<{
  /** Concurrent HTTP clients, each sending one batch after another. */
  clients: number;
  /** Events per request (the endpoint takes at most 1000). */
  batchEvents: number;
  warmupMs: number;
  measureMs: number;
  /** How long to wait after the clients stop for the store to hold every accepted event. */
  drainTimeoutMs: number;
  /** Events the generator can supply at most: the clients stop early if they use them up. */
  maxEvents: number;
}>;

const INGEST_PATH = '/api/analytics/ingest';
const INGEST_KEY_HEADER = 'x-ingest-key';

/**
 * Request bodies of `batchEvents` events from the bench's generator (no
 * copies: every accepted event must show up once), with times in the last
 * week so that the endpoint's time window takes them. Built as text from
 * the rows: the payload is JSON text already, and this is cheaper than
 * parsing it to serialize it again, which matters on a 2-core machine whose
 * other core serves the requests.
 */
export const ingestBodies = (
  plan: Pick<IngestPlan, 'batchEvents' | 'maxEvents'>,
  now: number,
): Iterator<{ body: string; events: number }> => {
  const midnight = Math.floor(now / DAY_MS) * DAY_MS;
  const rows = generateEvents(
    dataPlan(plan.maxEvents, {
      seed: 4242,
      days: 7,
      startMs: midnight - 8 * DAY_MS,
      duplicateRate: 0,
      batchRows: plan.batchEvents,
    }),
  );
  const event = (r: EventRow): string =>
    `{"id":"${r.event_id}","type":${JSON.stringify(r.type)},"userId":"${r.user_id}",` +
    `"time":${r.occurred_at},"source":${JSON.stringify(r.source)},"payload":${r.payload}}`;
  return {
    next() {
      const batch = rows.next();
      if (batch.done) return { done: true, value: undefined };
      return {
        done: false,
        value: { body: `{"events":[${batch.value.map(event).join(',')}]}`, events: batch.value.length },
      };
    },
  };
};

type ClientRun = {
  requests: number;
  accepted: number;
  acceptedInWindow: number;
  errors: Record<string, number>;
  latencies: number[];
  exhausted: boolean;
  /** The first refusal's status and body, to say why when nothing was accepted. */
  firstError: string | null;
};

/**
 * The closed loop: `clients` workers POST one batch after another until
 * the window ends. A 429 or 503 is retried with the same body after its
 * Retry-After (the events are not lost, as a real client would not lose
 * them). Accepted counts come from the response's `accepted`, falling back
 * to the batch size on a 2xx without one.
 */
const sendLoop = async (
  server: ServerProcess,
  key: string,
  plan: IngestPlan,
  bodies: Iterator<{ body: string; events: number }>,
  marks: { measureFrom: number; end: number },
): Promise<ClientRun> => {
  const run: ClientRun = {
    requests: 0,
    accepted: 0,
    acceptedInWindow: 0,
    errors: {},
    latencies: [],
    exhausted: false,
    firstError: null,
  };
  const url = `${server.url}${INGEST_PATH}`;
  const headers = { 'content-type': 'application/json', [INGEST_KEY_HEADER]: key };
  await Promise.all(
    Array.from({ length: plan.clients }, async () => {
      while (performance.now() < marks.end) {
        const next = bodies.next();
        if (next.done) {
          run.exhausted = true;
          return;
        }
        for (let attempt = 0; ; attempt++) {
          const t = performance.now();
          const res = await fetch(url, { method: 'POST', headers, body: next.value.body });
          const text = await res.text();
          run.requests++;
          if (res.ok) {
            const accepted = (JSON.parse(text) as { accepted?: unknown }).accepted;
            const n = typeof accepted === 'number' ? accepted : next.value.events;
            run.accepted += n;
            if (t >= marks.measureFrom) {
              run.acceptedInWindow += n;
              run.latencies.push(performance.now() - t);
            }
            break;
          }
          run.errors[res.status] = (run.errors[res.status] ?? 0) + 1;
          if ((res.status === 429 || res.status === 503) && attempt < 20) {
            await sleep(Math.min(5000, 1000 * Number(res.headers.get('retry-after') ?? 1)));
            continue;
          }
          if (run.firstError === null) {
            run.firstError = `${res.status} ${text.slice(0, 300)}`;
            progress(`analytics ingest: ${run.firstError}`);
          }
          break;
        }
      }
    }),
  );
  return run;
};

/** Sum of a counter in Prometheus text, over the series whose labels include `labels`. */
const promCounter = (text: string, name: string, labels: string): number => {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
};

/** How many telemetry events the profile's analytics store holds (distinct ids), as the bench can see it. */
type StoreCount = () => Promise<number>;

export type IngestRun = Readonly<{
  clients: number;
  batchEvents: number;
  startupSeconds: number;
  measureSeconds: number;
  requests: number;
  /** Events accepted over the whole run (warm-up included): what the store must end up holding. */
  accepted: number;
  /** Accepted per second over HTTP in the measured window. */
  acceptedPerSecond: number;
  requestLatencyMs: LatencySummary;
  errors: Record<string, number>;
  generatorExhausted: boolean;
  /** What the store held when the window opened and when the clients stopped. */
  inStoreAtWindowStart: number;
  inStoreAtClientsStop: number;
  /** Accepted but not yet in the store when the clients stopped: the lag at the end, in events. */
  lagEventsAtStop: number;
  /** From the clients' stop until the store held every accepted event (null: not within the drain timeout). */
  drainSeconds: number | null;
  /** What the store held at the last count: all that was accepted, unless the drain timed out. */
  inStoreAtEnd: number;
  /**
   * Events that reached the store from the window's start until the last
   * count (when it held all, or the drain timed out), per second.
   */
  endToEndPerSecond: number;
  /** How the store was counted. */
  counted: string;
  /** Distinct telemetry ids in the store after the server stopped (embedded: chDB opened afterwards). */
  verifiedInStore: number | null;
  /** Whether that is exactly what was accepted: nothing lost, nothing counted twice. */
  verified: boolean | null;
  /** CPU seconds this bench process (the clients) used in the window: the machine has 2 cores. */
  clientCpuSeconds: number;
}>;

/**
 * One profile: the server in its own process, `clients` closed-loop
 * clients, then a wait until the store holds what was accepted.
 */
const ingestRun = async (
  env: Record<string, string>,
  plan: IngestPlan,
  count: (server: ServerProcess) => StoreCount,
  counted: string,
  afterStop: (dataDir: string) => Promise<number | null>,
): Promise<IngestRun> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-ingest-'));
  const key = randomBytes(24).toString('base64url');
  const digest = createHash('sha256').update(key).digest('hex');
  let server: ServerProcess | null = null;
  try {
    server = await startServerProcess({ ...env, ANALYTICS_INGEST_KEYS: digest, LECTERN_DATA_DIR: dataDir });
    const startupSeconds = server.startupSeconds;
    const stored = count(server);
    const bodies = ingestBodies(plan, Date.now());
    const t0 = performance.now();
    const marks = { measureFrom: t0 + plan.warmupMs, end: t0 + plan.warmupMs + plan.measureMs };
    let inStoreAtWindowStart = 0;
    const windowStart = (async () => {
      await sleep(plan.warmupMs);
      inStoreAtWindowStart = await stored();
    })();
    const cpu0 = process.cpuUsage();
    const run = await sendLoop(server, key, plan, bodies, marks);
    const cpu = process.cpuUsage(cpu0);
    const stoppedAt = performance.now();
    await windowStart;
    if (run.accepted === 0)
      throw new Error(
        `no event was accepted in ${run.requests} requests (${JSON.stringify(run.errors)}): ${run.firstError}`,
      );
    const inStoreAtClientsStop = await stored();
    progress(
      `analytics ingest: ${run.accepted} accepted (${perSecond(run.acceptedInWindow, plan.measureMs)}/s in the window), ${inStoreAtClientsStop} in the store at stop`,
    );
    let held = inStoreAtClientsStop;
    while (held < run.accepted && performance.now() - stoppedAt < plan.drainTimeoutMs) {
      await sleep(500);
      held = await stored();
    }
    const lastCountAt = performance.now();
    const reachedAt = held >= run.accepted ? lastCountAt : null;
    const stopping = server;
    server = null;
    await stopBounded(stopping);
    const verifiedInStore = await afterStop(dataDir).catch((e: unknown) => {
      progress(`analytics ingest: could not count the store after the stop: ${String(e)}`);
      return null;
    });
    return {
      clients: plan.clients,
      batchEvents: plan.batchEvents,
      startupSeconds,
      measureSeconds: round(plan.measureMs / 1000, 1),
      requests: run.requests,
      accepted: run.accepted,
      acceptedPerSecond: perSecond(run.acceptedInWindow, plan.measureMs),
      requestLatencyMs: summarize(run.latencies),
      errors: run.errors,
      generatorExhausted: run.exhausted,
      inStoreAtWindowStart,
      inStoreAtClientsStop,
      lagEventsAtStop: run.accepted - inStoreAtClientsStop,
      drainSeconds: reachedAt === null ? null : round((reachedAt - stoppedAt) / 1000, 2),
      inStoreAtEnd: held,
      endToEndPerSecond: perSecond(held - inStoreAtWindowStart, lastCountAt - marks.measureFrom),
      counted,
      verifiedInStore,
      verified: verifiedInStore === null ? null : verifiedInStore === run.accepted,
      clientCpuSeconds: round((cpu.user + cpu.system) / 1e6, 2),
    };
  } finally {
    if (server) await stopBounded(server);
    await rm(dataDir, { recursive: true, force: true });
  }
};

/** Stops the server (it inserts what its projector holds first), waiting a minute at most: the bench must end. */
const stopBounded = async (server: ServerProcess): Promise<void> => {
  const stopped = await Promise.race([server.stop().then(() => true), sleep(60_000).then(() => false)]);
  if (!stopped) progress('analytics ingest: the server did not stop within 60 s after SIGTERM; left behind');
};

const telemetryIds = async (store: AnalyticsStore): Promise<number> => {
  const [row] = await store.query<{ n: number }>(
    ch`SELECT uniqExact(event_id) AS n FROM ${store.table('events')} WHERE kind = 'telemetry'`,
  );
  return row?.n ?? 0;
};

const attempt = async <T>(label: string, fn: () => Promise<T>): Promise<T | { error: string }> => {
  try {
    return await fn();
  } catch (error) {
    progress(`analytics ingest ${label} failed: ${(error as Error).stack ?? String(error)}`);
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
};

/**
 * Sustained ingest, HTTP → log → analytics store, on two profiles, each a
 * server process of its own:
 * - `clickhouse`: PostgreSQL (a throwaway database), Kafka (a namespace of
 *   its own) and the ClickHouse server (a `bench_<random>` database in
 *   CLICKHOUSE_URL), counted with `uniqExact(event_id)` as it fills;
 * - `embedded`: PGlite, the SQL log and chDB in the server's process, which
 *   the bench cannot query while the server runs (chDB is in process), so
 *   progress is the projector's applied counter on /metrics, and the chDB
 *   folder is opened and counted after the server stopped.
 */
export const ingestSection = async (engines: Engines, clickhouseUrl: string | null, plan: IngestPlan) => {
  const result: Record<string, unknown> = {
    method:
      `the server as its own process; ${plan.clients} closed-loop clients POST ${INGEST_PATH} with ${plan.batchEvents} generated events ` +
      `per request (X-Ingest-Key), ${plan.warmupMs / 1000} s warm-up then ${plan.measureMs / 1000} s measured; acceptedPerSecond = events the responses ` +
      `accepted in the window / window; then the bench waits (at most ${plan.drainTimeoutMs / 1000} s) until the store holds every accepted event: ` +
      `endToEndPerSecond = events that reached the store from the window's start until then / that time`,
    target: '>= 100000 events/s (old bar 5000/s)',
  };

  if (engines.databaseUrl && engines.kafkaBrokers && clickhouseUrl) {
    const namespace = benchId();
    const database = benchId();
    const chUrl = new URL(clickhouseUrl);
    chUrl.pathname = `/${database}`;
    const store = clickhouseStore({ url: chUrl.toString() });
    let db: ThrowawayDatabase | null = null;
    try {
      db = await throwawayDatabase(engines.databaseUrl);
      const env = {
        DATABASE_URL: db.url,
        KAFKA_BROKERS: engines.kafkaBrokers.join(','),
        LECTERN_NAMESPACE: namespace,
        CLICKHOUSE_URL: chUrl.toString(),
      };
      result.clickhouse = await attempt('postgres + kafka + clickhouse', () =>
        ingestRun(
          env,
          plan,
          () => () => telemetryIds(store),
          'uniqExact(event_id) of telemetry in ClickHouse',
          () => telemetryIds(store),
        ),
      );
    } finally {
      await store
        .exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`)
        .catch((e: unknown) => progress(`could not drop ClickHouse database ${database}: ${String(e)}`));
      await store.close();
      await dropKafkaNamespace(engines.kafkaBrokers, namespace).catch((e: unknown) =>
        progress(`could not drop kafka topics ${namespace}.*: ${String(e)}`),
      );
      await db?.drop().catch((e: unknown) => progress(`could not drop ${db?.name}: ${String(e)}`));
    }
  } else
    result.clickhouse = {
      skipped: `${[
        engines.databaseUrl ? null : 'DATABASE_URL',
        engines.kafkaBrokers ? null : 'KAFKA_BROKERS',
        clickhouseUrl ? null : 'CLICKHOUSE_URL',
      ]
        .filter(Boolean)
        .join(', ')} not set`,
    };

  result.embedded = await attempt('embedded', () =>
    ingestRun(
      {},
      plan,
      (server) => async () => {
        const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
        return promCounter(text, 'lectern_projection_applied_events_total', 'projection="analytics"');
      },
      'lectern_projection_applied_events_total{projection="analytics"} on /metrics (rows per insert, distinct within an insert)',
      async (dataDir) => {
        // The folder the server used (`<LECTERN_DATA_DIR>/chdb`), free now that it has stopped.
        const store = chdbStore({ path: join(dataDir, 'chdb') });
        try {
          return await telemetryIds(store);
        } finally {
          await store.close();
        }
      },
    ),
  );
  return result;
};
