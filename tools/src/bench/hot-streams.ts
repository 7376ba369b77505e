import { isExpectedVersionConflictError, STREAM_DOES_NOT_EXIST, type Event } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, type PostgresEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import type { EventMetadata, profile as schema } from '@lectern/schemas';
import { WrongExpectedRevision, type EventStore } from '@lectern/infra/ports/event-store';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { postgresSql } from '@lectern/infra/sql/postgres';
import { POOL_SIZE, reportRun, type Timing } from './append.ts';
import { packageVersion, withDatabase, type Engines } from './engines.ts';
import { benchUser, profileUpdated, type BenchEvent, type BenchUser } from './events.ts';
import { combine, runLoad, type Operation, type RawRun } from './load.ts';
import { median, progress, ratio, round, sleep, summarize } from './stats.ts';

export const HOT_WRITERS = 64;
export const HOT_STREAMS = 8;
/** A command gives up after this many conflicts in a row (counted as an error). */
const MAX_ATTEMPTS = 100;

/** How often one run's writers lost a race, and how many backends the server started for the run. */
type HotRun = Readonly<{
  raw: RawRun;
  attempts: number;
  conflicts: number;
  callMs: readonly number[];
  backendsOpened: number | null;
}>;

/** Append calls inside the measured window, shared by a run's writers. */
type Tally = { windowStart: number; end: number; attempts: number; conflicts: number; callMs: number[] };
/** Counts one append call that was sent at `sent` and has just answered. */
const count = (tally: Tally, sent: number, conflict: boolean): void => {
  if (sent < tally.windowStart || sent > tally.end) return;
  tally.callMs.push(performance.now() - sent);
  tally.attempts++;
  if (conflict) tally.conflicts++;
};

/**
 * One writer of a hot stream, as a command handler with the stream's state
 * in hand behaves: append one event at the revision it knows; on a conflict,
 * read the events it missed (only those) and try again. One operation is one
 * event appended, however many attempts it took.
 */
const lecternHotWriter = (store: EventStore, user: BenchUser, tally: Tally): Operation => {
  let known = 0;
  return async () => {
    for (let attempt = 1; ; attempt++) {
      const sent = performance.now();
      try {
        const r = await store.append(user.streamId, [profileUpdated(user, known + 1)], {
          expectedRevision: known,
        });
        count(tally, sent, false);
        known = r.nextExpectedRevision;
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedRevision) || attempt >= MAX_ATTEMPTS) throw error;
        count(tally, sent, true);
        const missed = await store.readStream(user.streamId, { fromRevision: known + 1 });
        known = missed.at(-1)?.revision ?? known;
      }
    }
  };
};

type ProfileUpdatedEvent = Event<
  'profile.ProfileUpdated',
  schema.ProfileUpdated,
  EventMetadata & { eventId: string }
>;
const asEmmett = (e: BenchEvent): ProfileUpdatedEvent => ({
  type: 'profile.ProfileUpdated',
  data: e.data,
  metadata: { ...e.metadata, eventId: e.id },
});

/** The same writer on Emmett (versions count events, so the first event is version 1). */
const emmettHotWriter = (store: PostgresEventStore, user: BenchUser, tally: Tally): Operation => {
  let known = 1n;
  return async () => {
    for (let attempt = 1; ; attempt++) {
      const sent = performance.now();
      try {
        const r = await store.appendToStream<ProfileUpdatedEvent>(
          user.streamId,
          [asEmmett(profileUpdated(user, Number(known)))],
          { expectedStreamVersion: known },
        );
        count(tally, sent, false);
        known = r.nextExpectedStreamVersion;
        return;
      } catch (error) {
        if (!isExpectedVersionConflictError(error) || attempt >= MAX_ATTEMPTS) throw error;
        count(tally, sent, true);
        // Emmett's conflict does not carry the current version: read what was missed.
        const missed = await store.readStream(user.streamId, { from: known + 1n });
        if (missed.events.length > 0) known = missed.currentStreamVersion;
      }
    }
  };
};

/**
 * Backends the server started for database `name`, from `pg_stat_database.sessions`
 * (PostgreSQL 14+). A backend reports its session when it ends, so this waits
 * (bounded) until the run's connections are gone.
 */
const sessionsOf = async (url: string, name: string): Promise<number | null> => {
  const admin = new pg.Client({ connectionString: url, application_name: 'lectern-bench' });
  await admin.connect();
  try {
    for (const deadline = performance.now() + 10_000; performance.now() < deadline; await sleep(20)) {
      const { rows } = await admin.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where datname = $1',
        [name],
      );
      if (rows[0]!.n === 0) break;
    }
    const { rows } = await admin.query<{ sessions: string | null }>(
      'select sessions from pg_stat_database where datname = $1',
      [name],
    );
    return rows[0]?.sessions == null ? null : Number(rows[0].sessions);
  } finally {
    await admin.end();
  }
};

type Target = Readonly<{
  /** Appends each stream's first event, before the clock starts. */
  seed(users: readonly BenchUser[]): Promise<void>;
  writer(user: BenchUser, tally: Tally): Operation;
  close(): Promise<void>;
}>;

/** One run on a fresh database, 64 writers spread over 8 streams. */
const hotRun = (url: string, open: (dbUrl: string) => Promise<Target>, timing: Timing): Promise<HotRun> =>
  withDatabase(url, async (db) => {
    const users = Array.from({ length: HOT_STREAMS }, () => benchUser());
    const target = await open(db.url);
    let raw: RawRun;
    let tally: Tally;
    try {
      await target.seed(users);
      const start = performance.now();
      tally = {
        windowStart: start + timing.warmupMs,
        end: start + timing.warmupMs + timing.measureMs,
        attempts: 0,
        conflicts: 0,
        callMs: [],
      };
      const shared = tally;
      raw = await runLoad({
        writers: HOT_WRITERS,
        makeWriter: (i) => target.writer(users[i % HOT_STREAMS]!, shared),
        ...timing,
      });
    } finally {
      await target.close();
    }
    const backendsOpened = await sessionsOf(url, db.name);
    return {
      raw,
      attempts: tally.attempts,
      conflicts: tally.conflicts,
      callMs: tally.callMs,
      backendsOpened,
    };
  });

const openLectern = async (dbUrl: string): Promise<Target> => {
  const sql = postgresSql(dbUrl, { max: POOL_SIZE, applicationName: 'lectern-bench' });
  const store = await sqlEventStore(sql);
  return {
    seed: async (users) => {
      for (const user of users)
        await store.append(user.streamId, [profileUpdated(user, 0)], { expectedRevision: 'no_stream' });
    },
    writer: (user, tally) => lecternHotWriter(store, user, tally),
    close: async () => {
      await store.close();
      await sql.close();
    },
  };
};

const openEmmett = async (dbUrl: string): Promise<Target> => {
  const pool = new pg.Pool({ connectionString: dbUrl, max: POOL_SIZE, application_name: 'emmett-bench' });
  pool.on('error', () => {});
  const store = getPostgreSQLEventStore(dbUrl, { connectionOptions: { pool } });
  await store.schema.migrate();
  return {
    seed: async (users) => {
      for (const user of users)
        await store.appendToStream<ProfileUpdatedEvent>(user.streamId, [asEmmett(profileUpdated(user, 0))], {
          expectedStreamVersion: STREAM_DOES_NOT_EXIST,
        });
    },
    writer: (user, tally) => emmettHotWriter(store, user, tally),
    close: async () => {
      await store.close().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
};

const summary = (runs: readonly HotRun[], label: string) => {
  const load = reportRun(label, combine(runs.map((r) => r.raw)));
  const seconds = load.measuredSecondsPerRun;
  const backends = runs.map((r) => r.backendsOpened).filter((n): n is number => n !== null);
  return {
    appendsPerSecond: load.perSecond,
    appendsPerSecondByRun: load.perSecondByRun,
    /** One append call, answered with success or conflict: what the store costs a caller. */
    appendCallMs: summarize(runs.flatMap((r) => r.callMs)),
    /** One event in, from the first attempt through every conflict and re-read to the success. */
    commandMs: load.latencyMs,
    conflictsPerSecond: Math.round(median(runs.map((r) => r.conflicts / seconds))),
    attemptsPerAppend: round(median(runs.map((r) => r.attempts / Math.max(1, r.raw.completed))), 2),
    backendsOpenedPerRun: backends.length === runs.length ? median(backends) : null,
    backendsOpenedByRun: runs.map((r) => r.backendsOpened),
    errors: load.errors,
    ...(load.firstError ? { firstError: load.firstError } : {}),
  };
};

/**
 * Hot streams: 64 writers on 8 streams (8 writers racing on each), ours and
 * Emmett's on the same PostgreSQL, runs alternating so both meet the same
 * machine load, each on a fresh database.
 */
export const hotStreamsSection = async (engines: Engines, timing: Timing, repetitions: number) => {
  if (!engines.databaseUrl) return { skipped: 'DATABASE_URL not set' };
  const url = engines.databaseUrl;
  const ours: HotRun[] = [];
  const theirs: HotRun[] = [];
  for (let rep = 0; rep < repetitions; rep++) {
    ours.push(await hotRun(url, openLectern, timing));
    theirs.push(await hotRun(url, openEmmett, timing));
    progress(`hot: repetition ${rep + 1} of ${repetitions} done`);
  }
  const lecternFigures = summary(
    ours,
    `hot streams lectern ${HOT_WRITERS} writers on ${HOT_STREAMS} streams`,
  );
  const emmettFigures = summary(
    theirs,
    `hot streams emmett ${HOT_WRITERS} writers on ${HOT_STREAMS} streams`,
  );
  return {
    peer: `@event-driven-io/emmett-postgresql ${(await packageVersion('@event-driven-io/emmett-postgresql')) ?? '?'}`,
    method:
      `${HOT_WRITERS} closed-loop writers on ${HOT_STREAMS} streams (${HOT_WRITERS / HOT_STREAMS} per stream), each stream seeded with one event ` +
      `before the clock; a writer appends one profile.ProfileUpdated at the revision it knows; on a conflict it reads only the events it ` +
      `missed (ours: readStream from its revision + 1; Emmett: readStream from its version + 1, its conflict error carries no version) and ` +
      `tries again, up to ${MAX_ATTEMPTS} attempts; appendsPerSecond counts events appended; appendCallMs = one append call (success or ` +
      `conflict, pool wait included); commandMs = one event from the first attempt through conflicts and re-reads to its success; ` +
      `pools of ${POOL_SIZE} connections each; ${timing.warmupMs} ms warm-up then ${timing.measureMs} ms measured; ${repetitions} runs each on ` +
      `fresh databases, ours and Emmett's alternating; appendsPerSecond = median of the runs, latency percentiles over every sample; ` +
      `conflictsPerSecond and attemptsPerAppend inside the measured window (medians); backendsOpenedPerRun = pg_stat_database.sessions ` +
      `of the run's database once its connections ended (the whole run: setup, warm-up, measurement)`,
    comparison: {
      oursPerSecond: lecternFigures.appendsPerSecond,
      theirsPerSecond: emmettFigures.appendsPerSecond,
      throughputOursOverTheirs: ratio(lecternFigures.appendsPerSecond, emmettFigures.appendsPerSecond),
      oursAppendCallP50Ms: lecternFigures.appendCallMs.p50,
      theirsAppendCallP50Ms: emmettFigures.appendCallMs.p50,
      oursAppendCallP99Ms: lecternFigures.appendCallMs.p99,
      theirsAppendCallP99Ms: emmettFigures.appendCallMs.p99,
      oursCommandP99Ms: lecternFigures.commandMs.p99,
      theirsCommandP99Ms: emmettFigures.commandMs.p99,
      oursBackendsOpenedPerRun: lecternFigures.backendsOpenedPerRun,
      theirsBackendsOpenedPerRun: emmettFigures.backendsOpenedPerRun,
    },
    lectern: lecternFigures,
    emmett: emmettFigures,
  };
};
