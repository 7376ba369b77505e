import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import { START, type EventStore } from '../ports/event-store.ts';
import type { Batch, Consumer, LogMessage, MessageLog } from '../ports/message-log.ts';
import { migrate, sqlMigration } from '../sql/migrate.ts';
import { ident, sideBySide, sqlArray, type Sql, type SqlExecutor } from '../sql/sql.ts';
import { fromLogMessage } from './codec.ts';
import { REDRIVE_FOR } from './dead-letter-admin.ts';
import { applyIsolating, deadLetterSender, dlqTopicOf } from './dead-letters.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { progressWatch, type ConsumerProgress } from './progress.ts';
import {
  LIVE_SCHEMA,
  withDeclaredMetadata,
  type BulkLoad,
  type ProjectionTables,
  type SqlProjection,
} from './projection.ts';
import { exclusively } from './rebuild-lock.ts';
import { rowHashOf, verifyTable, verifyTableAt, type TableVerification } from './rebuild-verify.ts';
import { messageSpans } from './tracing.ts';

const CHECKPOINTS = '__checkpoints';

export const projectionStatusMigrations = [
  sqlMigration(
    '001_projection_status',
    `create table if not exists projection_status (
       name text primary key,
       version int not null,
       applied_events bigint not null default 0,
       last_position bigint,
       last_event_at timestamptz,
       last_applied_at timestamptz,
       rebuilt_at timestamptz
     )`,
    'drop table if exists projection_status',
  ),
];

/** The physical tables of a projection in a schema, checkpoints included. */
export const tablesIn = (p: SqlProjection, schema: string): ProjectionTables =>
  Object.fromEntries(
    [...p.tables, CHECKPOINTS].map((t) => [
      t,
      `${ident(schema)}.${ident(t === CHECKPOINTS ? `${p.name}_checkpoints` : t)}`,
    ]),
  );

/**
 * Per stream: the last revision and position applied, and a ledger of what
 * was: `applied` events (dead-lettered ones included) and `digest`, the XOR
 * of their `eventDigest`s, which `lectern audit` compares with the store
 * (projection-audit.ts). Both are null on rows older than the ledger.
 */
const checkpointDdl = (t: ProjectionTables): string => `
  create table if not exists ${t[CHECKPOINTS]} (
    stream_id text primary key,
    revision bigint not null,
    position bigint not null,
    applied bigint,
    digest bigint
  )`;

/** The value of the hex digit at `i` of `s`, either case; -1 when it is none. */
const hexDigit = (s: string, i: number): number => {
  const c = s.charCodeAt(i);
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 32;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
};

/** Where the digits of a UUID's first 64 bits are, as two words of eight. */
const HIGH_DIGITS = [0, 1, 2, 3, 4, 5, 6, 7] as const;
const LOW_DIGITS = [9, 10, 11, 12, 14, 15, 16, 17] as const;

/** Whether `s` is a UUID (8-4-4-4-12 hex digits, either case), read in place: a rebuild asks it of every event. */
const isUuid = (s: string): boolean => {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++)
    if (i === 8 || i === 13 || i === 18 || i === 23 ? s.charCodeAt(i) !== 45 : hexDigit(s, i) < 0)
      return false;
  return true;
};

/** The unsigned 32-bit value of eight hex digits of `s`, at `at`. */
const wordAt = (s: string, at: readonly number[]): number => {
  let v = 0;
  for (const i of at) v = v * 16 + hexDigit(s, i);
  return v;
};

/**
 * The 64 bits of an event id that the ledger's digest XORs together, as
 * two unsigned 32-bit halves (high, low): the first 64 bits of the id
 * where it is a UUID (as every id Lectern makes is: random, or derived
 * from a command id by a hash, so already uniform), else the first 64 bits
 * of its MD5. Halves, not a bigint, so a replay of a million events XORs
 * numbers and makes a bigint per stream, not per event; read from the id
 * in place, so it makes no string either.
 */
const digestHalves = (eventId: string): readonly [number, number] => {
  if (isUuid(eventId)) return [wordAt(eventId, HIGH_DIGITS), wordAt(eventId, LOW_DIGITS)];
  const md5 = createHash('md5').update(eventId).digest('hex');
  return [parseInt(md5.slice(0, 8), 16), parseInt(md5.slice(8, 16), 16)];
};

/** Two unsigned 32-bit halves as one signed 64-bit value, as PostgreSQL's bigint holds it. */
const joinHalves = (hi: number, lo: number): bigint => BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));

/** An event id's digest (`digestHalves`) as PostgreSQL's signed bigint: what a ledger XORs. */
export const eventDigest = (eventId: string): bigint => joinHalves(...digestHalves(eventId));

/**
 * `eventDigest` as SQL over a uuid column: the id's first 64 bits, as the
 * same signed bigint, for a ledger made in the database (`loadSql`).
 */
export const eventDigestSql = (column: string): string =>
  `('x' || translate(left(${column}::text, 18), '-', ''))::bit(64)::bigint`;

/**
 * A stream's checkpoint and ledger: furthest revision and position, events
 * counted, and their digests' XOR in halves (`digest` joins them).
 */
type LedgerRow = { revision: number; position: number; applied: number; hi: number; lo: number };
type Ledger = Map<string, LedgerRow>;
const digestOf = (row: LedgerRow): bigint => joinHalves(row.hi, row.lo);

/** Adds events to per-stream ledger rows; only those `counted` add to `applied` and `digest`. */
const addToLedger = (
  rows: Ledger,
  events: readonly RecordedEvent[],
  counted: (e: RecordedEvent) => boolean = () => true,
): Ledger => {
  for (const e of events) {
    let row = rows.get(e.streamId);
    if (!row) {
      row = { revision: e.revision, position: e.position, applied: 0, hi: 0, lo: 0 };
      rows.set(e.streamId, row);
    }
    row.revision = Math.max(row.revision, e.revision);
    row.position = Math.max(row.position, e.position);
    if (counted(e)) {
      const [hi, lo] = digestHalves(e.id);
      row.applied++;
      row.hi = (row.hi ^ hi) >>> 0;
      row.lo = (row.lo ^ lo) >>> 0;
    }
  }
  return rows;
};

/** Events counted into a stream's ledger: how many, and the XOR of their digests, as SQL parameters. */
const ledgerRows = (events: readonly RecordedEvent[], counted: (e: RecordedEvent) => boolean) =>
  JSON.stringify(
    [...addToLedger(new Map(), events, counted)].map(([stream_id, r]) => ({
      stream_id,
      revision: r.revision,
      position: r.position,
      applied: r.applied,
      digest: digestOf(r).toString(),
    })),
  );

/**
 * Moves streams' checkpoints to the events given (never back) and adds the
 * counted ones to their ledgers; a ledger that was unknown (null) stays so.
 */
const advanceCheckpoints = (tx: SqlExecutor, t: ProjectionTables, rows: string) =>
  tx.query(
    `insert into ${t[CHECKPOINTS]} (stream_id, revision, position, applied, digest)
     select r.stream_id, r.revision, r.position, r.applied, r.digest
       from jsonb_to_recordset($1::jsonb)
         as r(stream_id text, revision bigint, position bigint, applied bigint, digest bigint)
     on conflict (stream_id) do update
       set revision = greatest(${t[CHECKPOINTS]}.revision, excluded.revision),
           position = greatest(${t[CHECKPOINTS]}.position, excluded.position),
           applied = ${t[CHECKPOINTS]}.applied + excluded.applied,
           digest = ${t[CHECKPOINTS]}.digest # excluded.digest`,
    [rows],
  );

/** Adds the ledger's columns to a checkpoints table made before it had them (a no-op when it has them). */
const addLedger = async (sql: Sql, p: SqlProjection): Promise<void> => {
  const [row] = await sql.query<{ n: string }>(
    `select count(*)::text as n from information_schema.columns
      where table_schema = $1 and table_name = $2 and column_name in ('applied', 'digest')`,
    [LIVE_SCHEMA, `${p.name}_checkpoints`],
  );
  if (Number(row!.n) < 2)
    await sql.exec(
      `alter table ${liveTables(p)[CHECKPOINTS]} add column if not exists applied bigint, ` +
        'add column if not exists digest bigint',
    );
};

/**
 * Drops the indexes in `schema` that no constraint or `on conflict` needs
 * (the non-unique ones), and returns the statements that make them again:
 * an index built once over loaded rows costs less than one kept up to date
 * row by row.
 */
const dropSecondaryIndexes = async (sql: Sql, schema: string): Promise<string[]> => {
  const rows = await sql.query<{ name: string; definition: string }>(
    `select c.relname as name, pg_get_indexdef(x.indexrelid) as definition
       from pg_index x join pg_class c on c.oid = x.indexrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and not x.indisunique`,
    [schema],
  );
  for (const r of rows) await sql.query(`drop index ${ident(schema)}.${ident(r.name)}`);
  return rows.map((r) => r.definition);
};

/**
 * Drops the primary keys and unique constraints of `tables`, and returns the
 * statements that make them again: for a load that never writes one key
 * twice (`BulkLoad.keysAfter`), a key built once over the loaded rows costs
 * less than one checked row by row. A duplicate fails when they are made.
 */
const dropKeys = async (sql: Sql, tables: readonly string[]): Promise<string[]> => {
  const rows = await sql.query<{ on: string; name: string; definition: string }>(
    `select c.conrelid::regclass::text as on, c.conname as name, pg_get_constraintdef(c.oid) as definition
       from pg_constraint c
      where c.contype in ('p', 'u') and c.conrelid = any($1::text[]::regclass[])`,
    [tables],
  );
  for (const r of rows) await sql.query(`alter table ${r.on} drop constraint ${ident(r.name)}`);
  return rows.map((r) => `alter table ${r.on} add constraint ${ident(r.name)} ${r.definition}`);
};

/** The live tables of a projection, the ones its readers read, checkpoints included. */
export const liveTables = (p: SqlProjection): ProjectionTables => tablesIn(p, LIVE_SCHEMA);

/** The DDL of a projection's tables in `t` (from `tablesIn`), its checkpoints included. */
export const projectionDdl = (p: SqlProjection, t: ProjectionTables): string =>
  `${p.ddl(t)};\n${checkpointDdl(t)}`;

const shadowSchema = (p: SqlProjection): string => `rebuild_${p.name}`;
export const dlqTopic = (p: SqlProjection, namespace = 'lectern'): string =>
  dlqTopicOf(namespace, `projection.${p.name}`);
const groupOf = (p: SqlProjection, namespace: string): string => `${namespace}.projection.${p.name}`;

/**
 * Applies events to a projection's tables in one transaction with its
 * per-stream checkpoints: events a stream has already applied (a redelivery,
 * a relay's duplicate after a crash) are dropped, so every event counts once.
 * Events in `redriven` (ids of dead letters redriven for this projection)
 * are applied although their stream is past them: that is the point of a
 * redrive. A checkpoint never moves back.
 * Returns the events actually applied.
 *
 * The caller passes only events of the projection's `eventTypes`. Exported
 * for the projection spec (`infra/src/testing/projection-spec.ts`), which
 * applies its events through this path and no other.
 */
export const applyBatch = async (
  tx: SqlExecutor,
  p: SqlProjection,
  t: ProjectionTables,
  events: readonly RecordedEvent[],
  redriven: ReadonlySet<string> = new Set(),
  restored: ReadonlySet<string> = new Set(),
): Promise<RecordedEvent[]> => {
  const streams = [...new Set(events.map((e) => e.streamId))];
  const rows = await tx.query<{ stream_id: string; revision: string }>(
    `select stream_id, revision from ${t[CHECKPOINTS]} where stream_id = any($1::text[])`,
    [streams],
  );
  const seen = new Map(rows.map((r) => [r.stream_id, Number(r.revision)]));
  const fresh: RecordedEvent[] = [];
  /** Events past their stream's checkpoint, or restored by an audit: new to the ledger. */
  const counted = new Set<string>();
  for (const e of events) {
    const at = seen.get(e.streamId) ?? -1;
    const past = e.revision <= at;
    if (past && !redriven.has(e.id) && !restored.has(e.id)) continue;
    // A redriven event was counted when it was dead-lettered.
    if (!past || restored.has(e.id)) counted.add(e.id);
    seen.set(e.streamId, Math.max(at, e.revision));
    fresh.push(e);
  }
  if (fresh.length === 0) return fresh;
  await p.apply(tx, fresh, t);
  await advanceCheckpoints(
    tx,
    t,
    ledgerRows(fresh, (e) => counted.has(e.id)),
  );
  return fresh;
};

/**
 * Events per page a rebuild reads, by engine. On PostgreSQL the next page is
 * read on another connection while this one is applied, and Node's CPU is
 * the limit: with pages of 1,000 rather than 5,000 the profiles rebuild
 * spent a quarter less of it, the same gain as a young generation four times
 * as large (`--max-semi-space-size=64`), so what it saves is garbage
 * collection of pages that outlived the young generation. PGlite runs each
 * query on the one thread at a fixed cost: there, pages of 1,000 made the
 * history rebuild a third slower, so it keeps 5,000.
 */
export const REBUILD_PAGE_SIZE: Readonly<Record<Sql['kind'], number>> = { postgres: 1000, pglite: 5000 };

/**
 * How many statements of a `loadSql` run side by side, each on a part of
 * the events: each is one backend's work, so on PostgreSQL one per core of
 * the machines this was measured on (two), beside the ledger's statement;
 * PGlite takes its one connection's statements in turn.
 */
export const LOAD_PARTS: Readonly<Record<Sql['kind'], number>> = { postgres: 2, pglite: 1 };

export type RebuildOptions = Readonly<{
  /** Events per page read; default `REBUILD_PAGE_SIZE` of the engine. */
  pageSize?: number;
  /** Swap the rebuilt model in even where it differs from the live one (or could not be compared). */
  acceptDifferences?: boolean;
  /** How long the live model may take to reach the rebuilt one's position; default 60 s. */
  agreeWithinMs?: number;
  /** Replay and compare as a rebuild does, and never swap: what `lectern diff` shows. */
  compareOnly?: boolean;
  /**
   * With `compareOnly`: compare the live model as it stood at this global
   * position (`lectern diff --at P`, see `verifyTableAt`): a second scratch
   * model replays only the events at or below it.
   */
  at?: number;
  /** Told how far the work has got, after each page it reads and as it moves from phase to phase. */
  onProgress?: (progress: RebuildProgress) => void;
}>;

/** How far a rebuild (or a diff) has got. */
export type RebuildProgress = Readonly<{
  /**
   * `load`: the first replay running in the database (`loadSql`), which
   * tells nothing until it ends; `replay`: reading the store into the
   * scratch tables; `agree`: waiting for the live model to reach them;
   * `compare`: bringing them to the live checkpoints and comparing, under
   * the lock.
   */
  phase: 'load' | 'replay' | 'agree' | 'compare';
  /**
   * Events read from the store's feed so far, of every type; of the model's
   * types only where its first replay ran in the database (`loadSql`).
   */
  eventsRead: number;
  /** The highest global position read so far; null before the first. */
  position: number | null;
  /** The store's highest position when the work began; null for an empty store. */
  headPosition: number | null;
}>;

/** The comparison of the rebuilt model with the live one at one position. */
export type RebuildVerification = Readonly<{
  /** Compared at one position; false only for an accepted rebuild whose live model never got there. */
  verified: boolean;
  /** The highest global position of that cut (null when nothing was compared). */
  position: number | null;
  /** Every table matched. */
  matches: boolean;
  /** With `at`, each table's rows that moved on since that position too (`TableVerificationAt`). */
  tables: readonly TableVerification[];
  /** The position the live model was judged as of (`RebuildOptions.at`); absent for a comparison now. */
  at?: number;
}>;

export type RebuildResult = Readonly<{
  events: number;
  seconds: number;
  /** Whether the rebuilt tables are live now. */
  swapped: boolean;
  verification: RebuildVerification;
}>;

/** A rebuild that could not be compared with the live model, and was not accepted unverified. */
export class RebuildNotVerified extends Error {
  override readonly name = 'RebuildNotVerified';
  readonly projection: string;
  readonly reason: string;
  constructor(projection: string, reason: string) {
    super(`rebuild of ${projection} not verified: ${reason}`);
    this.projection = projection;
    this.reason = reason;
  }
}

export type ProjectionRunner = Readonly<{
  projection: SqlProjection;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
  /** Lag and, when it has lag but has not advanced for `stallAfterMs`, for how long (see progress.ts). */
  progress(): ConsumerProgress;
  /**
   * Rebuilds from position zero into shadow tables, verifies them against
   * the live model at one position, and swaps them in when they match (or
   * `acceptDifferences`); see `rebuild` below.
   */
  rebuild(opts?: RebuildOptions): Promise<RebuildResult>;
  /** Resolves true once the model has applied `position` of `streamId`, false after `timeoutMs`. */
  waitFor(streamId: string, position: number, timeoutMs: number): Promise<boolean>;
}>;

/**
 * Runs one PostgreSQL projection from the log.
 *
 * 1. Each batch of a partition is applied in one transaction with its
 *    checkpoints (exactly-once in effect), then the log offset is committed.
 * 2. A failing batch is retried with backoff; if it keeps failing, it is
 *    split until the events that fail alone are found (dead-letters.ts).
 *    Such an event goes to the dead-letter topic with its error, and the
 *    stream moves on, when the database refused its data (SQLSTATE class 22
 *    or 23) or the projection's own code threw on it while the database
 *    answers; a database that is down or refusing everything (a missing
 *    table, say) dead-letters nothing and is retried until it is back.
 * 3. Lag is measured in events (log end minus committed offset) and in
 *    milliseconds (event age when applied); lag without progress for
 *    `stallAfterMs` is a stall (progress.ts).
 */
export const projectionRunner = async (opts: {
  projection: SqlProjection;
  sql: Sql;
  log: MessageLog;
  store: EventStore;
  logger: Logger;
  metrics?: Metrics;
  maxAttempts?: number;
  retryDelayMs?: number;
  /** Prefix of topics and consumer groups; default `lectern`. */
  namespace?: string;
  /** Partitions of a topic the runner has to create; default 4, as the relay. */
  partitions?: number;
  /** With lag and no progress for this long, the runner counts as stalled (/readyz, metric); default 60 s. */
  stallAfterMs?: number;
  /** How often lag and progress are sampled; default 5 s. */
  progressIntervalMs?: number;
  /** Epoch milliseconds now, for the stall limit; default `Date.now`. */
  now?: () => number;
}): Promise<ProjectionRunner> => {
  const p = opts.projection;
  const namespace = opts.namespace ?? 'lectern';
  const topics = p.contexts.map((c) => topicOf(c, namespace));
  const reads = new Set(p.eventTypes);
  const group = groupOf(p, namespace);
  const sql = opts.sql;
  const log = opts.logger.child({ projection: p.name });
  const live = liveTables(p);
  const attempts = opts.maxAttempts ?? 5;
  const baseDelay = opts.retryDelayMs ?? 100;
  const applied = new EventEmitter();
  applied.setMaxListeners(0);

  await migrate(sql, 'projection_status', projectionStatusMigrations);
  await migrate(sql, `projection_${p.name}`, [
    sqlMigration(
      `${p.name}_v${p.version}`,
      projectionDdl(p, live),
      Object.values(live)
        .map((t) => `drop table if exists ${t};`)
        .join('\n'),
    ),
  ]);
  await addLedger(sql, p);
  await sql.query(
    `insert into projection_status (name, version) values ($1, $2)
     on conflict (name) do update set version = excluded.version`,
    [p.name, p.version],
  );

  const transact = async (
    t: ProjectionTables,
    events: readonly RecordedEvent[],
    redriven?: ReadonlySet<string>,
  ): Promise<RecordedEvent[]> => {
    const fresh = await sql.transaction(async (tx) => {
      const done = await applyBatch(tx, p, t, events, redriven);
      if (done.length && t === live) {
        const last = done[done.length - 1]!;
        await tx.query(
          `update projection_status set applied_events = applied_events + $2, last_position = $3,
             last_event_at = $4, last_applied_at = now() where name = $1`,
          [p.name, done.length, last.position, last.occurredAt],
        );
      }
      return done;
    });
    if (fresh.length && t === live) {
      const last = fresh[fresh.length - 1]!;
      opts.metrics?.projectionApplied.inc({ projection: p.name }, fresh.length);
      opts.metrics?.projectionLagMs.set(
        { projection: p.name },
        Math.max(0, Date.now() - Date.parse(last.occurredAt)),
      );
      applied.emit('applied');
    }
    return fresh;
  };

  const consumerName = `projection.${p.name}`;
  const dlq = deadLetterSender({
    log: opts.log,
    namespace,
    consumer: consumerName,
    label: p.name,
    logger: log,
    metrics: opts.metrics,
  });

  /** Whether an event that fails alone is to blame, rather than the database (see 2. above). */
  const isPoison = async (error: unknown): Promise<boolean> => {
    const code = (error as { code?: unknown })?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^2[23]/.test(code);
    // Not the database's answer: the projection's code threw, or the connection failed.
    return sql.query('select 1').then(
      () => true,
      () => false,
    );
  };

  const handleBatch = async (batch: Batch): Promise<void> => {
    const decoded: { message: LogMessage; event: RecordedEvent }[] = [];
    for (const message of batch.messages) {
      try {
        decoded.push({ message, event: fromLogMessage(message) });
      } catch (error) {
        // Not an event: no retry can make it one.
        await dlq.send(message, error, 1);
      }
    }
    // What the model does not read is only acknowledged (the offset commit).
    const relevant = decoded.filter((d) => reads.has(d.event.type));
    const redriven = new Set(
      relevant.filter((d) => d.message.headers[REDRIVE_FOR] === consumerName).map((d) => d.event.id),
    );
    const dead = await applyIsolating(relevant, {
      apply: (part) =>
        messageSpans(
          `apply ${p.name}`,
          part.map((d) => d.message.headers.traceparent),
          { attributes: { 'lectern.projection': p.name, 'lectern.event.count': part.length } },
        ).run(() =>
          transact(
            live,
            part.map((d) => d.event),
            redriven,
          ).then(() => {}),
        ),
      isPoison,
      deadLetter: (d, error, tries) => dlq.send(d.message, error, tries),
      attempts,
      baseDelayMs: baseDelay,
      onRetry: (error, attempt) => {
        opts.metrics?.consumerRetries.inc({ consumer: p.name });
        log.warn({ err: error, attempt }, 'projection batch failed; retrying');
      },
    });
    if (dead.length === 0) return;
    // The stream moves past a dead-lettered event, so that read-your-writes
    // waiting for its position is answered; never behind what applied. The
    // ledger counts it (the audit finds it accounted for, in the dead-letter
    // topic), once: not again when it fails again after a redrive.
    await sql.transaction(async (tx) => {
      const events = dead.map((d) => d.event);
      const rows = await tx.query<{ stream_id: string; revision: string }>(
        `select stream_id, revision from ${live[CHECKPOINTS]} where stream_id = any($1::text[]) for update`,
        [[...new Set(events.map((e) => e.streamId))]],
      );
      const at = new Map(rows.map((r) => [r.stream_id, Number(r.revision)]));
      await advanceCheckpoints(
        tx,
        live,
        ledgerRows(events, (e) => e.revision > (at.get(e.streamId) ?? -1)),
      );
    });
  };

  let consumer: Consumer | null = null;
  const watch = progressWatch({
    name: p.name,
    group,
    topics,
    log: opts.log,
    metrics: opts.metrics,
    ...(opts.stallAfterMs === undefined ? {} : { stallAfterMs: opts.stallAfterMs }),
    ...(opts.progressIntervalMs === undefined ? {} : { intervalMs: opts.progressIntervalMs }),
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  const start = async (): Promise<void> => {
    if (consumer) return;
    // A projection may start before anything was published to its topics.
    await opts.log.ensureTopics([
      ...topics.map((topic) => ({ topic, partitions: opts.partitions ?? 4 })),
      { topic: dlq.topic, partitions: 1 },
    ]);
    consumer = opts.log.consume({ groupId: group, topics, handleBatch, maxBatchSize: 1000 });
    await consumer.ready;
    watch.start();
  };
  const stop = async (): Promise<void> => {
    watch.stop();
    const c = consumer;
    consumer = null;
    await c?.stop();
  };

  return {
    projection: p,
    start,
    stop,
    isRunning: () => consumer?.isRunning() ?? false,
    progress: watch.progress,

    /**
     * 1. Create the tables afresh in a shadow schema.
     * 2. Replay the store's feed from position zero into them, page by page,
     *    while the live model keeps answering queries and applying events.
     * 3. Agree on one position: wait (at most `agreeWithinMs`) until the live
     *    model has applied, in every stream, at least what the shadow has
     *    (the live consumer, here or in another process, lags the store by
     *    the relay and the log). Then pause this process's consumer, and
     *    bring each stream of the shadow to exactly the live checkpoint of
     *    that stream, never past it.
     * 4. In one transaction that first locks the live tables, checkpoints
     *    first (a consumer's transaction reads them first, so one in another
     *    process waits): if the checkpoints differ (such a consumer applied
     *    more between 3 and the lock), go again from 3, and on PostgreSQL
     *    take the lock first this time, so that 3 runs while no consumer
     *    anywhere can move the live model (steady writes would otherwise
     *    move it in every window). Else
     *    verify: per table, row counts and a checksum over every row
     *    (rebuild-verify.ts). When they match, or the caller accepts
     *    differences, swap shadow and live tables: queries see the old
     *    tables or the new ones, never neither. When they differ, keep the
     *    live model and report which keys differ.
     * 5. Resume the consumer: what it delivers again is dropped by the
     *    checkpoints, and what the shadow was not brought to in 3 (past the
     *    live checkpoints) it delivers as it would have to the live model.
     *
     * A diff as of a position (`at`, with `compareOnly`) replays the events
     * at or below it into a second scratch schema as well, in the same pass,
     * and 4 compares the live model with that one, the shadow (every event
     * the live model applied) telling which rows moved on since
     * (`verifyTableAt`). `onProgress` hears of each page and phase.
     */
    rebuild(rebuildOpts = {}) {
      return exclusively(sql, p.name, log, async () => {
        const started = performance.now();
        const pageSize = rebuildOpts.pageSize ?? REBUILD_PAGE_SIZE[sql.kind];
        const agreeWithinMs = rebuildOpts.agreeWithinMs ?? 60_000;
        const at = rebuildOpts.at;
        if (at !== undefined && !rebuildOpts.compareOnly)
          throw new Error('a rebuild as of a position only compares (compareOnly)');
        const schema = shadowSchema(p);
        const shadow = tablesIn(p, schema);
        // The store may send only the metadata the model declares it reads.
        const feedHints = p.metadata ? { metadata: p.metadata } : {};
        // With `at`: the model as the events up to that position make it, beside the shadow (all of them).
        const atSchema = `diffat_${p.name}`;
        const atShadow = at === undefined ? null : tablesIn(p, atSchema);
        const dropScratch = async () => {
          await sql.query(`drop schema if exists ${ident(schema)} cascade`);
          if (atShadow) await sql.query(`drop schema if exists ${ident(atSchema)} cascade`);
        };
        await dropScratch();
        await sql.query(`create schema ${ident(schema)}`);
        await sql.exec(projectionDdl(p, shadow));
        if (atShadow) {
          await sql.query(`create schema ${ident(atSchema)}`);
          await sql.exec(projectionDdl(p, atShadow));
        }
        let events = 0;
        let eventsAt = 0;
        /** Whether the first replay ran in the database (`loadSql`). */
        let inDatabase = false;
        const progress = {
          phase: 'replay' as RebuildProgress['phase'],
          eventsRead: 0,
          position: null as number | null,
          headPosition: rebuildOpts.onProgress ? await opts.store.headPosition() : null,
        };
        const report = (page: readonly RecordedEvent[] = [], phase = progress.phase) => {
          progress.phase = phase;
          progress.eventsRead += page.length;
          for (const e of page) progress.position = Math.max(progress.position ?? 0, e.position);
          rebuildOpts.onProgress?.({ ...progress });
        };
        report();
        const upToAt = (events: readonly RecordedEvent[]) =>
          at === undefined ? [] : events.filter((e) => e.position <= at);
        /**
         * The store's feed after `from`, page by page, with only the metadata
         * the model declares. The next page is read while the caller applies
         * this one: on PostgreSQL they run on two connections, and decoding
         * dominates the read.
         */
        const pagesAfter = async function* (from: string) {
          let next = opts.store.readAll(from, pageSize, feedHints);
          for (;;) {
            const page = await next;
            if (page.length === 0) return;
            next = opts.store.readAll(page[page.length - 1]!.cursor, pageSize, feedHints);
            next.catch(() => {});
            yield page;
          }
        };
        /**
         * Replays the feed after `from` into the shadow, events of a stream
         * only up to `upTo`'s revision of it when given; returns the cursor
         * reached.
         */
        const replay = async (from: string, upTo?: ReadonlyMap<string, number>): Promise<string> => {
          let cursor = from;
          for await (const page of pagesAfter(from)) {
            cursor = page[page.length - 1]!.cursor;
            const mine = withDeclaredMetadata(
              p,
              page.filter((e) => reads.has(e.type) && (!upTo || e.revision <= (upTo.get(e.streamId) ?? -1))),
            );
            if (mine.length) events += (await transact(shadow, mine)).length;
            const mineAt = upToAt(mine);
            if (atShadow && mineAt.length) eventsAt += (await transact(atShadow, mineAt)).length;
            report(page);
          }
          return cursor;
        };
        /**
         * What a first replay into `t` (in `inSchema`) goes without, dropped
         * now: the secondary indexes, and the keys too with `keys`. Returns
         * the statements that make them again, to run after the load.
         */
        const dropForLoad = async (t: ProjectionTables, inSchema: string, keys: boolean) => [
          ...(keys
            ? await dropKeys(
                sql,
                p.tables.map((name) => t[name]!),
              )
            : []),
          ...(await dropSecondaryIndexes(sql, inSchema)),
        ];
        /**
         * The first replay run in the database (`loadSql`), where the store
         * keeps its events there: every event up to the store's head as it
         * begins, in `LOAD_PARTS` statements side by side, with the
         * checkpoints and ledgers made beside them by one more. Returns the
         * cursor reached, or null where it cannot run (and `bulk` replays).
         */
        const loadInDatabase = async (): Promise<string | null> => {
          if (!p.loadSql || atShadow) return null;
          const slice = { upTo: await opts.store.headCursor(), types: p.eventTypes };
          const all = opts.store.feedRelation(sql, slice);
          if (all === null) return null;
          report([], 'load');
          const deferred = await dropForLoad(shadow, schema, true);
          const parts = LOAD_PARTS[sql.kind];
          let ledger: { events: string; position: string | null } | undefined;
          await sideBySide([
            ...Array.from({ length: parts }, (_, i) =>
              sql.query(p.loadSql!(shadow, opts.store.feedRelation(sql, { ...slice, part: [i, parts] })!)),
            ),
            (async () => {
              [ledger] = await sql.query<{ events: string; position: string | null }>(
                `with kept as (
                   insert into ${shadow[CHECKPOINTS]} (stream_id, revision, position, applied, digest)
                   select stream_id, max(revision), max(position), count(*), bit_xor(${eventDigestSql('event_id')})
                     from ${all} e group by stream_id
                   returning position, applied)
                 select coalesce(sum(applied), 0)::text as events, max(position)::text as position from kept`,
              );
            })(),
          ]);
          for (const definition of deferred) await sql.exec(definition);
          events += Number(ledger!.events);
          progress.eventsRead += Number(ledger!.events);
          if (ledger!.position !== null) progress.position = Number(ledger!.position);
          report([], 'replay');
          inDatabase = true;
          return slice.upTo;
        };
        /**
         * The first replay, from position zero into empty tables: every event
         * of the model's types is new to them, so no page reads or writes
         * checkpoints as `applyBatch` does; they and their ledgers are kept
         * here and written once at the end. Returns the cursor reached.
         */
        const bulk = async (): Promise<string> => {
          const loaded = await loadInDatabase();
          if (loaded !== null) return loaded;
          const kept: Ledger = new Map();
          const keptAt: Ledger = new Map();
          const load = p.bulk?.(shadow);
          const loadAt = atShadow ? p.bulk?.(atShadow) : undefined;
          const deferFor = async (bulkLoad: BulkLoad | undefined, t: ProjectionTables, inSchema: string) =>
            bulkLoad ? dropForLoad(t, inSchema, bulkLoad.keysAfter ?? false) : [];
          const deferred = await deferFor(load, shadow, schema);
          const deferredAt = atShadow ? await deferFor(loadAt, atShadow, atSchema) : [];
          let cursor = START;
          for await (const page of pagesAfter(START)) {
            cursor = page[page.length - 1]!.cursor;
            const mine = withDeclaredMetadata(
              p,
              page.filter((e) => reads.has(e.type)),
            );
            const mineAt = upToAt(mine);
            if (mine.length)
              await sql.transaction(async (tx) => {
                await (load ? load.add(tx, mine) : p.apply(tx, mine, shadow));
                if (atShadow && mineAt.length)
                  await (loadAt ? loadAt.add(tx, mineAt) : p.apply(tx, mineAt, atShadow));
              });
            events += mine.length;
            eventsAt += mineAt.length;
            addToLedger(kept, mine);
            addToLedger(keptAt, mineAt);
            report(page);
          }
          // The loads' ends, then what they went without (one index at a time: the
          // server builds each with parallel workers already); the ledgers beside them,
          // on other connections on PostgreSQL (the checkpoints are tables of their own).
          await sideBySide([
            (async () => {
              await load?.finish(sql);
              await loadAt?.finish(sql);
              for (const definition of [...deferred, ...deferredAt]) await sql.exec(definition);
            })(),
            writeLedger(shadow, kept),
            atShadow ? writeLedger(atShadow, keptAt) : undefined,
          ]);
          return cursor;
        };
        /** The checkpoints and ledgers the first replay kept, written once. */
        const writeLedger = async (t: ProjectionTables, kept: Ledger): Promise<void> => {
          const streams = [...kept];
          for (let i = 0; i < streams.length; i += 20_000) {
            const chunk = streams.slice(i, i + 20_000);
            await sql.query(
              `insert into ${t[CHECKPOINTS]} (stream_id, revision, position, applied, digest)
             select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])`,
              [
                chunk.map(([id]) => id),
                chunk.map(([, k]) => k.revision),
                chunk.map(([, k]) => k.position),
                chunk.map(([, k]) => k.applied),
                chunk.map(([, k]) => digestOf(k)),
              ].map(sqlArray),
            );
          }
        };
        const bulkEnd = await bulk();
        const checkpoints = live[CHECKPOINTS]!;
        const shadowCheckpoints = shadow[CHECKPOINTS]!;
        /** Streams where the live model has applied less than the shadow. */
        const liveBehind = async (q: SqlExecutor = sql): Promise<number> =>
          Number(
            (
              await q.query<{ n: string }>(
                `select count(*)::text as n from ${shadowCheckpoints} s
                 left join ${checkpoints} l on l.stream_id = s.stream_id
                where l.revision is null or l.revision < s.revision`,
              )
            )[0]!.n,
          );
        const deadline = Date.now() + agreeWithinMs;
        report([], 'agree');
        let behind = await liveBehind();
        while (behind > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          behind = await liveBehind();
        }
        const agreed = behind === 0;
        if (!agreed && (!rebuildOpts.acceptDifferences || rebuildOpts.compareOnly)) {
          await dropScratch();
          throw new RebuildNotVerified(
            p.name,
            `the live model did not reach the rebuilt one's position within ${agreeWithinMs} ms ` +
              `(${behind} streams behind): is a consumer of it running?`,
          );
        }
        // How each table's rows are hashed, asked before the lock (a refusal would end its transaction).
        const hashes = new Map(
          await Promise.all(
            p.tables.map(async (name) => [name, await rowHashOf(sql, shadow[name]!)] as const),
          ),
        );
        const old = `retired_${p.name}`;
        type Attempt =
          { kind: 'moved' } | { kind: 'done'; swapped: boolean; verification: RebuildVerification };
        /** Locks the live tables, checkpoints first (a consumer's transaction reads them first). */
        const lockLive = async (tx: SqlExecutor) => {
          const { [CHECKPOINTS]: _, ...models } = live;
          for (const t of [checkpoints, ...Object.values(models)])
            await tx.query(`lock table ${t} in access exclusive mode`);
        };
        /** Where the shadow is to be brought: each stream to its live checkpoint (agreed), else the head. */
        const target = async (q: SqlExecutor) =>
          agreed
            ? new Map(
                (
                  await q.query<{ stream_id: string; revision: string }>(
                    `select stream_id, revision::text as revision from ${checkpoints}`,
                  )
                ).map((r) => [r.stream_id, Number(r.revision)]),
              )
            : undefined;
        /** In a transaction holding `lockLive`. */
        const attempt = async (tx: SqlExecutor): Promise<Attempt> => {
          // Unverified (accepted): the shadow may be ahead, never behind.
          const [differ] = await tx.query<{ n: string; position: string | null }>(
            agreed
              ? `select count(*) filter (where l.revision is distinct from s.revision)::text as n,
                      max(coalesce(l.position, s.position))::text as position
                 from ${checkpoints} l full join ${shadowCheckpoints} s on s.stream_id = l.stream_id`
              : `select count(*) filter (where s.revision is null or s.revision < l.revision)::text as n,
                      null as position
                 from ${checkpoints} l left join ${shadowCheckpoints} s on s.stream_id = l.stream_id`,
          );
          if (Number(differ!.n) > 0) return { kind: 'moved' };
          const tables = !agreed
            ? []
            : atShadow
              ? await Promise.all(
                  p.tables.map((name) =>
                    verifyTableAt(tx, name, live[name]!, atShadow[name]!, shadow[name]!, hashes.get(name)),
                  ),
                )
              : await Promise.all(
                  p.tables.map((name) =>
                    verifyTable(tx, name, live[name]!, shadow[name]!, {
                      hash: hashes.get(name)!,
                      // PGlite's one connection is `tx`'s.
                      ...(sql.kind === 'postgres' ? { rebuiltOn: sql } : {}),
                    }),
                  ),
                );
          const verification: RebuildVerification = {
            verified: agreed,
            position: differ!.position === null ? null : Number(differ!.position),
            matches: agreed && tables.every((t) => t.differingRows === 0),
            tables,
            ...(at === undefined ? {} : { at }),
          };
          if (rebuildOpts.compareOnly || (!verification.matches && !rebuildOpts.acceptDifferences))
            return { kind: 'done', swapped: false, verification };
          await tx.query(`drop schema if exists ${ident(old)} cascade`);
          await tx.query(`create schema ${ident(old)}`);
          for (const t of Object.values(live))
            await tx.query(`alter table if exists ${t} set schema ${ident(old)}`);
          for (const t of Object.values(shadow))
            await tx.query(`alter table ${t} set schema ${ident(LIVE_SCHEMA)}`);
          await tx.query(`drop schema ${ident(old)} cascade`);
          await tx.query(`drop schema ${ident(schema)} cascade`);
          await tx.query(`update projection_status set rebuilt_at = now() where name = $1`, [p.name]);
          return { kind: 'done', swapped: true, verification };
        };
        const wasRunning = consumer !== null;
        await stop();
        let outcome: Extract<Attempt, { kind: 'done' }>;
        try {
          for (let n = 1; ; n++) {
            // First without holding the live tables: the catch-up is then outside the lock.
            // A consumer in another process that applied more in between (steady writes
            // do, every time) sends it round again: from the second attempt on, on
            // PostgreSQL, the live tables are locked first, so they cannot move while the
            // shadow is brought to them (on other connections, which the lock does not
            // block). PGlite serves one process, whose consumer is stopped here, and has
            // one connection, which the lock would hold.
            const lockFirst = n > 1 && sql.kind === 'postgres';
            report([], 'compare');
            if (!lockFirst) await replay(bulkEnd, await target(sql));
            const result = await sql.transaction(async (tx) => {
              await lockLive(tx);
              if (lockFirst) await replay(bulkEnd, await target(tx));
              return attempt(tx);
            });
            if (result.kind === 'done') {
              outcome = result;
              break;
            }
            if (n >= 20)
              throw new RebuildNotVerified(
                p.name,
                'consumers elsewhere kept moving the live model ahead of every attempt to agree with it',
              );
          }
          if (!outcome.swapped) await dropScratch();
        } finally {
          if (wasRunning) await start();
        }
        if (outcome.swapped) applied.emit('applied');
        const seconds = (performance.now() - started) / 1000;
        const differingRows = outcome.verification.tables.reduce((n, t) => n + t.differingRows, 0);
        log.info(
          {
            events,
            seconds,
            inDatabase,
            swapped: outcome.swapped,
            verified: outcome.verification.verified,
            differingRows,
          },
          rebuildOpts.compareOnly
            ? 'projection compared with a replay'
            : outcome.swapped
              ? 'projection rebuilt'
              : 'projection rebuilt but not swapped in: it differs from the live model',
        );
        return {
          events: at === undefined ? events : eventsAt,
          seconds,
          swapped: outcome.swapped,
          verification: outcome.verification,
        };
      });
    },

    waitFor: (streamId, position, timeoutMs) =>
      waitForCheckpoint(sql, p.name, streamId, position, timeoutMs, applied),
  };
};

/**
 * Read-your-writes: resolves true once projection `name` has applied the
 * event at `position` of `streamId` (or a later one), false after
 * `timeoutMs`. Polls with a short, growing pause, cut short by `wake` when
 * the projection runs in this process.
 */
export const waitForCheckpoint = async (
  sql: Sql,
  name: string,
  streamId: string,
  position: number,
  timeoutMs: number,
  wake?: EventEmitter,
): Promise<boolean> => {
  const table = `${ident(LIVE_SCHEMA)}.${ident(`${name}_checkpoints`)}`;
  const deadline = Date.now() + timeoutMs;
  let pause = 2;
  for (;;) {
    const [row] = await sql.query<{ position: string }>(
      `select position from ${table} where stream_id = $1`,
      [streamId],
    );
    if (row && Number(row.position) >= position) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        wake?.off('applied', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(pause, left));
      wake?.on('applied', done);
    });
    pause = Math.min(pause * 2, 50);
  }
};
