import { STREAM_DOES_NOT_EXIST, type Event } from '@event-driven-io/emmett';
import { getPostgreSQLEventStore, type PostgresEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import type { EventMetadata, profile as schema } from '@lectern/schemas';
import {
  appendOnPostgres,
  POOL_SIZE,
  reportRun,
  STREAMS_PER_WRITER,
  WRITER_COUNTS,
  type Timing,
} from './append.ts';
import { packageVersion, withDatabase, type Engines } from './engines.ts';
import { benchUser, profileUpdated, type BenchEvent, type BenchUser } from './events.ts';
import { combine, runLoad, type LoadResult, type Operation, type RawRun } from './load.ts';
import { progress, ratio } from './stats.ts';

type ProfileUpdatedEvent = Event<
  'profile.ProfileUpdated',
  schema.ProfileUpdated,
  EventMetadata & { eventId: string }
>;

/** Emmett's form of the same event: same data and metadata, our event id carried in the metadata. */
const asEmmett = (e: BenchEvent): ProfileUpdatedEvent => ({
  type: 'profile.ProfileUpdated',
  data: e.data,
  metadata: { ...e.metadata, eventId: e.id },
});

/** The same writer as ours: one event per call, own streams, exact expected version (Emmett's versions are 1-based). */
const emmettWriter = (store: PostgresEventStore): Operation => {
  const streams: { user: BenchUser; version: bigint }[] = Array.from({ length: STREAMS_PER_WRITER }, () => ({
    user: benchUser(),
    version: 0n,
  }));
  let turn = 0;
  return async () => {
    const s = streams[turn++ % streams.length]!;
    const r = await store.appendToStream<ProfileUpdatedEvent>(
      s.user.streamId,
      [asEmmett(profileUpdated(s.user, Number(s.version)))],
      { expectedStreamVersion: s.version === 0n ? STREAM_DOES_NOT_EXIST : s.version },
    );
    s.version = r.nextExpectedStreamVersion;
  };
};

const emmettOnPostgres = (url: string, writers: number, timing: Timing): Promise<RawRun> =>
  withDatabase(url, async (db) => {
    const pool = new pg.Pool({ connectionString: db.url, max: POOL_SIZE, application_name: 'emmett-bench' });
    pool.on('error', () => {});
    const store = getPostgreSQLEventStore(db.url, { connectionOptions: { pool } });
    try {
      // Its schema is created on first use; do that before the clock starts.
      await store.schema.migrate();
      return await runLoad({ writers, makeWriter: () => emmettWriter(store), ...timing });
    } finally {
      await store.close().catch(() => {});
      await pool.end().catch(() => {});
    }
  });

/**
 * Emmett's PostgreSQL event store beside ours: same events, same writers,
 * same pool size, same server, each run on its own fresh database. Ours is
 * measured here too, each run right before Emmett's, so both meet the same
 * machine load; the ratios compare those pairs.
 */
export const emmettSection = async (engines: Engines, timing: Timing, repetitions: number) => {
  if (!engines.databaseUrl) return { skipped: 'DATABASE_URL not set' };
  const url = engines.databaseUrl;
  const ours = new Map<number, RawRun[]>();
  const theirs = new Map<number, RawRun[]>();
  for (let rep = 0; rep < repetitions; rep++) {
    for (const w of WRITER_COUNTS) {
      ours.set(w, [...(ours.get(w) ?? []), await appendOnPostgres(url, w, timing)]);
      theirs.set(w, [...(theirs.get(w) ?? []), await emmettOnPostgres(url, w, timing)]);
    }
    progress(`emmett: repetition ${rep + 1} of ${repetitions} done`);
  }
  const emmett: Record<string, LoadResult> = {};
  const lectern: Record<string, LoadResult> = {};
  const comparison: Record<string, unknown> = {};
  for (const w of WRITER_COUNTS) {
    const key = `writers_${w}`;
    const mine = reportRun(`append lectern ${w} writers (paired)`, combine(ours.get(w)!));
    const peer = reportRun(`append emmett ${w} writers`, combine(theirs.get(w)!));
    lectern[key] = mine;
    emmett[key] = peer;
    comparison[key] = {
      oursPerSecond: mine.perSecond,
      theirsPerSecond: peer.perSecond,
      throughputOursOverTheirs: ratio(mine.perSecond, peer.perSecond),
      oursP99Ms: mine.latencyMs.p99,
      theirsP99Ms: peer.latencyMs.p99,
      p99OursOverTheirs: ratio(mine.latencyMs.p99, peer.latencyMs.p99),
    };
  }
  return {
    peer: `@event-driven-io/emmett-postgresql ${(await packageVersion('@event-driven-io/emmett-postgresql')) ?? '?'}`,
    method:
      `Emmett appendToStream, one event per call (same data and metadata as ours), ${STREAMS_PER_WRITER} own streams per writer, ` +
      `exact expectedStreamVersion; its own pg.Pool of ${POOL_SIZE}; fresh database per run; ${timing.warmupMs} ms warm-up then ` +
      `${timing.measureMs} ms measured; ${repetitions} runs each, ours and theirs alternating; ratios: throughput > 1 = ours faster, ` +
      `p99 < 1 = ours lower`,
    comparison,
    emmett,
    lectern,
  };
};
