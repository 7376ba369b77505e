import { sqlMigration } from '../sql/migrate.ts';

/**
 * The first `es_append`: it moved the stream's revision before checking the
 * expectation, so every conflict wrote (and WAL-logged) the stream row before
 * rolling back. Kept to migrate down to.
 */
const appendBumpingFirst = `
    create or replace function es_append(p_stream text, p_expected text, p_events jsonb)
    returns table (next_revision bigint, last_position bigint) language plpgsql as $$
    declare
      v_revision bigint;
      v_truncate bigint;
      v_count int := jsonb_array_length(p_events);
    begin
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
`;

const STREAM_LOCK_CLASS = 0x65735f73; // 'es_s'

/**
 * The lock that makes one writer at a time change a stream (appends and soft
 * deletes): an advisory lock, held until commit or rollback, keyed by a class
 * of our own and the stream id's hash (two streams that share a hash only
 * queue behind each other). Not the stream row's lock: locking a row writes
 * its header, and WAL, which a refused append should not.
 */
export const lockStream = (streamParam: string): string =>
  `pg_advisory_xact_lock(${STREAM_LOCK_CLASS}, hashtext(${streamParam}))`;

/**
 * One round trip per append. The expectation is checked under the stream's
 * lock before anything is written, so a conflict, the common outcome on a hot
 * stream, rolls back having written nothing (no tuple, no WAL); an expectation
 * the committed revision already contradicts fails before taking the lock. The failed
 * check raises P0409 with the actual revision (or `no_stream`) as detail and,
 * as hint, whether any of the event ids is stored (`ids stored`). A
 * new stream's row may appear between the read and the insert only through
 * `setStreamMetadata` (no events, revision -1), which the insert overwrites.
 */
const appendCheckingFirst = `
    create or replace function es_append(p_stream text, p_expected text, p_events jsonb)
    returns table (next_revision bigint, last_position bigint) language plpgsql as $$
    declare
      v_revision bigint;
      v_truncate bigint;
      v_exists boolean;
      v_actual text;
      v_count int := jsonb_array_length(p_events);
    begin
      -- Twice: first without the lock, so an expectation that is already
      -- stale fails at once instead of queueing behind the stream's writer;
      -- then under the lock, which decides.
      for v_pass in 1..2 loop
        if v_pass = 2 then
          perform ${lockStream('p_stream')};
        end if;
        select s.revision, s.truncate_before into v_revision, v_truncate
          from es_streams s where s.stream_id = p_stream;
        v_exists := found;
        if not v_exists then
          v_revision := -1;
          v_truncate := 0;
        end if;
        v_actual := case when v_revision < v_truncate then 'no_stream' else v_revision::text end;
        if (p_expected = 'no_stream' and v_actual <> 'no_stream')
           or (p_expected = 'stream_exists' and v_actual = 'no_stream')
           or (p_expected ~ '^[0-9]+$' and (v_actual = 'no_stream' or v_revision <> p_expected::bigint)) then
          -- Whether this may be a retry of an append that committed: only then
          -- does the caller need another round trip to compare the stored events.
          raise exception using errcode = 'P0409', message = 'wrong expected revision', detail = v_actual,
            hint = case when exists (
              select 1 from jsonb_array_elements(p_events) x join es_events e on e.event_id = (x.value->>'id')::uuid
            ) then 'ids stored' else 'ids new' end;
        end if;
      end loop;
      if v_exists then
        update es_streams set revision = v_revision + v_count where stream_id = p_stream;
      else
        insert into es_streams as s (stream_id, revision) values (p_stream, v_count - 1)
          on conflict (stream_id) do update set revision = excluded.revision;
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
`;

/**
 * `es_events.transaction_id` orders the global feed: PostgreSQL commits
 * concurrent transactions out of sequence order, so a reader that trusted
 * `global_position` alone would pass over an event whose transaction commits
 * after a later position became visible (ARCHITECTURE.md §5.2). Readers only
 * return rows of transactions older than the oldest one of this database still
 * running (sql-store.ts, `FEED_HORIZON`), all of which have committed or aborted.
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
    ${appendBumpingFirst}
    `,
    `
    drop function if exists es_append(text, text, jsonb);
    drop table if exists es_events;
    drop table if exists es_streams;
    `,
  ),
  sqlMigration('002_es_append_checks_first', appendCheckingFirst, appendBumpingFirst),
  // `readCorrelation` (lectern related): one index range, in position order, not a scan.
  sqlMigration(
    '003_es_events_correlation',
    `create index if not exists es_events_correlation on es_events ((metadata->>'correlationId'), global_position)`,
    'drop index if exists es_events_correlation',
  ),
];
