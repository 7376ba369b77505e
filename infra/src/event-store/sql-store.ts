import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { METADATA_KEYS, type NewEvent, type RecordedEvent } from '@lectern/schemas';
import {
  EventIdConflict,
  START,
  WrongExpectedRevision,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type FeedCursor,
  type FeedEvent,
  type ReadStreamOptions,
  type StreamMetadata,
} from '../ports/event-store.ts';
import { migrate } from '../sql/migrate.ts';
import { sqlState, UNIQUE_VIOLATION, type Sql } from '../sql/sql.ts';
import { eventStoreMigrations, lockStream } from './sql-schema.ts';
import { subscribeByPolling } from './subscription.ts';

export { eventStoreMigrations };

const CHANNEL = 'lectern_events';

type EventRow = {
  global_position: string | number;
  /** The transaction id as text: aliased so that ORDER BY still sorts the xid8 column. */
  tx: string;
  stream_id: string;
  revision: string | number;
  event_id: string;
  type: string;
  schema_version: number;
  /** ISO 8601 in UTC to the millisecond, as `Date#toISOString` writes it (made by the query: parsing a Date costs more). */
  occurred_at: string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
};

/** The columns of an event row; `metadata`, the columns that stand for `${t}.metadata`, when not all of it is wanted. */
const columnsOf = (t: string, metadata = `${t}.metadata`): string =>
  `${t}.global_position, ${t}.transaction_id::text as tx, ${t}.stream_id, ${t}.revision,
   ${t}.event_id::text as event_id, ${t}.type, ${t}.schema_version,
   to_char(${t}.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at,
   ${t}.data${metadata ? `, ${metadata}` : ''}`;

const METADATA = new Set<string>(METADATA_KEYS);
/** A metadata key named by a reader: one of `EventMetadata`'s, never arbitrary text. */
const metadataKey = (key: string): string => {
  if (!METADATA.has(key)) throw new Error(`not a metadata key: ${key}`);
  return key;
};

/** An event type as an SQL literal; one that needs quoting is no event type of Lectern's. */
const typeLiteral = (type: string): string => {
  if (!/^[A-Za-z0-9_.-]+$/.test(type)) throw new Error(`not an event type: ${type}`);
  return `'${type}'`;
};

const toRecorded = (r: EventRow): RecordedEvent => ({
  id: r.event_id,
  type: r.type,
  schemaVersion: r.schema_version,
  occurredAt: r.occurred_at,
  data: r.data,
  metadata: r.metadata,
  streamId: r.stream_id,
  revision: Number(r.revision),
  position: Number(r.global_position),
});

/**
 * The feed's horizon: the oldest transaction of the store's own database still
 * running when this statement's snapshot was taken, or the snapshot's xmax when
 * none is. Every transaction below it has ended, and the committed ones are in
 * the snapshot, so no event can appear below it later (ARCHITECTURE.md §5.2).
 *
 * The snapshot's own xmin would do too, but it is the oldest transaction of the
 * whole server: a long one in another database (a migration, a report, an idle
 * session left in a transaction) would stall every feed on the server. Those
 * cannot write to `es_events`, so a running transaction is passed over when it
 * is known to be another database's: the server's activity view names each
 * session's database beside its xid (shown to every role), and an xid is never
 * reused. One it cannot place (a prepared transaction, a process of no
 * database) holds the feed back, as the xmin did.
 */
const FEED_HORIZON = `(select coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
     from pg_snapshot_xip(pg_current_snapshot()) as x
    where x::text::bigint % 4294967296 not in (
          select a.backend_xid::text::bigint from pg_stat_get_activity(null) as a
           where a.backend_xid is not null
             and a.datid <> (select oid from pg_database where datname = current_database())))`;

/** Cursors are `<transaction id>:<global position>` of the last event read. */
const parseCursor = (cursor: FeedCursor): [bigint, bigint] => {
  if (cursor === START) return [0n, 0n];
  const m = /^(\d+):(\d+)$/.exec(cursor);
  if (!m) throw new Error(`not a cursor of this store: ${cursor}`);
  return [BigInt(m[1]!), BigInt(m[2]!)];
};

/**
 * The event store on PostgreSQL or PGlite, one implementation for both.
 *
 * @example
 *   const store = await sqlEventStore(await pgliteSql(null));
 *   await store.append('profile-1', [e], { expectedRevision: 'no_stream' });
 */
export const sqlEventStore = async (sql: Sql): Promise<EventStore> => {
  await migrate(sql, 'event_store', eventStoreMigrations);
  const local = new EventEmitter();
  local.setMaxListeners(0);
  // PGlite lives in this process only: the in-process signal reaches every
  // subscriber, and a NOTIFY would only cost the single session a round trip.
  const shared = sql.kind === 'postgres';
  const self = randomUUID();
  const unlisten = shared
    ? await sql.listen(CHANNEL, (payload) => {
        // Our own appends were signalled in process already.
        if (payload !== self) local.emit('append');
      })
    : async () => {};

  // Notifying inside the append transaction would take PostgreSQL's global
  // notify lock at every commit and serialize all writers. Instead, after
  // commit, at most one NOTIFY is in flight per process and later appends
  // coalesce into the next one.
  let notifying = false;
  let pending = false;
  const notify = (): void => {
    local.emit('append');
    if (!shared) return;
    if (notifying) {
      pending = true;
      return;
    }
    notifying = true;
    sql
      .query(`select pg_notify('${CHANNEL}', $1)`, [self])
      .catch(() => {})
      .finally(() => {
        notifying = false;
        if (pending) {
          pending = false;
          notify();
        }
      });
  };

  const expectedText = (e: ExpectedRevision): string => (typeof e === 'number' ? String(e) : e);

  /**
   * A rejected append may be the retry of one that committed while its answer
   * was lost: when its event ids are stored, they must be this append's events
   * (same stream, type, schema version and data, compared as jsonb; metadata
   * and `occurredAt` are stamped anew by a retry), one whole batch in order.
   * Then it answers as the first one did; otherwise the ids were reused for
   * something else (EventIdConflict). Null when none of the ids is stored.
   */
  const findExisting = async (
    streamId: string,
    events: readonly NewEvent[],
    payload: string,
  ): Promise<AppendResult | null> => {
    const rows = await sql.query<{
      event_id: string;
      revision: string;
      global_position: string;
      same: boolean;
    }>(
      `select e.event_id::text as event_id, e.revision, e.global_position,
              (e.stream_id = $2 and e.type = x.value->>'type'
               and e.schema_version = (x.value->>'schemaVersion')::int
               and e.data = x.value->'data') as same
       from jsonb_array_elements($1::jsonb) with ordinality as x(value, ord)
       join es_events e on e.event_id = (x.value->>'id')::uuid
       order by x.ord`,
      [payload, streamId],
    );
    if (rows.length === 0) return null;
    const differs = rows.find((r) => !r.same);
    if (differs) throw new EventIdConflict(differs.event_id, streamId);
    const first = Number(rows[0]!.revision);
    const whole = rows.length === events.length && rows.every((r, i) => r.event_id === events[i]!.id);
    const inOrder = rows.every((r, i) => Number(r.revision) === first + i);
    if (!whole || !inOrder)
      throw new EventIdConflict(rows[0]!.event_id, streamId, 'was appended in another batch');
    const last = rows[rows.length - 1]!;
    return { nextExpectedRevision: Number(last.revision), position: Number(last.global_position) };
  };

  const store: EventStore = {
    async append(streamId, events, { expectedRevision }) {
      if (events.length === 0) throw new Error('append needs at least one event');
      const payload = JSON.stringify(
        events.map((e) => ({
          id: e.id,
          type: e.type,
          schemaVersion: e.schemaVersion,
          occurredAt: e.occurredAt,
          data: e.data,
          metadata: e.metadata,
        })),
      );
      try {
        const [row] = await sql.query<{ next_revision: string; last_position: string }>(
          'select next_revision, last_position from es_append($1, $2, $3::jsonb)',
          [streamId, expectedText(expectedRevision), payload],
        );
        notify();
        return { nextExpectedRevision: Number(row!.next_revision), position: Number(row!.last_position) };
      } catch (error) {
        // A retried append whose first attempt committed fails its revision
        // check or hits the event-id constraint: answer as the first did.
        const code = sqlState(error);
        // A plain conflict (es_append found none of the ids) needs no lookup:
        // on a hot stream that is most attempts.
        const idsStored = code === UNIQUE_VIOLATION || (error as { hint?: string }).hint !== 'ids new';
        if ((code === 'P0409' || code === UNIQUE_VIOLATION) && idsStored) {
          const again = await findExisting(streamId, events, payload);
          if (again) return again;
        }
        if (code === 'P0409') {
          const detail = (error as { detail?: string }).detail ?? 'no_stream';
          throw new WrongExpectedRevision(
            streamId,
            expectedRevision,
            detail === 'no_stream' ? detail : Number(detail),
          );
        }
        if (code === UNIQUE_VIOLATION) {
          const [s] = await sql.query<{ revision: string; truncate_before: string }>(
            'select revision, truncate_before from es_streams where stream_id = $1',
            [streamId],
          );
          const actual =
            !s || Number(s.revision) < Number(s.truncate_before) ? 'no_stream' : Number(s.revision);
          throw new WrongExpectedRevision(streamId, expectedRevision, actual);
        }
        throw error;
      }
    },

    async readStream(streamId, opts: ReadStreamOptions = {}) {
      const backwards = opts.direction === 'backwards';
      const params: unknown[] = [streamId];
      let bound = '';
      if (opts.fromRevision !== undefined) {
        params.push(opts.fromRevision);
        bound = backwards ? `and e.revision <= $2` : `and e.revision >= $2`;
      }
      params.push(opts.maxCount ?? 2 ** 31 - 1);
      const rows = await sql.query<EventRow>(
        `select ${columnsOf('e')}
         from es_events e join es_streams s on s.stream_id = e.stream_id
         where e.stream_id = $1 and e.revision >= s.truncate_before ${bound}
         order by e.revision ${backwards ? 'desc' : 'asc'} limit $${params.length}`,
        params,
      );
      return rows.map(toRecorded);
    },

    async readFirstEvents(streamIds) {
      if (streamIds.length === 0) return new Map();
      const rows = await sql.query<EventRow>(
        `select distinct on (e.stream_id) ${columnsOf('e')}
         from es_events e join es_streams s on s.stream_id = e.stream_id
         where e.stream_id = any($1::text[]) and e.revision >= s.truncate_before
         order by e.stream_id, e.revision`,
        [[...new Set(streamIds)]],
      );
      return new Map(rows.map((r) => [r.stream_id, toRecorded(r)]));
    },

    async readCorrelation(correlationId, opts = {}) {
      // The expression of the index es_events_correlation, so the planner uses it.
      const rows = await sql.query<EventRow>(
        `select ${columnsOf('e')} from es_events e
         where e.metadata->>'correlationId' = $1
         order by e.global_position limit $2`,
        [correlationId, opts.maxCount ?? 2 ** 31 - 1],
      );
      return rows.map(toRecorded);
    },

    async readAll(after, limit, hints = {}) {
      const [txid, position] = parseCursor(after);
      const params: unknown[] = [txid.toString(), position.toString(), limit];
      const param = (value: unknown) => `$${params.push(value)}`;
      // Metadata is most of an event's JSON: sending only the keys a reader
      // uses saves the server's rendering and the client's parsing of the
      // rest. Each key comes as a column of its own: building one object of
      // them on the server cost it a fifth of the read, and the client as much.
      const keys = hints.metadata?.map(metadataKey);
      const metadata = keys?.map((k, i) => `es_events.metadata -> ${param(k)}::text as m${i}`).join(', ');
      const rows = await sql.query<EventRow & Partial<Record<`m${number}`, unknown>>>(
        `select ${columnsOf('es_events', metadata)} from es_events
         where (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
           and transaction_id < ${FEED_HORIZON}
         order by transaction_id, global_position
         limit $3`,
        params,
      );
      return rows.map((r): FeedEvent => {
        if (keys) {
          const m: Record<string, unknown> = {};
          for (const [i, k] of keys.entries()) m[k] = r[`m${i}`] ?? null;
          r.metadata = m as RecordedEvent['metadata'];
        }
        return Object.assign(toRecorded(r), { cursor: `${r.tx}:${r.global_position}` });
      });
    },

    // Every transaction up to the cut's had ended when the cut was read (the feed's own rule), so
    // the relation holds the same events whenever it is read: statements side by side agree.
    feedRelation(other, { upTo, types, part = [0, 1] }) {
      if (other !== sql) return null;
      const [txid, position] = parseCursor(upTo);
      const [i, n] = part;
      if (!Number.isInteger(i) || !Number.isInteger(n) || i < 0 || i >= n)
        throw new Error(`not a part of the feed: ${i} of ${n}`);
      const ofTypes = types.length ? `type in (${types.map(typeLiteral).join(', ')})` : 'false';
      return `(select global_position as position, stream_id, revision, event_id, type, schema_version,
                      occurred_at, data, metadata
                 from es_events
                where (transaction_id, global_position) <= ('${txid}'::xid8, ${position}) and ${ofTypes}
                  ${n > 1 ? `and (hashtext(stream_id) & 2147483647) % ${n} = ${i}` : ''})`;
    },

    // Committed events only (what this snapshot sees), those the feed still holds back included.
    async headPosition() {
      const [row] = await sql.query<{ p: string | null }>(
        `select max(global_position)::text as p from es_events`,
      );
      return row?.p == null ? null : Number(row.p);
    },

    async headCursor() {
      const [row] = await sql.query<{ tx: string; global_position: string }>(
        `select transaction_id::text as tx, global_position from es_events
         where transaction_id < ${FEED_HORIZON}
         order by transaction_id desc, global_position desc limit 1`,
      );
      return row ? `${row.tx}:${row.global_position}` : START;
    },

    subscribeToAll(after, handler, opts = {}) {
      return subscribeByPolling({
        after,
        handler,
        batchSize: opts.batchSize ?? 500,
        ...(opts.lingerMs === undefined ? {} : { lingerMs: opts.lingerMs }),
        read: (cursor, limit) => store.readAll(cursor, limit),
        wake: local,
      });
    },

    async getStreamMetadata(streamId) {
      const [row] = await sql.query<{ metadata: StreamMetadata | null }>(
        'select metadata from es_streams where stream_id = $1',
        [streamId],
      );
      return row?.metadata ?? null;
    },

    async setStreamMetadata(streamId, metadata) {
      await sql.query(
        `insert into es_streams (stream_id, metadata) values ($1, $2::jsonb)
         on conflict (stream_id) do update set metadata = excluded.metadata`,
        [streamId, JSON.stringify(metadata)],
      );
    },

    async deleteStream(streamId, { expectedRevision }) {
      await sql.transaction(async (tx) => {
        // The appends' lock: an append that checked its expectation must not
        // land after the truncation it did not see.
        await tx.query(`select ${lockStream('$1')}`, [streamId]);
        const [s] = await tx.query<{ revision: string; truncate_before: string }>(
          'select revision, truncate_before from es_streams where stream_id = $1 for update',
          [streamId],
        );
        const live = s !== undefined && Number(s.revision) >= Number(s.truncate_before);
        const actual = live ? Number(s.revision) : 'no_stream';
        const ok =
          expectedRevision === 'any' ||
          (expectedRevision === 'stream_exists' && live) ||
          (expectedRevision === 'no_stream' && !live) ||
          expectedRevision === actual;
        if (!ok) throw new WrongExpectedRevision(streamId, expectedRevision, actual);
        if (live)
          await tx.query('update es_streams set truncate_before = revision + 1 where stream_id = $1', [
            streamId,
          ]);
      });
    },

    compareCursors(a, b) {
      const [ta, pa] = parseCursor(a);
      const [tb, pb] = parseCursor(b);
      return ta === tb ? Number(pa - pb) || 0 : ta < tb ? -1 : 1;
    },

    async ping() {
      await sql.query('select 1');
    },

    async close() {
      await unlisten();
      local.removeAllListeners();
    },
  };
  return store;
};
