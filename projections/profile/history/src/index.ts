import { profile as schema, type RecordedEvent } from '@lectern/schemas';
import { liveTable, pageByPage, type SqlProjection } from '@lectern/infra/runtime/projection';
import { copyLine, sqlArray, type SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'profile_history';

/** A row of the read model `profile_history`: one per changed field. */
export type ProfileHistoryEntry = Readonly<{
  field: string;
  oldValue: string | null;
  newValue: string | null;
  changedAt: string;
  actorId: string | null;
  eventId: string;
}>;

/** The table's columns, in the order `rowsOf` gives them. */
const COLUMNS = [
  'event_id',
  'field',
  'user_id',
  'old_value',
  'new_value',
  'changed_at',
  'actor_id',
  'position',
  'seq',
] as const;
type Row = [
  eventId: string,
  field: string,
  userId: string,
  oldValue: string | null,
  newValue: string | null,
  changedAt: string,
  actorId: string | null,
  position: number,
  seq: number,
];

/** The rows of `events`: one per (event, field), the first change of it, as the key keeps it. */
const rowsOf = function* (events: readonly RecordedEvent[]): Generator<Row> {
  for (const e of events) {
    if (!schema.isProfileEvent(e) || e.type !== 'profile.ProfileUpdated') continue;
    const d = e.data;
    const fields = new Set<string>();
    for (const [seq, c] of d.changes.entries()) {
      if (fields.has(c.field)) continue;
      fields.add(c.field);
      yield [
        e.id,
        c.field,
        d.userId,
        c.from,
        c.to,
        d.updatedAt,
        e.metadata.actor?.userId ?? null,
        e.position,
        seq,
      ];
    }
  }
};

/**
 * Inserts the rows of `events`, dropping those the table holds already (a
 * redelivery), from column arrays for `unnest`: cheaper to bind and plan
 * than a JSON recordset.
 */
const insert = async (tx: SqlExecutor, table: string, events: readonly RecordedEvent[]): Promise<void> => {
  const columns: Row[number][][] = COLUMNS.map(() => []);
  for (const row of rowsOf(events)) row.forEach((v, i) => columns[i]!.push(v));
  if (columns[0]!.length === 0) return;
  await tx.query(
    `insert into ${table} (${COLUMNS.join(', ')})
     select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
       $8::bigint[], $9::int[])
     on conflict do nothing`,
    columns.map(sqlArray),
  );
};

/** Loads the rows of `events` with COPY, for a table that cannot hold any of them yet. */
const load = async (tx: SqlExecutor, table: string, events: readonly RecordedEvent[]): Promise<void> => {
  let lines = '';
  for (const row of rowsOf(events)) lines += copyLine(row);
  if (lines) await tx.copyIn(table, COLUMNS, lines);
};

/**
 * Who changed which field of a profile, when, from what to what. Rows are
 * keyed by (event id, field), so history never holds a change twice.
 */
export const profileHistoryProjection: SqlProjection = {
  name: 'profile_history',
  version: 1,
  contexts: ['profile'],
  eventTypes: ['profile.ProfileUpdated'],
  tables: [TABLE],
  // Who made each change.
  metadata: ['actor'],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      event_id uuid not null,
      field text not null,
      user_id uuid not null,
      old_value text,
      new_value text,
      changed_at timestamptz not null,
      actor_id text,
      position bigint not null,
      seq int not null,
      primary key (event_id, field)
    );
    create index if not exists profile_history_by_user on ${t[TABLE]} (user_id, position desc, seq desc)`,
  apply: (tx, events, t) => insert(tx, t[TABLE]!, events),
  // A rebuild's first replay meets each event once, and each (event, field) once in it, so no
  // row can be there already: COPY (half the server's cost of the insert, and no conflict to
  // check), and the key and the by-user index built once after.
  bulk: (t) => pageByPage(t, (tx, events) => load(tx, t[TABLE]!, events), { keysAfter: true }),
  // `rowsOf` in SQL, where the store is in this database: one row per change, the first of each
  // field in its event, at its index in the event's changes.
  loadSql: (t, events) => `
    insert into ${t[TABLE]} (${COLUMNS.join(', ')})
    select e.event_id, c.change->>'field', (e.data->>'userId')::uuid, c.change->>'from', c.change->>'to',
           (e.data->>'updatedAt')::timestamptz, e.metadata #>> '{actor,userId}', e.position, c.seq - 1
      from ${events} e
      cross join lateral jsonb_array_elements(e.data->'changes') with ordinality as c(change, seq)
     where e.type = 'profile.ProfileUpdated'
       and not exists (
         select from jsonb_array_elements(e.data->'changes') with ordinality as d(change, seq)
          where d.seq < c.seq and d.change->>'field' = c.change->>'field')`,
};

// Readers: the only SQL that reads `profile_history`.

const history = liveTable(TABLE);

/** Where a page of history ends: the last entry's place (event position, index of the change in the event). */
export type HistoryCursor = Readonly<{ position: number; seq: number }>;
export type HistoryPage = Readonly<{
  items: ProfileHistoryEntry[];
  /** Where the next page starts; null on the last page. */
  next: HistoryCursor | null;
}>;

/** A user's changes, newest first: `limit` entries after `after` (from a previous page), or from the newest. */
export const historyPage = async (
  sql: SqlExecutor,
  userId: string,
  page: { limit: number; after: HistoryCursor | null },
): Promise<HistoryPage> => {
  const { limit, after } = page;
  // One row more than the page says whether another page follows.
  const rows = await sql.query<{
    event_id: string;
    field: string;
    old_value: string | null;
    new_value: string | null;
    changed_at: Date | string;
    actor_id: string | null;
    position: string | number;
    seq: number;
  }>(
    `select event_id::text as event_id, field, old_value, new_value, changed_at, actor_id, position, seq
     from ${history} where user_id = $1 ${after ? 'and (position, seq) < ($3, $4)' : ''}
     order by position desc, seq desc limit $2`,
    after ? [userId, limit + 1, after.position, after.seq] : [userId, limit + 1],
  );
  const shown = rows.slice(0, limit);
  const last = shown[shown.length - 1];
  return {
    items: shown.map((r) => ({
      field: r.field,
      oldValue: r.old_value,
      newValue: r.new_value,
      changedAt: new Date(r.changed_at).toISOString(),
      actorId: r.actor_id,
      eventId: r.event_id,
    })),
    next: rows.length > limit && last ? { position: Number(last.position), seq: last.seq } : null,
  };
};
