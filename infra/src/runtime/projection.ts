import { METADATA_KEYS, type MetadataKey, type RecordedEvent } from '@lectern/schemas';
import { ident, sideBySide, type SqlExecutor } from '../sql/sql.ts';

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
  /**
   * A rebuild's first replay, into empty tables, goes through this when given,
   * instead of `apply` page by page: the events come in store order, each
   * once, and nothing reads the tables until `finish` has returned, so a
   * model may keep its rows in memory across pages and write them once.
   * The tables' non-unique indexes are dropped for the load and built after
   * `finish`, so `add` must not need them to find rows (`pageByPage` suits
   * a model that only inserts). Without it, `apply` serves the first replay
   * too, with every index in place.
   */
  bulk?: (t: ProjectionTables) => BulkLoad;
  /**
   * A rebuild's first replay as SQL run in the database, set by set, where
   * the store keeps its events in the model's own database
   * (`EventStore.feedRelation`): given the tables and `events`, a relation
   * of the store's events of `eventTypes` (its columns are the port's), an
   * `insert … select` that writes exactly the rows `apply` writes for them.
   * Several run side by side, each on a part of the events (whole streams:
   * a fold per stream sees all of its stream), into tables
   * without keys or indexes (built after, as with `keysAfter`): it may only
   * insert, never write one key twice, and must not read the tables. The
   * rebuild compares what it built with the live model, which `apply`
   * built, so a statement that disagrees with `apply` fails the rebuild
   * instead of being swapped in; the model's tests hold the two to the same
   * rows on awkward events too. Elsewhere (KurrentDB, `diff --at`), the
   * event-by-event replay (`bulk`, or `apply`) does the first replay.
   *
   * @example
   *   loadSql: (t, events) => `insert into ${t.course_titles} (course_id, title)
   *     select e.data->>'courseId', e.data->>'title' from ${events} e`,
   */
  loadSql?: (t: ProjectionTables, events: string) => string;
  /**
   * The metadata keys `apply` (and `bulk`) read, when not all: a rebuild
   * then reads only these from the store (metadata is most of an event's
   * JSON, and decoding it most of a rebuild's time), and a key not declared
   * throws when read there (`UndeclaredMetadata`) rather than reading as
   * absent. The live path hands every key, as the log carries them.
   */
  metadata?: readonly MetadataKey[];
}>;

/** A projection read a metadata key it does not declare (`SqlProjection.metadata`). */
export class UndeclaredMetadata extends Error {
  override readonly name = 'UndeclaredMetadata';
  readonly projection: string;
  readonly key: string;
  constructor(projection: string, key: string) {
    super(
      `projection ${projection} read metadata.${key}, which it does not declare: add it to its \`metadata\``,
    );
    this.projection = projection;
    this.key = key;
  }
}

const KNOWN_METADATA = new Set<string | symbol>(METADATA_KEYS);

/**
 * `events` as a rebuild hands them to `p`: when it declares its metadata,
 * each event's metadata throws `UndeclaredMetadata` on a key not declared,
 * so a projection that reads more than it says fails its rebuild loudly
 * (and its spec) instead of rebuilding from what a narrowed read left out.
 */
export const withDeclaredMetadata = (
  p: SqlProjection,
  events: readonly RecordedEvent[],
): readonly RecordedEvent[] => {
  if (!p.metadata) return events;
  const declared = new Set<string | symbol>(p.metadata);
  const guard: ProxyHandler<RecordedEvent['metadata']> = {
    get: (target, key, receiver) => {
      if (KNOWN_METADATA.has(key) && !declared.has(key)) throw new UndeclaredMetadata(p.name, String(key));
      return Reflect.get(target, key, receiver) as unknown;
    },
  };
  return events.map((e) => ({ ...e, metadata: new Proxy(e.metadata, guard) }));
};

/** A first replay into empty tables (`SqlProjection.bulk`); `add` and `finish` are called one at a time. */
export type BulkLoad = Readonly<{
  /** The next page of the store's events of the model's types. */
  add: (tx: SqlExecutor, events: readonly RecordedEvent[]) => Promise<void>;
  /**
   * Writes whatever it still keeps. Given the database, not a transaction:
   * nothing reads the tables before the rebuild swaps them in, so it may
   * write on several connections at once.
   */
  finish: (sql: SqlExecutor) => Promise<void>;
  /**
   * The load never writes one key twice and needs no key to write (plain
   * inserts, no `on conflict`): the model's primary keys and unique
   * constraints are dropped for it too, and made after it.
   */
  keysAfter?: boolean;
}>;

/**
 * A bulk load that applies each page as `apply` would: for a model that only
 * inserts, whose secondary indexes are then built once after the load.
 *
 * @example bulk: (t) => pageByPage(t, (tx, events, t) => insertRows(tx, events, t)),
 */
export const pageByPage = (
  t: ProjectionTables,
  apply: SqlProjection['apply'],
  opts: Readonly<{ keysAfter?: boolean }> = {},
): BulkLoad => ({
  add: (tx, events) => apply(tx, events, t),
  finish: async () => {},
  ...opts,
});

/** How many documents a bulk load of a `documentProjection` keeps in memory before it writes them out. */
export const BULK_DOCUMENTS = 50_000;
/** How many documents one statement of a bulk load's end writes. */
const FINISH_SLICE = 2500;

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
  /** How many documents a bulk load keeps in memory; default `BULK_DOCUMENTS`. */
  bulkDocuments?: number;
  /** The metadata keys `key` and `evolve` read (`SqlProjection.metadata`). */
  metadata?: readonly MetadataKey[];
  /**
   * The first replay in SQL (`SqlProjection.loadSql`), into `table`: one row
   * per document, `(id, doc, revision, position, updated_at)` of the last
   * event that changed it, as `evolve` would leave it.
   */
  loadSql?: (table: string, events: string) => string;
}): SqlProjection => {
  const keep = def.bulkDocuments ?? BULK_DOCUMENTS;
  /** The documents with these ids, as the table holds them. */
  const load = async (tx: SqlExecutor, table: string, ids: readonly string[]) =>
    new Map(
      (ids.length
        ? await tx.query<{ id: string; doc: Doc }>(
            `select id, doc from ${table} where id = any($1::text[])`,
            [ids],
          )
        : []
      ).map((r) => [r.id, r.doc] as const),
    );
  /** Folds `events` into `docs` (null: none); returns the last event that changed each document. */
  const fold = (events: readonly RecordedEvent[], docs: Map<string, Doc | null>) => {
    const last = new Map<string, RecordedEvent>();
    for (const event of events) {
      const id = def.key(event);
      if (id === null) continue;
      docs.set(id, def.evolve(docs.get(id) ?? null, event));
      last.set(id, event);
    }
    return last;
  };
  /** Writes each changed document (or deletes it) in one statement per kind. */
  const write = async (
    tx: SqlExecutor,
    table: string,
    docs: ReadonlyMap<string, Doc | null>,
    last: ReadonlyMap<string, RecordedEvent>,
  ) => {
    const upserts: { id: string; doc: Doc; revision: number; position: number; updated_at: string }[] = [];
    const deletes: string[] = [];
    for (const [id, event] of last) {
      const doc = docs.get(id) ?? null;
      if (doc === null) deletes.push(id);
      else
        upserts.push({
          id,
          doc,
          revision: event.revision,
          position: event.position,
          updated_at: event.occurredAt,
        });
    }
    if (upserts.length)
      await tx.query(
        `insert into ${table} (id, doc, revision, position, updated_at)
         select r.id, r.doc, r.revision, r.position, r.updated_at
         from jsonb_to_recordset($1::jsonb) as r(id text, doc jsonb, revision bigint, position bigint, updated_at timestamptz)
         on conflict (id) do update set doc = excluded.doc, revision = excluded.revision,
           position = excluded.position, updated_at = excluded.updated_at`,
        [JSON.stringify(upserts)],
      );
    if (deletes.length) await tx.query(`delete from ${table} where id = any($1::text[])`, [deletes]);
  };
  return {
    name: def.name,
    version: def.version,
    contexts: def.contexts,
    eventTypes: def.eventTypes,
    tables: [def.table],
    ...(def.metadata ? { metadata: def.metadata } : {}),
    ...(def.loadSql ? { loadSql: (t, events) => def.loadSql!(t[def.table]!, events) } : {}),
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
      const ids = [...new Set(events.map(def.key).filter((k): k is string => k !== null))];
      if (ids.length === 0) return;
      const docs: Map<string, Doc | null> = await load(tx, table, ids);
      await write(tx, table, docs, fold(events, docs));
    },
    /**
     * Documents stay in memory across pages, each written once, until
     * `bulkDocuments` of them are kept: then they are written out and
     * forgotten, and one seen again is read back from the table. Every
     * document reaches the table as JSON, so `evolve` must return plain JSON.
     */
    bulk(t) {
      const table = t[def.table]!;
      let docs = new Map<string, Doc | null>();
      let last = new Map<string, RecordedEvent>();
      /** Ids written out and forgotten: only these can be in the table already. */
      const written = new Set<string>();
      return {
        async add(tx, events) {
          const unseen = new Set<string>();
          for (const e of events) {
            const id = def.key(e);
            if (id !== null && !docs.has(id) && written.has(id)) unseen.add(id);
          }
          for (const [id, doc] of await load(tx, table, [...unseen])) docs.set(id, doc);
          for (const [id, event] of fold(events, docs)) last.set(id, event);
          if (docs.size < keep) return;
          await write(tx, table, docs, last);
          for (const id of last.keys()) written.add(id);
          docs = new Map();
          last = new Map();
        },
        // In slices side by side: the server parses one while the next is made.
        async finish(sql) {
          const changed = [...last];
          await sideBySide(
            Array.from({ length: Math.ceil(changed.length / FINISH_SLICE) }, (_, i) =>
              write(sql, table, docs, new Map(changed.slice(i * FINISH_SLICE, (i + 1) * FINISH_SLICE))),
            ),
          );
          docs = new Map();
          last = new Map();
        },
      };
    },
  };
};
