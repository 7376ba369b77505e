import {
  ANY,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  NO_STREAM,
  START as FROM_START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  metastreamOf,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type AppendStreamState,
  type CurrentStreamState,
  type EventData,
  type JSONType,
  type Position,
  type StreamState,
} from '@kurrent/kurrentdb-client';
import { isDeepStrictEqual } from 'node:util';
import type { Actor, EventMetadata, NewEvent, RecordedEvent } from '@lectern/schemas';
import {
  EventIdConflict,
  START,
  WrongExpectedRevision,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type FeedCursor,
  type FeedEvent,
  type StreamMetadata,
  type Subscription,
} from '../ports/event-store.ts';

// ---------------------------------------------------------------------------
// Pure mapping between the port and KurrentDB (unit-tested without a server).
// ---------------------------------------------------------------------------

/** `esdb://` is the EventStoreDB scheme; the client still accepts it but warns on every start. */
export const normalizeConnectionString = (url: string): string =>
  url.replace(
    /^esdb(\+discover)?:\/\//i,
    (_, discover: string | undefined) => `kurrentdb${discover ?? ''}://`,
  );

/** A feed cursor is the `<commit>:<prepare>` position of the last event read; bigints keep it exact. */
export const formatCursor = (position: Position): FeedCursor => `${position.commit}:${position.prepare}`;

/** The position a cursor names, or null for `START`. */
export const parseCursor = (cursor: FeedCursor): Position | null => {
  if (cursor === START) return null;
  const m = /^(\d+):(\d+)$/.exec(cursor);
  if (!m) throw new Error(`not a KurrentDB feed cursor: '${cursor}'`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
};

/** $all order: by commit position, then prepare position. */
export const comparePositions = (a: Position, b: Position): number => {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
};

export const compareCursors = (a: FeedCursor, b: FeedCursor): number => {
  const pa = parseCursor(a);
  const pb = parseCursor(b);
  if (pa === null) return pb === null ? 0 : -1;
  if (pb === null) return 1;
  return comparePositions(pa, pb);
};

/** The port's expected revision as the client's stream state (revisions are bigints there). */
export const toStreamState = (expected: ExpectedRevision): AppendStreamState => {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (!Number.isSafeInteger(expected) || expected < 0)
        throw new RangeError(`expected revision must be a non-negative integer, got ${expected}`);
      return BigInt(expected);
  }
};

/** The stream's revision as a WrongExpectedVersionError reports it; the server uses -1 for "no stream". */
export const actualRevision = (state: CurrentStreamState): number | 'no_stream' =>
  state === NO_STREAM || state < 0n ? 'no_stream' : Number(state);

/**
 * The envelope as a KurrentDB JSON event: `data` is the event's data; the
 * rest of the envelope goes into the event metadata, flat, with
 * `$correlationId` / `$causationId` added because KurrentDB's own projections
 * (`$by_correlation_id`) and UI read those names.
 */
export const toEventData = (event: NewEvent): EventData => {
  const m = event.metadata;
  return jsonEvent({
    id: event.id,
    type: event.type,
    // JSON.stringify on the wire accepts any JSON value; the client's type only names the common ones.
    data: (event.data === undefined ? null : event.data) as JSONType,
    metadata: {
      schemaVersion: event.schemaVersion,
      occurredAt: event.occurredAt,
      correlationId: m.correlationId,
      causationId: m.causationId,
      actor: m.actor,
      requestId: m.requestId,
      traceparent: m.traceparent,
      $correlationId: m.correlationId,
      ...(m.causationId === null ? {} : { $causationId: m.causationId }),
    },
  });
};

/** The parts of a KurrentDB recorded event the envelope is rebuilt from (the client's RecordedEvent fits). */
export type KurrentRecord = Readonly<{
  streamId: string;
  id: string;
  type: string;
  revision: bigint;
  isJson: boolean;
  created: Date;
  data: unknown;
  metadata: unknown;
  position?: Position | undefined;
}>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const stringOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Bytes that may hold JSON (metadata the client could not parse, or a binary event). */
const jsonOf = (v: unknown): unknown => {
  if (!(v instanceof Uint8Array)) return v;
  try {
    return JSON.parse(Buffer.from(v).toString('utf8'));
  } catch {
    return v;
  }
};

const actorOf = (v: unknown): Actor | null => {
  if (!isObject(v) || !Array.isArray(v.roles)) return null;
  const userId = typeof v.userId === 'string' ? v.userId : null;
  return { userId, roles: v.roles.filter((r): r is string => typeof r === 'string') };
};

/**
 * The envelope back from a recorded event. Events other writers put into the
 * store are read too (the feed is shared), so every envelope field has a
 * fallback instead of a hard failure: schema version 1, the server's creation
 * time, the event id as correlation id.
 */
export const toRecordedEvent = (record: KurrentRecord, fallbackCommit?: bigint): RecordedEvent => {
  const commit = record.position?.commit ?? fallbackCommit;
  if (commit === undefined)
    throw new Error(
      `KurrentDB returned event ${record.id} without its position (servers before 22.6 do not send it)`,
    );
  const meta = jsonOf(record.metadata);
  const md = isObject(meta) ? meta : {};
  const metadata: EventMetadata = {
    correlationId: stringOrNull(md.correlationId) ?? stringOrNull(md.$correlationId) ?? record.id,
    causationId: stringOrNull(md.causationId) ?? stringOrNull(md.$causationId),
    actor: actorOf(md.actor),
    requestId: stringOrNull(md.requestId),
    traceparent: stringOrNull(md.traceparent),
  };
  return {
    id: record.id,
    type: record.type,
    schemaVersion: typeof md.schemaVersion === 'number' ? md.schemaVersion : 1,
    occurredAt: stringOrNull(md.occurredAt) ?? record.created.toISOString(),
    data: record.isJson ? record.data : jsonOf(record.data),
    metadata,
    streamId: record.streamId,
    revision: Number(record.revision),
    position: Number(commit),
  };
};

export const toFeedEvent = (record: KurrentRecord & { position: Position }): FeedEvent => ({
  ...toRecordedEvent(record),
  cursor: formatCursor(record.position),
});

/** Events of the port's feed: not KurrentDB's own (`$` types: metadata, links, stats; `$` streams). */
export const isUserEvent = (streamId: string, type: string): boolean =>
  !streamId.startsWith('$') && !type.startsWith('$');

/**
 * Custom stream metadata is every key without a `$`; KurrentDB reserves `$`
 * keys (`$tb` truncate-before, `$maxAge`, `$acl`, …) for itself.
 */
export const customStreamMetadata = (raw: unknown): StreamMetadata | null => {
  const obj = jsonOf(raw);
  if (!isObject(obj)) return null;
  const custom = Object.fromEntries(Object.entries(obj).filter(([k]) => !k.startsWith('$')));
  return Object.keys(custom).length > 0 ? custom : null;
};

/**
 * The metadata document that replaces `raw`: the new custom fields, and the
 * old `$` fields kept. Dropping `$tb` would bring a soft-deleted stream's
 * events back into view.
 */
export const withCustomStreamMetadata = (raw: unknown, custom: StreamMetadata): Record<string, unknown> => {
  const reserved = Object.keys(custom).filter((k) => k.startsWith('$'));
  if (reserved.length > 0)
    throw new Error(`stream metadata keys starting with '$' are KurrentDB's: ${reserved.join(', ')}`);
  const obj = jsonOf(raw);
  const system = isObject(obj) ? Object.entries(obj).filter(([k]) => k.startsWith('$')) : [];
  return { ...Object.fromEntries(system), ...custom };
};

/** A JSON value as it is after the wire: undefined members dropped, `undefined` data as null. */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown;

/**
 * Whether a stored event is `event` appended to `streamId`: same stream,
 * type, schema version and data (key order aside). Metadata and `occurredAt`
 * do not count: a retry of the same command stamps them anew.
 */
export const sameContent = (stored: RecordedEvent, streamId: string, event: NewEvent): boolean =>
  stored.id === event.id &&
  stored.streamId === streamId &&
  stored.type === event.type &&
  stored.schemaVersion === event.schemaVersion &&
  isDeepStrictEqual(asJson(stored.data), asJson(event.data));

/**
 * KurrentDB answers an append whose event ids it recognizes as a success
 * without writing and without comparing content. What the stream holds where
 * the append landed (or, after a refusal, right after the expected revision)
 * decides: `none` when none of the ids is there, `same` when it is exactly
 * this batch, an `EventIdConflict` when the ids hold other content or belong
 * to another batch.
 */
export const matchStored = (
  streamId: string,
  events: readonly NewEvent[],
  stored: readonly RecordedEvent[],
): 'none' | 'same' | EventIdConflict => {
  const ids = new Set(events.map((e) => e.id));
  const overlap = stored.find((s) => ids.has(s.id));
  if (!overlap) return 'none';
  const whole = stored.length === events.length && stored.every((s, i) => s.id === events[i]!.id);
  if (!whole) return new EventIdConflict(overlap.id, streamId, 'was appended in another batch');
  const differs = stored.find((s, i) => !sameContent(s, streamId, events[i]!));
  return differs ? new EventIdConflict(differs.id, streamId) : 'same';
};

// ---------------------------------------------------------------------------
// The adapter.
// ---------------------------------------------------------------------------

const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
};

/** How many events a backwards scan for the newest user event reads at a time. */
const HEAD_PAGE = 64;
const METADATA_ATTEMPTS = 5;

/**
 * The event store on KurrentDB (or EventStoreDB 22.6 and later): streams are
 * KurrentDB streams, the feed is `$all` without KurrentDB's system events,
 * cursors are `$all` positions.
 *
 * @example
 *   const store = await kurrentEventStore('kurrentdb://127.0.0.1:2113?tls=false');
 *   await store.append('profile-1', [e], { expectedRevision: 'no_stream' });
 */
export const kurrentEventStore = async (connectionString: string): Promise<EventStore> => {
  const client = KurrentDBClient.connectionString(normalizeConnectionString(connectionString));
  const running = new Set<() => Promise<void>>();

  const readStream = async (
    streamId: string,
    opts: { backwards?: boolean; fromRevision?: number; maxCount?: number } = {},
  ): Promise<RecordedEvent[]> => {
    if (opts.maxCount !== undefined && opts.maxCount <= 0) return [];
    try {
      const resolved = await collect(
        client.readStream(streamId, {
          direction: opts.backwards ? BACKWARDS : FORWARDS,
          fromRevision:
            opts.fromRevision !== undefined ? BigInt(opts.fromRevision) : opts.backwards ? END : FROM_START,
          ...(opts.maxCount !== undefined ? { maxCount: opts.maxCount } : {}),
        }),
      );
      return resolved.flatMap((r) => (r.event ? [toRecordedEvent(r.event, r.commitPosition)] : []));
    } catch (error) {
      // A soft-deleted stream reads as not found; a tombstoned one as deleted.
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return [];
      throw error;
    }
  };

  /** Newest event of the feed, scanning back past system events the server-side filter lets through. */
  const headPosition = async (): Promise<Position | null> => {
    let from: Position | null = null;
    for (;;) {
      const page: AllStreamResolvedEvent[] = await collect(
        client.readAll({
          direction: BACKWARDS,
          fromPosition: from ?? END,
          maxCount: HEAD_PAGE,
          filter: excludeSystemEvents(),
        }),
      );
      let oldest: Position | null = null;
      for (const r of page) {
        const e = r.event;
        if (!e || (from && comparePositions(e.position, from) >= 0)) continue;
        if (isUserEvent(e.streamId, e.type)) return e.position;
        oldest = e.position;
      }
      if (page.length < HEAD_PAGE || oldest === null) return null;
      from = oldest;
    }
  };

  /**
   * When an append is rejected, the events may be there already from an
   * earlier attempt whose answer was lost: then they sit right after the
   * revision the writer expected, and the append answers as the first one
   * did, provided they are this append's events (`matchStored`).
   */
  const findExisting = async (
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedRevision,
  ): Promise<AppendResult | null> => {
    if (expected !== 'no_stream' && typeof expected !== 'number') return null;
    const found = await readStream(streamId, {
      ...(typeof expected === 'number' ? { fromRevision: expected + 1 } : {}),
      maxCount: events.length,
    });
    const match = matchStored(streamId, events, found);
    if (match instanceof EventIdConflict) throw match;
    if (match === 'none') return null;
    const last = found[found.length - 1]!;
    if (typeof expected === 'number' && found[0]!.revision !== expected + 1) return null;
    return { nextExpectedRevision: last.revision, position: last.position };
  };

  const currentRevision = async (streamId: string): Promise<number | 'no_stream'> => {
    const [last] = await readStream(streamId, { backwards: true, maxCount: 1 });
    return last ? last.revision : 'no_stream';
  };

  const readMetastream = async (streamId: string): Promise<{ revision: bigint | null; raw: unknown }> => {
    try {
      const [r] = await collect(
        client.readStream(metastreamOf(streamId), { direction: BACKWARDS, fromRevision: END, maxCount: 1 }),
      );
      return r?.event ? { revision: r.event.revision, raw: r.event.data } : { revision: null, raw: null };
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { revision: null, raw: null };
      throw error;
    }
  };

  const store: EventStore = {
    async append(streamId, events, { expectedRevision }) {
      if (events.length === 0) throw new Error('append needs at least one event');
      const streamState = toStreamState(expectedRevision);
      let result;
      try {
        result = await client.appendToStream(streamId, events.map(toEventData), { streamState });
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) {
          const again = await findExisting(streamId, events, expectedRevision);
          if (again) return again;
          throw new WrongExpectedRevision(streamId, expectedRevision, actualRevision(error.actualState));
        }
        // The server answers "deleted", not "wrong version", to stream_exists on a soft-deleted stream.
        if (error instanceof StreamDeletedError && expectedRevision === 'stream_exists')
          throw new WrongExpectedRevision(streamId, expectedRevision, 'no_stream');
        throw error;
      }
      if (!result.success) {
        // Only when the connection string sets throwOnAppendFailure=false.
        const again = await findExisting(streamId, events, expectedRevision);
        if (again) return again;
        throw new WrongExpectedRevision(streamId, expectedRevision, await currentRevision(streamId));
      }
      // The success may be the server recognizing the ids without comparing
      // content: read back where the append landed and compare (one read per
      // append, the price of refusing a reused event id).
      const nextExpectedRevision = Number(result.nextExpectedRevision);
      const stored = await readStream(streamId, {
        fromRevision: nextExpectedRevision - events.length + 1,
        maxCount: events.length,
      });
      const match = matchStored(streamId, events, stored);
      if (match instanceof EventIdConflict) throw match;
      const last = stored[stored.length - 1];
      if (match === 'none' || !last)
        throw new Error(`stream ${streamId}: revision ${nextExpectedRevision} not readable after append`);
      const commit = result.position?.commit;
      // An idempotent re-append may come back without a position (older servers).
      const position = commit !== undefined && commit >= 0n ? Number(commit) : last.position;
      return { nextExpectedRevision, position };
    },

    async readStream(streamId, opts = {}) {
      return readStream(streamId, {
        backwards: opts.direction === 'backwards',
        ...(opts.fromRevision !== undefined ? { fromRevision: opts.fromRevision } : {}),
        ...(opts.maxCount !== undefined ? { maxCount: opts.maxCount } : {}),
      });
    },

    async readFirstEvents(streamIds) {
      // No batch read in the protocol: one read of one event per stream, a few dozen in flight.
      const firsts = new Map<string, RecordedEvent>();
      const ids = [...new Set(streamIds)];
      for (let i = 0; i < ids.length; i += 32) {
        const reads = await Promise.all(ids.slice(i, i + 32).map((id) => readStream(id, { maxCount: 1 })));
        for (const [first] of reads) if (first) firsts.set(first.streamId, first);
      }
      return firsts;
    },

    async readCorrelation(correlationId, opts = {}) {
      // KurrentDB's `$by_correlation_id` system projection links every event
      // whose metadata has `$correlationId` (its default property, which
      // `toEventData` writes) into `$bc-<id>`. It must be running (projections
      // enabled on the server, that one started); it follows appends
      // asynchronously. A link whose event was deleted resolves to nothing.
      if (opts.maxCount !== undefined && opts.maxCount <= 0) return [];
      try {
        const resolved = await collect(
          client.readStream(`$bc-${correlationId}`, {
            direction: FORWARDS,
            fromRevision: FROM_START,
            resolveLinkTos: true,
          }),
        );
        const events = resolved.flatMap((r) =>
          r.event && isUserEvent(r.event.streamId, r.event.type)
            ? [toRecordedEvent(r.event, r.commitPosition)]
            : [],
        );
        // Links are in the order the projection wrote them: the global order.
        events.sort((a, b) => a.position - b.position);
        return opts.maxCount === undefined ? events : events.slice(0, opts.maxCount);
      } catch (error) {
        if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return [];
        throw error;
      }
    },

    // Hints ignored: every event and all its metadata, which a reader filters itself.
    async readAll(after, limit) {
      if (limit <= 0) return [];
      let from: Position | null = parseCursor(after);
      const out: FeedEvent[] = [];
      for (;;) {
        // One more than needed: a forward read from a position includes the event at it.
        const want = limit - out.length + 1;
        const page: AllStreamResolvedEvent[] = await collect(
          client.readAll({
            direction: FORWARDS,
            fromPosition: from ?? FROM_START,
            maxCount: want,
            filter: excludeSystemEvents(),
          }),
        );
        let newest: Position | null = from;
        for (const r of page) {
          const e = r.event;
          if (!e || (newest && comparePositions(e.position, newest) <= 0)) continue;
          newest = e.position;
          if (isUserEvent(e.streamId, e.type)) out.push(toFeedEvent(e));
          if (out.length === limit) return out;
        }
        // A short page is the end of $all; a full page of skipped events means read on.
        if (page.length < want || newest === from) return out;
        from = newest;
      }
    },

    async headCursor() {
      const head = await headPosition();
      return head ? formatCursor(head) : START;
    },

    // Its events live in KurrentDB, never in a SQL database.
    feedRelation: () => null,

    // An event's global position is its commit position (toRecordedEvent), and the newest has the highest.
    async headPosition() {
      const head = await headPosition();
      return head ? Number(head.commit) : null;
    },

    subscribeToAll(after, handler, opts = {}) {
      const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 500));
      const from = parseCursor(after);
      const feed = client.subscribeToAll(
        { fromPosition: from ?? FROM_START, filter: excludeSystemEvents() },
        { highWaterMark: batchSize },
      );
      // The read loop reports failures through `done`; without a listener an
      // error emitted between two reads would crash the process instead.
      feed.on('error', () => {});
      const events: AsyncIterator<{ event?: AllStreamRecordedEvent }> = feed[Symbol.asyncIterator]();

      let stopped = false;
      let markCaughtUp!: () => void;
      const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));

      // Two ways to know the catch-up is over, whichever comes first:
      // 1. the server's caught-up message (KurrentDB 23.10+). It arrives
      //    after the events before it were queued in the stream's buffer, so
      //    it counts once everything taken or buffered by then is handled;
      // 2. the feed's head read at subscription time has been handled (or
      //    there was nothing after `after`), for servers without (1).
      let taken = 0;
      let handled = 0;
      let caughtUpAfter: number | null = null;
      let handledUpTo: Position | null = from;
      let head: Position | null | undefined;
      const checkCaughtUp = (): void => {
        if (caughtUpAfter !== null && handled >= caughtUpAfter) markCaughtUp();
        if (head === null || (head && handledUpTo && comparePositions(handledUpTo, head) >= 0))
          markCaughtUp();
      };
      feed.on('caughtUp', () => {
        caughtUpAfter ??= taken + feed.readableLength;
        checkCaughtUp();
      });
      headPosition().then(
        (h) => {
          head = h;
          checkCaughtUp();
        },
        () => {},
      );

      let released: Promise<void> | null = null;
      const release = (): Promise<void> =>
        (released ??= (async () => {
          feed.removeAllListeners('caughtUp');
          await feed.unsubscribe().catch(() => {});
          feed.destroy();
        })());

      const run = async (): Promise<void> => {
        let seen: Position | null = from;
        try {
          while (!stopped) {
            // 1. Take what is buffered, up to a batch, waiting only for the first event.
            const batch: FeedEvent[] = [];
            do {
              const next = await events.next();
              if (stopped) return;
              if (next.done) throw new Error('KurrentDB ended the $all subscription');
              taken++;
              const e = next.value.event;
              if (!e || (seen && comparePositions(e.position, seen) <= 0)) continue;
              seen = e.position;
              if (isUserEvent(e.streamId, e.type)) batch.push(toFeedEvent(e));
            } while (batch.length < batchSize && feed.readableLength > 0);
            // 2. Hand it over; the next batch waits for the handler.
            if (batch.length > 0) await handler(batch);
            handled = taken;
            handledUpTo = seen;
            checkCaughtUp();
          }
        } catch (error) {
          // Stopping destroys the stream under a pending read: not a failure.
          if (!stopped) throw error;
        } finally {
          await release();
          markCaughtUp();
        }
      };

      const done = run();
      const stop = async (): Promise<void> => {
        stopped = true;
        await release();
        await done.catch(() => {});
      };
      running.add(stop);
      // Also keeps a failure nobody awaits from being an unhandled rejection.
      done.then(
        () => running.delete(stop),
        () => running.delete(stop),
      );
      const subscription: Subscription = { caughtUp, done, stop };
      return subscription;
    },

    async getStreamMetadata(streamId) {
      const { raw } = await readMetastream(streamId);
      return customStreamMetadata(raw);
    },

    async setStreamMetadata(streamId, metadata) {
      // Read-modify-write of the metadata stream, guarded by its revision so
      // a concurrent soft delete's `$tb` is never overwritten.
      for (let attempt = 1; ; attempt++) {
        const { revision, raw } = await readMetastream(streamId);
        const document = withCustomStreamMetadata(raw, metadata);
        try {
          await client.appendToStream(
            metastreamOf(streamId),
            jsonEvent({ type: '$metadata', data: document }),
            {
              streamState: revision ?? NO_STREAM,
            },
          );
          return;
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError) || attempt >= METADATA_ATTEMPTS) throw error;
        }
      }
    },

    async deleteStream(streamId, { expectedRevision }) {
      // Deleting knows no stream_exists: check it as "the revision it has now".
      let state: StreamState;
      if (expectedRevision === 'stream_exists') {
        const actual = await currentRevision(streamId);
        if (actual === 'no_stream') throw new WrongExpectedRevision(streamId, expectedRevision, actual);
        state = BigInt(actual);
      } else {
        state = toStreamState(expectedRevision) as StreamState;
      }
      try {
        await client.deleteStream(streamId, { expectedRevision: state });
      } catch (error) {
        if (error instanceof WrongExpectedVersionError)
          throw new WrongExpectedRevision(streamId, expectedRevision, actualRevision(error.actualState));
        if (error instanceof StreamNotFoundError) {
          if (expectedRevision === 'any' || expectedRevision === 'no_stream') return;
          throw new WrongExpectedRevision(streamId, expectedRevision, 'no_stream');
        }
        throw error;
      }
    },

    compareCursors,

    async ping() {
      await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
    },

    async close() {
      await Promise.all([...running].map((stop) => stop()));
      await client.dispose();
    },
  };
  return store;
};
