import type { MetadataKey, NewEvent, RecordedEvent } from '@lectern/schemas';
import type { Sql } from '../sql/sql.ts';

/**
 * What the writer believes about a stream before appending:
 * - `'any'`: no check;
 * - `'no_stream'`: the stream has no events (or was deleted);
 * - `'stream_exists'`: the stream has at least one event;
 * - a number: the revision of the stream's last event.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

/** Which of the feed's events a relation holds (`EventStore.feedRelation`). */
export type FeedSlice = Readonly<{
  /** Every event up to this cursor in feed order (`headCursor()` as the work began), and none after. */
  upTo: FeedCursor;
  /** Of these types only. */
  types: readonly string[];
  /**
   * Only part `[i, n]` of them (`i` from 0 to `n - 1`), for `n` statements
   * side by side; default all. Each part holds whole streams.
   */
  part?: readonly [number, number];
}>;

/**
 * An opaque cursor into the global feed. Cursors of one store compare in feed
 * order with `compareCursors`; `START` is before every event.
 */
export type FeedCursor = string;
export const START: FeedCursor = '';

export type AppendResult = Readonly<{
  /** Revision of the stream's last event after the append. */
  nextExpectedRevision: number;
  /** Global position of the last appended event: the consistency token. */
  position: number;
}>;

/** An event of the global feed with the cursor just after it. */
export type FeedEvent = RecordedEvent & Readonly<{ cursor: FeedCursor }>;

/**
 * What a reader of the feed will use of it (`EventStore.readAll`). Not which
 * types: a filter on type beside the feed's order lets a planner without
 * statistics on it (PGlite, or PostgreSQL before it analyzes a new store)
 * sort every remaining event for each page, where the index gives them in order.
 */
export type FeedHints = Readonly<{ metadata?: readonly MetadataKey[] }>;

export type ReadStreamOptions = Readonly<{
  direction?: 'forwards' | 'backwards';
  /** Inclusive; defaults to the first (forwards) or last (backwards) event. */
  fromRevision?: number;
  maxCount?: number;
}>;

export type StreamMetadata = Readonly<Record<string, unknown>>;

export type Subscription = Readonly<{
  /** Resolves once the subscription has stopped and its handler is idle. */
  stop(): Promise<void>;
  /** Resolves when the subscription has caught up with the feed at least once. */
  caughtUp: Promise<void>;
  /** Rejects when the handler fails; the subscription stops then. */
  done: Promise<void>;
}>;

/**
 * The source of truth: append-only streams plus one global, totally ordered
 * feed that never skips an event (ARCHITECTURE.md §5.2).
 *
 * @example
 *   const r = await store.append('profile-42', [event], { expectedRevision: 'no_stream' });
 *   const events = await store.readStream('profile-42');
 *   const sub = store.subscribeToAll(START, async (batch) => relay(batch));
 */
export interface EventStore {
  /**
   * Appends atomically. Throws `WrongExpectedRevision` when the expectation
   * fails. Re-appending events whose ids are already in the stream, in the
   * same order and with the same content (type, schema version, data; not
   * metadata or `occurredAt`, which a retry stamps anew), returns the original
   * result without writing again. An event id the store holds with other
   * content, in another stream, or in another batch throws `EventIdConflict`.
   */
  append(
    streamId: string,
    events: readonly NewEvent[],
    opts: { expectedRevision: ExpectedRevision },
  ): Promise<AppendResult>;
  /** Events of one stream; an empty array when the stream has none or was deleted. */
  readStream(streamId: string, opts?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /**
   * The first event each of these streams holds (its creation, unless the
   * stream was deleted and resumed), read at once: a stream that is empty
   * or deleted is absent from the map.
   *
   * @example
   *   const firsts = await store.readFirstEvents(userIds.map(identity.userStreamId));
   */
  readFirstEvents(streamIds: readonly string[]): Promise<ReadonlyMap<string, RecordedEvent>>;
  /**
   * Every event of one correlation (`metadata.correlationId`: one request and
   * all it caused), across streams, in global order (`position`), at most
   * `maxCount` (default all). Soft-deleted streams' events are included where
   * the store still holds them (SQL). KurrentDB answers from its
   * `$by_correlation_id` system projection, which must be running and lags
   * appends a little (docs/operations.md#audit-and-replay).
   *
   * @example
   *   const caused = await store.readCorrelation(event.metadata.correlationId);
   */
  readCorrelation(correlationId: string, opts?: { maxCount?: number }): Promise<RecordedEvent[]>;
  /**
   * Up to `limit` events of the global feed after `after`, in feed order.
   * `hints` say what the reader will use, so a store may send less: only
   * the metadata keys in `hints.metadata` (the others absent). A store may
   * ignore them (KurrentDB does) and send all of it.
   */
  readAll(after: FeedCursor, limit: number, hints?: FeedHints): Promise<FeedEvent[]>;
  /** Cursor of the newest event in the feed (`START` when empty). */
  headCursor(): Promise<FeedCursor>;
  /**
   * The events of `slice` as a relation (a parenthesized query) of the
   * database `sql` reaches, when the store keeps its events in that very
   * database; null otherwise (KurrentDB, or a store on another database).
   * For a reader that replays in the database, set by set, rather than
   * event by event: a rebuild's first replay (`SqlProjection.loadSql`).
   * Columns: `position` bigint, `stream_id` text, `revision` bigint,
   * `event_id` uuid, `type` text, `schema_version` int, `occurred_at`
   * timestamptz, `data` jsonb, `metadata` jsonb.
   *
   * @example
   *   const events = store.feedRelation(sql, { upTo: await store.headCursor(), types: ['profile.ProfileUpdated'] });
   *   if (events) await sql.query(`insert into counts select stream_id, count(*) from ${events} e group by 1`);
   */
  feedRelation(sql: Sql, slice: FeedSlice): string | null;
  /**
   * The highest global position of any event in the store, null when it is
   * empty: where the store's positions end, for a request that names a
   * position to say whether it is past them (`lectern diff --at P`).
   *
   * @example
   *   if (at > ((await store.headPosition()) ?? -1)) throw positionBeyondHead(at);
   */
  headPosition(): Promise<number | null>;
  /**
   * Catches up from `after`, then delivers new events as they are committed,
   * in feed order, in batches of at most `batchSize` (default 500); the next
   * batch waits until the handler's promise resolves. `lingerMs` (default 0):
   * a store that is read on a wake-up waits this long after one before
   * reading, so that a burst of appends arrives as one batch rather than one
   * batch each, as a Kafka producer's `linger.ms` does; a store that pushes
   * its feed ignores it.
   */
  subscribeToAll(
    after: FeedCursor,
    handler: (batch: readonly FeedEvent[]) => Promise<void>,
    opts?: { batchSize?: number; lingerMs?: number },
  ): Subscription;
  getStreamMetadata(streamId: string): Promise<StreamMetadata | null>;
  setStreamMetadata(streamId: string, metadata: StreamMetadata): Promise<void>;
  /** Soft delete: the stream reads as empty; the events stay in the global feed; appending again resumes it. */
  deleteStream(streamId: string, opts: { expectedRevision: ExpectedRevision }): Promise<void>;
  /** Orders two cursors of this store: negative, zero or positive. */
  compareCursors(a: FeedCursor, b: FeedCursor): number;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class WrongExpectedRevision extends Error {
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly actual: number | 'no_stream';
  constructor(streamId: string, expected: ExpectedRevision, actual: number | 'no_stream') {
    super(`stream ${streamId}: expected revision ${String(expected)}, actual ${String(actual)}`);
    this.name = 'WrongExpectedRevision';
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An append carried an event id the store already holds for something else:
 * another stream, type, schema version or data, or the same event as part of
 * another batch. Event ids derive from command ids, so this is a command id
 * reused for a different request; the append writes nothing.
 *
 * @example
 *   try { await store.append(id, events, { expectedRevision }); }
 *   catch (e) { if (e instanceof EventIdConflict) answer422(e.eventId); else throw e; }
 */
export class EventIdConflict extends Error {
  readonly eventId: string;
  readonly streamId: string;
  constructor(eventId: string, streamId: string, reason = 'is stored with other content') {
    super(`append to stream ${streamId}: event ${eventId} ${reason}`);
    this.name = 'EventIdConflict';
    this.eventId = eventId;
    this.streamId = streamId;
  }
}
