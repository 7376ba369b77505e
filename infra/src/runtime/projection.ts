import type { RecordedEvent } from '@lectern/schemas';
import { ident, type SqlExecutor } from '../sql/sql.ts';

/** The schema holding every projection's live tables; a rebuild swaps its shadow tables in there. */
export const LIVE_SCHEMA = 'public';

/**
 * The live table `name` of a projection, schema-qualified, as its readers
 * name it: a projection package's readers are the only SQL that reads its
 * tables (STYLE.md §8).
 *
 * @example
 *   const users = liveTable('identity_users');
 *   export const userById = (sql: SqlExecutor, id: string) =>
 *     sql.query(`select … from ${users} where user_id = $1`, [id]);
 */
export const liveTable = (name: string): string => `${ident(LIVE_SCHEMA)}.${ident(name)}`;

/** Logical table name → the schema-qualified table a run writes to (live or shadow). */
export type ProjectionTables = Readonly<Record<string, string>>;

/**
 * A PostgreSQL read model. The runtime hands `apply` the events of one batch
 * that this model has not seen yet (per-stream revisions are checked for it),
 * inside the transaction that also moves the model's checkpoints.
 *
 * @example
 *   const courseCatalog: SqlProjection = {
 *     name: 'course_catalog', version: 1, contexts: ['content'], tables: ['course_catalog'],
 *     eventTypes: ['content.CoursePublished', 'content.CourseRetitled'],
 *     ddl: (t) => `create table if not exists ${t.course_catalog} (…)`,
 *     apply: async (tx, events, t) => { … },
 *   };
 */
export type SqlProjection = Readonly<{
  name: string;
  /** Bumped when `ddl` or `apply` change meaning; a new version is rebuilt from zero. */
  version: number;
  /** Contexts whose event topics this model consumes. */
  contexts: readonly string[];
  /**
   * The event types `apply` reads. Others never reach it, and a batch with
   * none of them costs no transaction; the checkpoints then cover only the
   * streams the model reads, which are the only ones its queries wait on.
   */
  eventTypes: readonly string[];
  tables: readonly string[];
  /** Idempotent DDL for the tables, written against the names in `t`. */
  ddl: (t: ProjectionTables) => string;
  apply: (tx: SqlExecutor, events: readonly RecordedEvent[], t: ProjectionTables) => Promise<void>;
}>;

/**
 * A projection of one JSON document per key, written as STYLE.md §9 asks:
 * `evolve(doc | null, event)`; returning null deletes the document. Each
 * batch loads the documents it touches once and writes each once.
 */
export const documentProjection = <Doc>(def: {
  name: string;
  version: number;
  contexts: readonly string[];
  eventTypes: readonly string[];
  table: string;
  key: (event: RecordedEvent) => string | null;
  evolve: (doc: Doc | null, event: RecordedEvent) => Doc | null;
}): SqlProjection => ({
  name: def.name,
  version: def.version,
  contexts: def.contexts,
  eventTypes: def.eventTypes,
  tables: [def.table],
  ddl: (t) => `
    create table if not exists ${t[def.table]} (
      id text primary key,
      doc jsonb not null,
      revision bigint not null,
      position bigint not null,
      updated_at timestamptz not null
    )`,
  async apply(tx, events, t) {
    const table = t[def.table]!;
    const keyed = events
      .map((e) => [def.key(e), e] as const)
      .filter((k): k is [string, RecordedEvent] => k[0] !== null);
    if (keyed.length === 0) return;
    const ids = [...new Set(keyed.map(([k]) => k))];
    const rows = await tx.query<{ id: string; doc: Doc }>(
      `select id, doc from ${table} where id = any($1::text[])`,
      [ids],
    );
    const docs = new Map<string, { doc: Doc | null; event: RecordedEvent | null }>(
      rows.map((r) => [r.id, { doc: r.doc, event: null }]),
    );
    for (const [id, event] of keyed) {
      const current = docs.get(id)?.doc ?? null;
      docs.set(id, { doc: def.evolve(current, event), event });
    }
    const changed = [...docs].filter(([, v]) => v.event !== null);
    const upserts = changed.filter(([, v]) => v.doc !== null);
    const deletes = changed.filter(([, v]) => v.doc === null).map(([id]) => id);
    if (upserts.length)
      await tx.query(
        `insert into ${table} (id, doc, revision, position, updated_at)
         select r.id, r.doc, r.revision, r.position, r.updated_at
         from jsonb_to_recordset($1::jsonb) as r(id text, doc jsonb, revision bigint, position bigint, updated_at timestamptz)
         on conflict (id) do update set doc = excluded.doc, revision = excluded.revision,
           position = excluded.position, updated_at = excluded.updated_at`,
        [
          JSON.stringify(
            upserts.map(([id, v]) => ({
              id,
              doc: v.doc,
              revision: v.event!.revision,
              position: v.event!.position,
              updated_at: v.event!.occurredAt,
            })),
          ),
        ],
      );
    if (deletes.length) await tx.query(`delete from ${table} where id = any($1::text[])`, [deletes]);
  },
});
