import { topicOf } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import type { SqlProjection } from '@lectern/infra/runtime/projection';
import { LOAD_PARTS, projectionRunner, REBUILD_PAGE_SIZE } from '@lectern/infra/runtime/projection-runner';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import { POOL_SIZE } from './append.ts';
import { benchId, quietLogger, withDatabase, type Engines } from './engines.ts';
import { counterValue, prefill, relayToHead } from './fixtures.ts';
import { dropKafkaNamespace, openKafkaLog, openSqlLog } from './logs.ts';
import { localPostgresCpuMs } from './proc-cpu.ts';
import { median, perSecond, progress, round, sleep } from './stats.ts';

const MEASURED = ['profiles', 'profile_history'] as const;
const EVENTS_PER_USER = 10;
const TIMEOUT_MS = 240_000;

type Apply = Readonly<{
  events: number;
  /** From `start()` resolving (group joined, first fetch made) until every event is applied. */
  seconds: number;
  perSecond: number;
  /** From the `start()` call, group join included. */
  secondsIncludingJoin: number;
  joinSeconds: number;
}>;
/** Where a rebuild's time went, in seconds (from its progress reports). */
type RebuildPhases = Readonly<{
  /** Reading the feed and applying it to the shadow, to the last page. */
  replay: number;
  /** After the last page until the agreement begins: the bulk load's end, indexes, checkpoints. */
  finish: number;
  /** Waiting for the live model to reach the shadow. */
  agree: number;
  /** Catching up, comparing (counts and checksums) and swapping, under the lock. */
  compare: number;
}>;
type RebuildRun = Readonly<{
  seconds: number;
  perSecond: number;
  phases: RebuildPhases;
  /**
   * CPU this process spent on the run (every thread of it: decoding, applying, GC), in seconds;
   * steadier than wall time on a shared machine, and what a rebuild's speed is made of beside the database's.
   */
  cpuSeconds: number;
  /**
   * CPU the local PostgreSQL server spent meanwhile (`localPostgresCpuMs`), in seconds; null on
   * PGlite (it runs in this process) or a server elsewhere. With `cpuSeconds`, the work a run asks
   * of the machine's cores, whatever its wall time.
   */
  serverCpuSeconds: number | null;
}>;
type Rebuild = Readonly<{
  events: number;
  /** The median run's. */
  seconds: number;
  perSecond: number;
  runs: readonly RebuildRun[];
}>;
type Failure = { error: string };

const failure = (label: string, error: unknown): Failure => {
  progress(`projection ${label} failed: ${(error as Error).stack ?? String(error)}`);
  return { error: `${(error as Error).name}: ${(error as Error).message}` };
};

/** Live path: the runner consumes the log from the beginning; timed until its applied counter reaches `events`. */
type Setup = Readonly<{ sql: Sql; log: MessageLog; store: EventStore; namespace: string }>;

const applyLive = async (
  p: SqlProjection,
  { sql, log, store, namespace }: Setup,
  events: number,
): Promise<Apply> => {
  const metrics = createMetrics();
  const runner = await projectionRunner({
    projection: p,
    sql,
    log,
    store,
    namespace,
    logger: quietLogger(),
    metrics,
  });
  const t0 = performance.now();
  await runner.start();
  const tReady = performance.now();
  const atReady = await counterValue(metrics.projectionApplied, p.name);
  try {
    for (;;) {
      const applied = await counterValue(metrics.projectionApplied, p.name);
      if (applied >= events) break;
      if (performance.now() - t0 > TIMEOUT_MS)
        throw new Error(`${p.name} applied ${applied} of ${events} within ${TIMEOUT_MS} ms`);
      await sleep(2);
    }
    const tDone = performance.now();
    const [status] = await sql.query<{ applied_events: string }>(
      'select applied_events from projection_status where name = $1',
      [p.name],
    );
    if (Number(status?.applied_events) !== events)
      throw new Error(
        `projection_status says ${p.name} applied ${status?.applied_events}, expected ${events}`,
      );
    return {
      events,
      seconds: round((tDone - tReady) / 1000, 3),
      perSecond: perSecond(events - atReady, tDone - tReady),
      secondsIncludingJoin: round((tDone - t0) / 1000, 3),
      joinSeconds: round((tReady - t0) / 1000, 3),
    };
  } finally {
    await runner.stop();
  }
};

/** Rebuilds timed per projection and engine; the figure is their median, each run beside the others. */
const REBUILD_RUNS = Number(process.env.BENCH_REBUILD_RUNS ?? 3);

/**
 * `runner.rebuild()` of each of `variants` (one model, its first replay
 * done in different ways), `REBUILD_RUNS` times, the variants taking turns
 * run by run so that a slow spell of the machine falls on each alike:
 * replays the store from position zero into shadow tables, verifies them
 * against the live model and swaps them in; each figure is its median run.
 */
const rebuilds = async (
  variants: readonly SqlProjection[],
  { sql, log, store, namespace }: Setup,
  events: number,
): Promise<Rebuild[]> => {
  const runners = await Promise.all(
    variants.map((p) =>
      projectionRunner({ projection: p, sql, log, store, namespace, logger: quietLogger() }),
    ),
  );
  const runs: RebuildRun[][] = variants.map(() => []);
  for (let i = 0; i < REBUILD_RUNS; i++)
    for (const [v, runner] of runners.entries()) {
      const p = runner.projection;
      const server0 = sql.kind === 'postgres' ? await localPostgresCpuMs() : null;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      let lastPage = t0;
      const began: Partial<Record<'agree' | 'compare', number>> = {};
      const r = await runner.rebuild({
        onProgress: ({ phase }) => {
          // The load in the database is the first replay's first part.
          if (phase === 'replay' || phase === 'load') lastPage = performance.now();
          else began[phase] ??= performance.now();
        },
      });
      const end = performance.now();
      const cpu = process.cpuUsage(cpu0);
      const server1 = server0 === null ? null : await localPostgresCpuMs();
      const [agree, compare] = [began.agree ?? end, began.compare ?? end];
      const phases = {
        replay: round((lastPage - t0) / 1000, 3),
        finish: round((agree - lastPage) / 1000, 3),
        agree: round((compare - agree) / 1000, 3),
        compare: round((end - compare) / 1000, 3),
      };
      if (r.events !== events)
        throw new Error(`rebuild of ${p.name} applied ${r.events} events, expected ${events}`);
      if (!r.swapped)
        throw new Error(`rebuild of ${p.name} was not swapped in: it differs from the live model`);
      runs[v]!.push({
        seconds: round(r.seconds, 3),
        perSecond: perSecond(r.events, r.seconds * 1000),
        phases,
        cpuSeconds: round((cpu.user + cpu.system) / 1e6, 3),
        serverCpuSeconds: server0 === null || server1 === null ? null : round((server1 - server0) / 1000, 2),
      });
    }
  return runs.map((mine) => {
    const seconds = median(mine.map((r) => r.seconds));
    return { events, seconds, perSecond: perSecond(events, seconds * 1000), runs: mine };
  });
};

/** `p` without its load in SQL (`loadSql`): its first replay event by event, as on KurrentDB. */
const eventByEvent = (p: SqlProjection): SqlProjection => {
  const { loadSql: _, ...rest } = p;
  return rest;
};

/**
 * One database (PostgreSQL or PGlite) and one log: fill the store, relay it
 * all to the log (not timed here: the relay section times it), then time each
 * projection's live apply and, when asked, its rebuild.
 */
const onEngine = async (
  label: string,
  sql: Sql,
  openLog: () => Promise<MessageLog>,
  namespace: string,
  events: number,
  withRebuild: boolean,
  projections: readonly SqlProjection[],
): Promise<Record<string, unknown>> => {
  const topic = topicOf('profile', namespace);
  const store = await sqlEventStore(sql);
  let log: MessageLog | null = null;
  try {
    const filled = await prefill(store, {
      events,
      perStream: EVENTS_PER_USER,
      concurrency: sql.kind === 'postgres' ? 8 : 1,
    });
    log = await openLog();
    await log.ensureTopics([{ topic, partitions: 4 }]);
    await relayToHead({ store, sql, log, topic, namespace, expected: filled.events, timeoutMs: TIMEOUT_MS });
    const setup: Setup = { sql, log, store, namespace };
    const out: Record<string, unknown> = {};
    for (const p of projections) {
      const entry: Record<string, unknown> = {};
      try {
        entry.apply = await applyLive(p, setup, filled.events);
        progress(`projection ${p.name} apply ${label}: ${(entry.apply as Apply).perSecond} ev/s`);
      } catch (error) {
        entry.apply = failure(`${p.name} apply ${label}`, error);
      }
      if (withRebuild) {
        try {
          // Where the model loads in SQL, its replay event by event beside it, run by run.
          const [rebuilt, byEvent] = await rebuilds(
            p.loadSql ? [p, eventByEvent(p)] : [p],
            setup,
            filled.events,
          );
          entry.rebuild = rebuilt;
          progress(`projection ${p.name} rebuild ${label}: ${rebuilt!.perSecond} ev/s`);
          if (byEvent) {
            entry.rebuildEventByEvent = byEvent;
            progress(`projection ${p.name} rebuild event by event ${label}: ${byEvent.perSecond} ev/s`);
          }
        } catch (error) {
          entry.rebuild = failure(`${p.name} rebuild ${label}`, error);
        }
      }
      out[p.name] = entry;
    }
    return out;
  } catch (error) {
    return failure(label, error);
  } finally {
    await log?.close().catch(() => {});
    await store.close();
  }
};

/**
 * `profiles` and `profile_history` over `events` profile events: live apply
 * (log → projection runner → read model) and rebuild from the store, on
 * PostgreSQL (with Kafka, under a bench-only namespace, and with the SQL
 * log) and on PGlite (SQL log).
 * Each engine/log pair gets its own fresh database, so every run starts
 * from empty read models.
 */
export const projectionSection = async (engines: Engines, events: number) => {
  // The projections the server runs, loaded only by the section that needs them.
  const { projections: all } = await import('@lectern/server');
  const projections = MEASURED.map((name) => {
    const p = all.find((x) => x.name === name);
    if (!p) throw new Error(`@lectern/server has no projection ${name}`);
    return p;
  });
  const result: Record<string, unknown> = {};
  const pg = engines.databaseUrl;
  const onPostgres = (
    label: string,
    openLog: (sql: Sql) => Promise<MessageLog>,
    namespace: string,
    withRebuild: boolean,
  ) =>
    withDatabase(pg!, async (db) => {
      const sql = postgresSql(db.url, { max: POOL_SIZE, applicationName: 'lectern-bench' });
      try {
        return await onEngine(label, sql, () => openLog(sql), namespace, events, withRebuild, projections);
      } finally {
        await sql.close();
      }
    });

  if (pg)
    result.postgresWithSqlLog = await onPostgres(
      'postgres + sql log',
      (sql) => openSqlLog(sql),
      'lectern',
      true,
    );
  else result.postgresWithSqlLog = { skipped: 'DATABASE_URL not set' };

  if (pg && engines.kafkaBrokers) {
    const brokers = engines.kafkaBrokers;
    const prefix = benchId();
    try {
      result.postgresWithKafka = await onPostgres(
        'postgres + kafka',
        () => openKafkaLog(brokers, `lectern-${prefix}`),
        prefix,
        false,
      );
    } finally {
      await dropKafkaNamespace(brokers, prefix).catch((e: unknown) =>
        progress(`could not drop kafka topics ${prefix}.*: ${String(e)}`),
      );
    }
  } else result.postgresWithKafka = { skipped: !pg ? 'DATABASE_URL not set' : 'KAFKA_BROKERS not set' };

  {
    const sql = await pgliteSql(null);
    try {
      result.pgliteWithSqlLog = await onEngine(
        'pglite + sql log',
        sql,
        () => openSqlLog(sql),
        'lectern',
        events,
        true,
        projections,
      );
    } finally {
      await sql.close();
    }
  }

  return {
    method:
      `${events} profile.ProfileUpdated events (${EVENTS_PER_USER} per user) appended and relayed to the log first; ` +
      `apply = a fresh projection runner consuming the topic from the beginning (batches of up to 1000), timed from start() ` +
      `resolving until its applied counter reaches every event (checked against projection_status); rebuild = runner.rebuild() ` +
      `(the first replay in SQL in the database, loadSql, in ${LOAD_PARTS.postgres} statements side by side on PostgreSQL; ` +
      `rebuildEventByEvent = the same model's first replay event by event instead, as on KurrentDB: store pages of ` +
      `${REBUILD_PAGE_SIZE.postgres} on PostgreSQL and ${REBUILD_PAGE_SIZE.pglite} on PGlite; into shadow tables, ` +
      `verified against the live model, then swapped), median of ${REBUILD_RUNS} runs, the two taking turns run by run, ` +
      `on the same database after the live apply; ` +
      `one projection at a time; per run, cpuSeconds = this process's CPU and serverCpuSeconds = the local PostgreSQL server's (/proc)`,
    ...result,
  };
};
