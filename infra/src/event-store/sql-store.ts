import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NewEvent, RecordedEvent } from '@lectern/schemas';
import {
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
import { migrate, sqlMigration } from '../sql/migrate.ts';
import { sqlState, UNIQUE_VIOLATION, type Sql } from '../sql/sql.ts';
import { subscribeByPolling } from './subscription.ts';

const CHANNEL = 'lectern_events';

/**
 * `es_events.transaction_id` orders the global feed: PostgreSQL commits
 * concurrent transactions out of sequence order, so a reader that trusted
 * `global_position` alone would pass over an event whose transaction commits
 * after a later position became visible (ARCHITECTURE.md §5.2). Readers only
 * return rows of transactions older than the oldest one still running
 * (`pg_snapshot_xmin`), all of which have committed or aborted.
 */
export const eventStoreMigrations = [
  sqlMigration(
    '001_event_store',
    `
    create table if not exists es_streams (
      stream_id text primary key,
      revision bigint not null default -1,
      truncate_before bigint not null default 0,
      metadata jsonb
    );
    create table if not exists es_events (
      global_position bigserial primary key,
      transaction_id xid8 not null default pg_current_xact_id(),
      stream_id text not null,
      revision bigint not null,
      event_id uuid not null,
      type text not null,
      schema_version int not null,
      occurred_at timestamptz not null,
      data jsonb not null,
      metadata jsonb not null,
      constraint es_events_stream_revision unique (stream_id, revision),
      constraint es_events_event_id unique (event_id)
    );
    create index if not exists es_events_feed on es_events (transaction_id, global_position);

    -- One round trip per append: lock the stream row, check the expected
    -- revision, insert the events, move the stream's revision.
    create or replace function es_append(p_stream text, p_expected text, p_events jsonb)
    returns table (next_revision bigint, last_position bigint) language plpgsql as $$
    declare
      v_revision bigint;
      v_truncate bigint;
      v_count int := jsonb_array_length(p_events);
    begin
      -- Move the stream's revision first (one write, and the row lock that
      -- serializes appends to this stream); a failed check below rolls it back.
      insert into es_streams as s (stream_id, revision) values (p_stream, v_count - 1)
        on conflict (stream_id) do update set revision = s.revision + v_count
        returning s.revision - v_count, s.truncate_before into v_revision, v_truncate;
      if p_expected = 'no_stream' and v_revision >= v_truncate then
        raise exception using errcode = 'P0409', message = 'wrong expected revision', detail = v_revision::text;
      elsif p_expected = 'stream_exists' and v_revision < v_truncate then
        raise exception using errcode = 'P0409', message = 'wrong expected revision', detail = 'no_stream';
      elsif p_expected ~ '^[0-9]+$' and (v_revision < v_truncate or v_revision <> p_expected::bigint) then
        raise exception using errcode = 'P0409', message = 'wrong expected revision',
          detail = case when v_revision < v_truncate then 'no_stream' else v_revision::text end;
      end if;
      return query
        with inserted as (
          insert into es_events (stream_id, revision, event_id, type, schema_version, occurred_at, data, metadata)
          select p_stream, v_revision + e.ord, (e.value->>'id')::uuid, e.value->>'type',
                 (e.value->>'schemaVersion')::int, (e.value->>'occurredAt')::timestamptz,
                 e.value->'data', e.value->'metadata'
          from jsonb_array_elements(p_events) with ordinality as e(value, ord)
          returning global_position
        )
        select v_revision + v_count, max(global_position) from inserted;
    end $$;
    `,
    `
    drop function if exists es_append(text, text, jsonb);
    drop table if exists es_events;
    drop table if exists es_streams;
    `,
  ),
];

type EventRow = {
  global_position: string | number;
  /** The transaction id as text: aliased so that ORDER BY still sorts the xid8 column. */
  tx: string;
  stream_id: string;
  revision: string | number;
  event_id: string;
  type: string;
  schema_version: number;
  occurred_at: Date | string;
  data: unknown;
  metadata: RecordedEvent['metadata'];
};

const columnsOf = (t: string): string =>
  `${t}.global_position, ${t}.transaction_id::text as tx, ${t}.stream_id, ${t}.revision,
   ${t}.event_id::text as event_id, ${t}.type, ${t}.schema_version, ${t}.occurred_at, ${t}.data, ${t}.metadata`;

const toRecorded = (r: EventRow): RecordedEvent => ({
  id: r.event_id,
  type: r.type,
  schemaVersion: r.schema_version,
  occurredAt:
    r.occurred_at instanceof Date ? r.occurred_at.toISOString() : new Date(r.occurred_at).toISOString(),
  data: r.data,
  metadata: r.metadata,
  streamId: r.stream_id,
  revision: Number(r.revision),
  position: Number(r.global_position),
});

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

  const findExisting = async (
    streamId: string,
    events: readonly NewEvent[],
  ): Promise<AppendResult | null> => {
    const rows = await sql.query<{
      event_id: string;
      stream_id: string;
      revision: string;
      global_position: string;
    }>(
      `select event_id::text as event_id, stream_id, revision, global_position from es_events
       where event_id = any($1::uuid[]) order by revision`,
      [events.map((e) => e.id)],
    );
    if (rows.length === 0) return null;
    const sameStream = rows.every((r) => r.stream_id === streamId);
    const sameOrder = rows.length === events.length && rows.every((r, i) => r.event_id === events[i]!.id);
    if (!sameStream || !sameOrder)
      throw new Error(`events ${events.map((e) => e.id).join(', ')} were already appended differently`);
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
        if (code === 'P0409' || code === UNIQUE_VIOLATION) {
          const again = await findExisting(streamId, events);
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

    async readAll(after, limit) {
      const [txid, position] = parseCursor(after);
      const rows = await sql.query<EventRow>(
        `select ${columnsOf('es_events')} from es_events
         where (transaction_id, global_position) > ($1::text::xid8, $2::bigint)
           and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id, global_position
         limit $3`,
        [txid.toString(), position.toString(), limit],
      );
      return rows.map((r) => ({ ...toRecorded(r), cursor: `${r.tx}:${r.global_position}` }) as FeedEvent);
    },

    async headCursor() {
      const [row] = await sql.query<{ tx: string; global_position: string }>(
        `select transaction_id::text as tx, global_position from es_events
         where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         order by transaction_id desc, global_position desc limit 1`,
      );
      return row ? `${row.tx}:${row.global_position}` : START;
    },

    subscribeToAll(after, handler, opts = {}) {
      return subscribeByPolling({
        after,
        handler,
        batchSize: opts.batchSize ?? 500,
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
