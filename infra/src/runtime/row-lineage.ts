import type { RecordedEvent } from '@lectern/schemas';
import { START, type EventStore } from '../ports/event-store.ts';
import { ident, type Sql, type SqlExecutor } from '../sql/sql.ts';
import type { SqlProjection } from './projection.ts';
import { applyBatch, liveTables, projectionDdl, tablesIn } from './projection-runner.ts';
import { primaryKeyOf } from './rebuild-verify.ts';

/**
 * Row lineage: which events, in order, produced a row of a read model
 * (`lectern explain`, and the events behind each row `lectern diff` finds).
 *
 * The projection's own `apply` replays the store's feed into a scratch
 * schema whose tables carry a row trigger. The trigger records a change
 * only to a watched row (by primary key), with the columns it changed and
 * the event being applied, which the replay names in a transaction-local
 * setting. Events are applied in pages, as a rebuild does; a page that
 * touched a watched row is rolled back and applied again in halves, down to
 * single events, so the cost is the rebuild's plus a few pages per event
 * that touched the row. The scratch schema is dropped at the end.
 */

/** A row of one of the projection's tables, by its primary key (column → value as text). */
export type RowKey = Readonly<{ table: string; key: Readonly<Record<string, string>> }>;

export type LineageStep = Readonly<{
  table: string;
  key: Readonly<Record<string, string>>;
  op: 'insert' | 'update' | 'delete';
  /**
   * Columns whose value the event changed (every column for an insert or a
   * delete); in a column holding a JSON object, each changed key too, as
   * `column.key`.
   */
  changed: readonly string[];
  event: RecordedEvent;
}>;

export type Lineage = Readonly<{
  steps: readonly LineageStep[];
  /** Events of the projection's types replayed. */
  events: number;
  /** Per watched row, in the order asked: whether the replay left it, and whether the live row is the same. */
  rows: readonly Readonly<RowKey & { replayed: boolean; live: boolean; matchesLive: boolean }>[];
}>;

/** A key or field that is not one of the projection's; the message says which. */
export class LineageRequestInvalid extends Error {
  readonly code: 'unknown_table' | 'key_columns' | 'unknown_field';
  readonly path: string;
  constructor(code: LineageRequestInvalid['code'], message: string, path: string) {
    super(message);
    this.code = code;
    this.path = path;
  }
}

const EVENT_SETTING = 'lectern.lineage_event';

/** The primary key columns and all columns of each of the projection's tables, from its DDL in `schema`. */
export const tableShapes = async (
  tx: SqlExecutor,
  p: SqlProjection,
  schema: string,
): Promise<Map<string, { key: string[]; columns: string[] }>> => {
  const t = tablesIn(p, schema);
  const shapes = new Map<string, { key: string[]; columns: string[] }>();
  for (const name of p.tables) {
    const columns = await tx.query<{ name: string }>(
      `select attname as name from pg_attribute
        where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
      [t[name]],
    );
    shapes.set(name, { key: await primaryKeyOf(tx, t[name]!), columns: columns.map((c) => c.name) });
  }
  return shapes;
};

/** Checks `rows` against the tables' keys; throws LineageRequestInvalid. */
export const checkRowKeys = (
  shapes: ReadonlyMap<string, { key: string[]; columns: string[] }>,
  rows: readonly RowKey[],
  field?: string,
): void => {
  for (const row of rows) {
    const shape = shapes.get(row.table);
    if (!shape)
      throw new LineageRequestInvalid(
        'unknown_table',
        `The projection has no table ${row.table}; its tables are ${[...shapes.keys()].join(', ')}.`,
        '/table',
      );
    const given = Object.keys(row.key).sort();
    if (shape.key.length === 0 || given.join() !== [...shape.key].sort().join())
      throw new LineageRequestInvalid(
        'key_columns',
        `A row of ${row.table} is named by ${shape.key.join(', ') || '(no primary key)'}; ` +
          `the key given names ${given.join(', ')}.`,
        '/key',
      );
    if (field !== undefined && !shape.columns.includes(field.split('.')[0]!))
      throw new LineageRequestInvalid(
        'unknown_field',
        `${row.table} has no column ${field.split('.')[0]}; its columns are ${shape.columns.join(', ')} ` +
          '(a key of a JSON column is column.key).',
        '/field',
      );
  }
};

const scratchSchema = (p: SqlProjection): string =>
  `lineage_${p.name}_${Math.floor(Math.random() * 36 ** 6).toString(36)}`.slice(0, 63);

/** The trigger that records changes to watched rows, and the tables it writes, in `schema`. */
const lineageDdl = (schema: string): string => {
  const s = ident(schema);
  return `
    create table ${s}.__watch (tbl text not null, key jsonb not null, primary key (tbl, key));
    create table ${s}.__lineage (
      seq bigserial primary key, tbl text not null, key jsonb not null, op text not null,
      event_id text, changed text[] not null
    );
    create function ${s}.__trace() returns trigger language plpgsql as $fn$
    declare
      o jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
      n jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
      r record;
      k jsonb := '{}';
      c text;
      v text;
      cols text[];
    begin
      if tg_op = 'DELETE' then r := old; else r := new; end if;
      -- The key as the row's own text output (::text), as a reader names it.
      foreach c in array tg_argv loop
        execute format('select ($1).%I::text', c) into v using r;
        k := k || jsonb_build_object(c, v);
      end loop;
      if not exists (select 1 from ${s}.__watch w where w.tbl = tg_table_name and w.key = k) then
        return null;
      end if;
      -- Changed columns, and in a JSON object column each changed key as column.key.
      select coalesce(array_agg(x order by x), '{}') into cols from (
        select e.key as x from jsonb_each(coalesce(n, o)) as e
         where tg_op <> 'UPDATE' or (o -> e.key) is distinct from e.value
        union all
        select e.key || '.' || j.name from jsonb_each(n) as e
         cross join lateral jsonb_object_keys(
           case when tg_op = 'UPDATE' and jsonb_typeof(e.value) = 'object' and jsonb_typeof(o -> e.key) = 'object'
                then (o -> e.key) || e.value else '{}'::jsonb end) as j(name)
         where (o -> e.key -> j.name) is distinct from (e.value -> j.name)
      ) as c;
      insert into ${s}.__lineage (tbl, key, op, event_id, changed)
        values (tg_table_name, k, lower(tg_op), nullif(current_setting('${EVENT_SETTING}', true), ''), cols);
      return null;
    end
    $fn$;`;
};

class TouchedWatchedRow extends Error {}

/**
 * Replays the projection's events into a scratch schema and returns the
 * changes the events made to `rows`, in order. `toPosition` leaves out
 * events past that global position (a diff's agreed cut).
 */
export const traceRows = async (opts: {
  sql: Sql;
  store: EventStore;
  projection: SqlProjection;
  rows: readonly RowKey[];
  /** Only changes to this column, or `column.key` of a JSON one (and the inserts and deletes of the row). */
  field?: string;
  toPosition?: number;
  pageSize?: number;
}): Promise<Lineage> => {
  const { sql, store, projection: p } = opts;
  const reads = new Set(p.eventTypes);
  const schema = scratchSchema(p);
  const t = tablesIn(p, schema);
  const s = ident(schema);
  await sql.query(`create schema ${s}`);
  try {
    await sql.exec(projectionDdl(p, t));
    const shapes = await tableShapes(sql, p, schema);
    checkRowKeys(shapes, opts.rows, opts.field);
    await sql.exec(lineageDdl(schema));
    for (const [name, shape] of shapes) {
      const args = shape.key.map((c) => `'${c.replaceAll("'", "''")}'`).join(', ');
      await sql.query(
        `create trigger lectern_lineage after insert or update or delete on ${t[name]}
           for each row execute function ${s}.__trace(${args})`,
      );
    }
    await sql.query(
      `insert into ${s}.__watch (tbl, key)
       select r.tbl, r.key from jsonb_to_recordset($1::jsonb) as r(tbl text, key jsonb) on conflict do nothing`,
      [JSON.stringify(opts.rows.map((r) => ({ tbl: r.table, key: r.key })))],
    );

    const byId = new Map<string, RecordedEvent>();
    let seen = 0n;
    // Applies `events` in one transaction; where they touched a watched row, in halves, down to one event.
    const applyTraced = async (events: readonly RecordedEvent[]): Promise<void> => {
      const single = events.length === 1;
      try {
        await sql.transaction(async (tx) => {
          if (single) await tx.query(`select set_config($1, $2, true)`, [EVENT_SETTING, events[0]!.id]);
          await applyBatch(tx, p, t, events);
          if (single) return;
          const [touched] = await tx.query<{ n: string }>(
            `select count(*)::text as n from ${s}.__lineage where seq > $1`,
            [seen.toString()],
          );
          if (Number(touched!.n) > 0) throw new TouchedWatchedRow();
        });
      } catch (error) {
        if (!(error instanceof TouchedWatchedRow)) throw error;
        const half = Math.ceil(events.length / 2);
        await applyTraced(events.slice(0, half));
        await applyTraced(events.slice(half));
        return;
      }
      if (single) {
        byId.set(events[0]!.id, events[0]!);
        const [last] = await sql.query<{ seq: string | null }>(
          `select max(seq)::text as seq from ${s}.__lineage`,
        );
        if (last!.seq !== null) seen = BigInt(last!.seq);
      }
    };

    const pageSize = opts.pageSize ?? 5000;
    let events = 0;
    let cursor = START;
    let next = store.readAll(cursor, pageSize);
    for (;;) {
      const page = await next;
      if (page.length === 0) break;
      cursor = page[page.length - 1]!.cursor;
      next = store.readAll(cursor, pageSize);
      next.catch(() => {});
      const mine = page.filter(
        (e) => reads.has(e.type) && (opts.toPosition === undefined || e.position <= opts.toPosition),
      );
      events += mine.length;
      if (mine.length) await applyTraced(mine);
    }

    const recorded = await sql.query<{
      tbl: string;
      key: Record<string, string>;
      op: LineageStep['op'];
      event_id: string;
      changed: string[];
    }>(`select tbl, key, op, event_id, changed from ${s}.__lineage order by seq`);
    const steps = recorded
      .filter((r) => opts.field === undefined || r.op !== 'update' || r.changed.includes(opts.field))
      .map((r) => ({ table: r.tbl, key: r.key, op: r.op, changed: r.changed, event: byId.get(r.event_id)! }));

    const rows = [];
    for (const row of opts.rows) {
      const live = liveTables(p)[row.table]!;
      const where = (alias: string) =>
        Object.keys(row.key)
          .map((c, i) => `${alias}."${c.replaceAll('"', '""')}"::text = $${i + 1}`)
          .join(' and ');
      const values = Object.values(row.key);
      const [found] = await sql.query<{ replayed: string | null; live: string | null }>(
        `select (select r::text from ${t[row.table]} r where ${where('r')}) as replayed,
                (select l::text from ${live} l where ${where('l')}) as live`,
        values,
      );
      rows.push({
        ...row,
        replayed: found!.replayed !== null,
        live: found!.live !== null,
        matchesLive: found!.replayed === found!.live,
      });
    }
    return { steps, events, rows };
  } finally {
    await sql.query(`drop schema if exists ${s} cascade`);
  }
};
