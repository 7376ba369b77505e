import { WrongExpectedRevision, type EventStore } from '@lectern/infra/ports/event-store';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import { withDatabase, type Engines } from './engines.ts';
import { benchUser, profileUpdated, type BenchUser } from './events.ts';
import { combine, runLoad, type LoadResult, type Operation, type RawRun } from './load.ts';
import { progress } from './stats.ts';

export const WRITER_COUNTS = [1, 16, 64] as const;
/** Streams each writer cycles through, so stream rows and revisions grow as they do in production. */
export const STREAMS_PER_WRITER = 8;
/** The pool size `startLectern` gives its PostgreSQL pool; the peer gets the same. */
export const POOL_SIZE = 20;

export type Timing = Readonly<{ warmupMs: number; measureMs: number }>;

/**
 * A writer that appends one event at a time to its own streams, round robin,
 * stating the exact revision it expects (`no_stream` on a stream's first).
 */
export const lecternWriter = (store: EventStore): Operation => {
  const streams: { user: BenchUser; revision: number }[] = Array.from({ length: STREAMS_PER_WRITER }, () => ({
    user: benchUser(),
    revision: -1,
  }));
  let turn = 0;
  return async () => {
    const s = streams[turn++ % streams.length]!;
    try {
      const r = await store.append(s.user.streamId, [profileUpdated(s.user, s.revision + 1)], {
        expectedRevision: s.revision === -1 ? 'no_stream' : s.revision,
      });
      s.revision = r.nextExpectedRevision;
    } catch (error) {
      // Never expected (each stream has one writer); resynchronize so one failure is counted once.
      if (error instanceof WrongExpectedRevision)
        s.revision = error.actual === 'no_stream' ? -1 : error.actual;
      throw error;
    }
  };
};

const describe = (r: LoadResult): string =>
  `${r.perSecond} ev/s (runs: ${r.perSecondByRun.join(', ')}), p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms${r.errors ? `, ${r.errors} errors` : ''}`;

export const reportRun = (label: string, r: LoadResult): LoadResult => {
  progress(`${label}: ${describe(r)}`);
  return r;
};

const runOn = async (
  open: () => Promise<{ sql: Sql; store: EventStore }>,
  writers: number,
  timing: Timing,
  perSecond?: number,
): Promise<RawRun> => {
  const { sql, store } = await open();
  try {
    return await runLoad({
      writers,
      makeWriter: () => lecternWriter(store),
      ...timing,
      ...(perSecond ? { perSecond } : {}),
    });
  } finally {
    await store.close();
    await sql.close();
  }
};

/** One run of our store on a fresh PostgreSQL database (a database per run, so runs do not feed each other's tables). */
export const appendOnPostgres = (
  url: string,
  writers: number,
  timing: Timing,
  perSecond?: number,
): Promise<RawRun> =>
  withDatabase(url, (db) =>
    runOn(
      async () => {
        const sql = postgresSql(db.url, { max: POOL_SIZE, applicationName: 'lectern-bench' });
        return { sql, store: await sqlEventStore(sql) };
      },
      writers,
      timing,
      perSecond,
    ),
  );

/** One run of our store on a fresh in-memory PGlite. */
export const appendOnPglite = (writers: number, timing: Timing): Promise<RawRun> =>
  runOn(
    async () => {
      const sql = await pgliteSql(null);
      return { sql, store: await sqlEventStore(sql) };
    },
    writers,
    timing,
  );

export type AppendPlan = Readonly<{ postgres: Timing; pglite: Timing; paced: Timing; repetitions: number }>;

/**
 * Our store's append throughput and latency: 1, 16 and 64 closed-loop
 * writers on PostgreSQL and on PGlite, each configuration repeated on fresh
 * databases (repetitions interleaved, so drifting machine load spreads over
 * all of them), then 64 writers paced at 5000 events/s on PostgreSQL.
 */
export const appendSection = async (engines: Engines, plan: AppendPlan) => {
  const pg = engines.databaseUrl;
  const runsPg = new Map<number, RawRun[]>();
  const runsLite = new Map<number, RawRun[]>();
  for (let rep = 0; rep < plan.repetitions; rep++) {
    for (const w of WRITER_COUNTS) {
      if (pg) runsPg.set(w, [...(runsPg.get(w) ?? []), await appendOnPostgres(pg, w, plan.postgres)]);
      runsLite.set(w, [...(runsLite.get(w) ?? []), await appendOnPglite(w, plan.pglite)]);
    }
    progress(`append: repetition ${rep + 1} of ${plan.repetitions} done`);
  }
  const postgres = pg
    ? Object.fromEntries(
        WRITER_COUNTS.map((w) => [
          `writers_${w}`,
          reportRun(`append postgres ${w} writers`, combine(runsPg.get(w)!)),
        ]),
      )
    : { skipped: 'DATABASE_URL not set' };
  const pglite = Object.fromEntries(
    WRITER_COUNTS.map((w) => [
      `writers_${w}`,
      reportRun(`append pglite ${w} writers`, combine(runsLite.get(w) ?? [])),
    ]),
  );
  const paced = pg
    ? reportRun(
        'append postgres 64 writers paced at 5000/s',
        combine([await appendOnPostgres(pg, 64, plan.paced, 5000)]),
      )
    : { skipped: 'DATABASE_URL not set' };
  return {
    method:
      `each writer appends one profile.ProfileUpdated event (0.6–0.8 kB of JSON with its metadata) per call to its own ${STREAMS_PER_WRITER} streams, ` +
      `round robin, with the exact expected revision; closed loop; ${plan.postgres.warmupMs} ms warm-up then ${plan.postgres.measureMs} ms ` +
      `measured (PGlite in memory: ${plan.pglite.warmupMs}/${plan.pglite.measureMs} ms); ${plan.repetitions} runs per configuration, each on a ` +
      `fresh database; perSecond = median of the runs, latency percentiles over every sample of every run; PostgreSQL pool ` +
      `${POOL_SIZE} connections (as startLectern); paced = 64 writers, open loop at 5000/s for ${plan.paced.measureMs} ms, responseMs ` +
      `counted from each event's scheduled time`,
    postgres,
    pglite,
    pacedPostgres: paced,
  };
};
