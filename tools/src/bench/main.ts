import { cpus, loadavg, totalmem } from 'node:os';
import { clickhouseVersion } from './analytics-reports.ts';
import { appendSection } from './append.ts';
import { contentSection } from './content.ts';
import { emmettSection } from './emmett.ts';
import { hotStreamsSection } from './hot-streams.ts';
import { enginesFromEnv, packageVersion, pgliteVersion, postgresVersion, type Engines } from './engines.ts';
import { kafkaVersion } from './logs.ts';
import { latencySection } from './latency.ts';
import { mediaSection } from './media.ts';
import { identitySection } from './identity.ts';
import { notificationsSection } from './notifications.ts';
import { projectionSection } from './projection.ts';
import { realtimeSection } from './realtime.ts';
import { relaySection } from './relay.ts';
import { progress, round } from './stats.ts';
import { targetsOf } from './targets.ts';

/**
 * `npm run bench [-- <section>]`: measures the event store (also beside
 * Emmett, and on hot streams that many writers race for), the relay, the
 * projections, read-your-writes latency, identity's login and refresh, the
 * content catalogue and uploads, notifications (welcome latency, a fan-out), and analytics (reports at 10M events, ingest over HTTP) against the engines the
 * environment names (DATABASE_URL, KAFKA_BROKERS, CLICKHOUSE_URL), and prints one JSON
 * document on stdout; progress goes to stderr. A section whose engine is
 * not configured says so instead of failing: the bench is not a test.
 *
 * BENCH_QUICK=1 shortens every run (for trying the bench out, not for figures).
 */

const SECTIONS = [
  'append',
  'emmett',
  'hot',
  'relay',
  'projection',
  'latency',
  'identity',
  'analytics',
  'content',
  'notifications',
  'media',
  'realtime',
] as const;
type SectionName = (typeof SECTIONS)[number];

const quick = process.env.BENCH_QUICK === '1';
const scale = (ms: number): number => (quick ? Math.max(200, Math.round(ms / 5)) : ms);

const plan = {
  append: {
    postgres: { warmupMs: scale(1000), measureMs: scale(5000) },
    pglite: { warmupMs: scale(500), measureMs: scale(3000) },
    paced: { warmupMs: scale(1000), measureMs: scale(10_000) },
    repetitions: quick ? 1 : 3,
  },
  relayEvents: quick ? 5000 : 50_000,
  projectionEvents: quick ? 10_000 : 100_000,
  latency: { warmup: quick ? 10 : 30, iterations: quick ? 50 : 300 },
  identity: { users: 16, concurrency: 8, warmupMs: scale(2000), measureMs: scale(10_000) },
  notifications: {
    warmup: quick ? 3 : 10,
    registrations: quick ? 30 : 200,
    // BENCH_FANOUT_FOLLOWERS overrides the size.
    fanout: { followers: Number(process.env.BENCH_FANOUT_FOLLOWERS) || (quick ? 5000 : 100_000) },
  },
  media: { clipSeconds: quick ? 6 : 30, encodes: quick ? 1 : 3, pdfRuns: quick ? 5 : 20, pdfWarmup: 2 },
  realtime: {
    // BENCH_REALTIME_MESSAGES overrides the history's size (a tenth of it in one room).
    history: {
      messages: Number(process.env.BENCH_REALTIME_MESSAGES) || (quick ? 200_000 : 10_000_000),
      bigRoom: Math.round(
        (Number(process.env.BENCH_REALTIME_MESSAGES) || (quick ? 200_000 : 10_000_000)) / 10,
      ),
      pages: quick ? 100 : 1000,
    },
    fanout: { rooms: 10, membersPerRoom: quick ? 20 : 100, messagesPerRoom: quick ? 100 : 1000 },
    idle: { connections: Number(process.env.BENCH_REALTIME_IDLE) || (quick ? 1000 : 19_000) },
    latency: { samples: quick ? 50 : 500, senders: 20 },
    presence: { samples: quick ? 20 : 200 },
  },
  content: {
    // BENCH_CONTENT_COURSES overrides the size (10 materials per course).
    postgresCourses: Number(process.env.BENCH_CONTENT_COURSES) || (quick ? 10_000 : 100_000),
    pgliteCourses: quick ? 2000 : 10_000,
    runs: quick ? 20 : 100,
    warmup: quick ? 3 : 10,
    uploadBytes: 50_000_000,
  },
  analytics: {
    // BENCH_ANALYTICS=reports or =ingest runs one part.
    parts: (['reports', 'ingest'] as const).filter((p) => (process.env.BENCH_ANALYTICS ?? p) === p),
    reports: {
      // BENCH_ANALYTICS_ROWS overrides the size (to try a size between quick and full).
      rows: Number(process.env.BENCH_ANALYTICS_ROWS) || (quick ? 200_000 : 10_000_000),
      warmup: quick ? 1 : 2,
      runs: quick ? 5 : 9,
      settleTimeoutMs: quick ? 10_000 : 120_000,
    },
    ingest: {
      clients: 8,
      batchEvents: 1000,
      warmupMs: scale(5000),
      measureMs: scale(30_000),
      drainTimeoutMs: quick ? 60_000 : 300_000,
      // Enough for 150k/s over the whole run; the generator stops the clients beyond.
      maxEvents: Math.round((150 * (scale(5000) + scale(30_000))) / 1000) * 1000,
    },
  },
};

// Loaded only when needed: it loads chDB, a native library of half a gigabyte.
const analytics = () => import('./analytics.ts');

const versions = async (engines: Engines): Promise<Record<string, string | null>> => {
  const safe = async (f: () => Promise<string | null>): Promise<string | null> => {
    try {
      return await f();
    } catch (error) {
      return `unavailable: ${(error as Error).message}`;
    }
  };
  return {
    node: process.version,
    postgresql: engines.databaseUrl ? await safe(() => postgresVersion(engines.databaseUrl!)) : null,
    pglite: await safe(
      async () =>
        `${await pgliteVersion()} (@electric-sql/pglite ${await packageVersion('@electric-sql/pglite')})`,
    ),
    kafka: engines.kafkaBrokers ? await safe(() => kafkaVersion(engines.kafkaBrokers!)) : null,
    kafkajs: await packageVersion('kafkajs'),
    pg: await packageVersion('pg'),
    emmettPostgresql: await packageVersion('@event-driven-io/emmett-postgresql'),
    clickhouse: process.env.CLICKHOUSE_URL
      ? await safe(() => clickhouseVersion(process.env.CLICKHOUSE_URL!))
      : null,
    chdb: await packageVersion('chdb'),
  };
};

const main = async (): Promise<void> => {
  const arg = process.argv[2];
  if (arg !== undefined && !(SECTIONS as readonly string[]).includes(arg)) {
    process.stderr.write(`usage: npm run bench [-- ${SECTIONS.join('|')}]\n`);
    process.exit(2);
  }
  const chosen: readonly SectionName[] = arg ? [arg as SectionName] : SECTIONS;
  const engines = enginesFromEnv(process.env);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  // The machine may be shared: its load before and after says how much the figures can be trusted.
  const loadBefore = loadavg().map((n) => round(n, 2));
  progress(
    `sections: ${chosen.join(', ')}; DATABASE_URL ${engines.databaseUrl ? 'set' : 'unset'}; KAFKA_BROKERS ${engines.kafkaBrokers ? 'set' : 'unset'}; CLICKHOUSE_URL ${process.env.CLICKHOUSE_URL ? 'set' : 'unset'}${quick ? '; QUICK' : ''}`,
  );

  const results: Partial<Record<SectionName, unknown>> = {};
  const run = async (name: SectionName, fn: () => Promise<unknown>): Promise<void> => {
    if (!chosen.includes(name)) return;
    const t = performance.now();
    progress(`section ${name}`);
    try {
      results[name] = await fn();
    } catch (error) {
      const e = error as Error;
      progress(`section ${name} failed: ${e.stack ?? String(e)}`);
      results[name] = { error: `${e.name}: ${e.message}` };
    }
    progress(`section ${name} took ${round((performance.now() - t) / 1000, 1)} s`);
  };

  await run('append', () => appendSection(engines, plan.append));
  await run('emmett', () => emmettSection(engines, plan.append.postgres, plan.append.repetitions));
  await run('hot', () => hotStreamsSection(engines, plan.append.postgres, plan.append.repetitions));
  await run('relay', () => relaySection(engines, plan.relayEvents));
  await run('projection', () => projectionSection(engines, plan.projectionEvents));
  await run('latency', () => latencySection(engines, plan.latency));
  await run('identity', () => identitySection(engines, plan.identity));
  await run('content', () => contentSection(engines, plan.content));
  await run('notifications', () => notificationsSection(engines, plan.notifications));
  await run('media', () => mediaSection(plan.media));
  await run('realtime', () => realtimeSection(engines, plan.realtime));
  await run('analytics', async () =>
    (await analytics()).analyticsSection(engines, process.env.CLICKHOUSE_URL?.trim() || null, plan.analytics),
  );

  const document = {
    bench: 'lectern',
    startedAt,
    durationSeconds: round((performance.now() - started) / 1000, 1),
    quick,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? null,
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      platform: process.platform,
      loadAverage1m5m15mBefore: loadBefore,
      loadAverage1m5m15mAfter: loadavg().map((n) => round(n, 2)),
    },
    versions: await versions(engines),
    sections: results,
    targets: [
      ...targetsOf(results),
      ...(chosen.includes('analytics') ? (await analytics()).analyticsTargets(results.analytics) : []),
    ],
  };
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  // Clients some engine libraries keep (timers, sockets) must not hold the process open.
  process.exit(0);
};

await main();
