import * as schema from '@lectern/schemas/content/index';
import type { RecordedEvent } from '@lectern/schemas';
import type { SqlProjection } from '@lectern/infra/runtime/projection';
import { courseIdOf, evolveEntry, type CatalogueEntry } from './entry.ts';

export const CATALOGUE = 'course_catalog';

/**
 * Folds text for search, the same way when a row is written and when a query
 * is read: lower case, and without accents where `unaccent` is installed.
 * PostgreSQL 15 ships `unaccent` and `pg_trgm` in contrib (trusted, so the
 * database owner may create them); PGlite as the embedded profile opens it
 * has neither, and falls back to lower case and full text alone.
 */
const extensionsDdl = `
  do $$ begin
    begin create extension if not exists unaccent; exception when others then null; end;
    begin create extension if not exists pg_trgm; exception when others then null; end;
    if exists (select 1 from pg_extension where extname = 'unaccent') then
      execute $f$create or replace function content_fold(t text) returns text language sql immutable parallel safe
        as 'select lower(unaccent(''unaccent''::regdictionary, t))'$f$;
    else
      execute $f$create or replace function content_fold(t text) returns text language sql immutable parallel safe
        as 'select lower(t)'$f$;
    end if;
  end $$`;

/**
 * The catalogue of courses: one row per course (removed courses leave it),
 * with the columns the list filters and orders on, a weighted search vector
 * (title A; summary and tags B; section and material titles C) and the
 * detail as a JSON document.
 *
 * Indexes follow the queries (readers.ts): GIN on the vector and on tags;
 * btree on (status | author, created_at, course_id) for the filtered
 * newest-first lists and their cursors; a trigram GIN on the folded title
 * for misspelt searches, where pg_trgm exists.
 */
export const courseCatalogueProjection: SqlProjection = {
  name: CATALOGUE,
  version: 1,
  contexts: ['content'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: Object.keys(schema.contentEvents).filter((t) => !t.startsWith('content.MediaAsset')),
  tables: [CATALOGUE],
  ddl: (t) => {
    const table = t[CATALOGUE]!;
    return `${extensionsDdl};
    create table if not exists ${table} (
      course_id uuid primary key,
      author_id text not null,
      status text not null,
      title text not null,
      summary text not null,
      tags text[] not null,
      section_count int not null,
      material_count int not null,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      published_at timestamptz,
      title_folded text not null,
      search tsvector not null,
      doc jsonb not null,
      revision bigint not null,
      position bigint not null
    );
    create index if not exists course_catalog_search on ${table} using gin (search);
    create index if not exists course_catalog_tags on ${table} using gin (tags);
    create index if not exists course_catalog_created on ${table} (created_at desc, course_id desc);
    create index if not exists course_catalog_status on ${table} (status, created_at desc, course_id desc);
    create index if not exists course_catalog_author on ${table} (author_id, created_at desc, course_id desc);
    do $$ begin
      if exists (select 1 from pg_extension where extname = 'pg_trgm') then
        execute 'create index if not exists course_catalog_title_trgm on ${table} using gin (title_folded gin_trgm_ops)';
      end if;
    end $$`;
  },
  async apply(tx, events, t) {
    const table = t[CATALOGUE]!;
    const keyed = events.flatMap((e) => {
      const id = courseIdOf(e);
      return id ? [[id, e] as const] : [];
    });
    if (keyed.length === 0) return;
    const rows = await tx.query<{ course_id: string; doc: CatalogueEntry }>(
      `select course_id::text as course_id, doc from ${table} where course_id = any($1::uuid[])`,
      [[...new Set(keyed.map(([id]) => id))]],
    );
    const docs = new Map<string, { doc: CatalogueEntry | null; last: RecordedEvent | null }>(
      rows.map((r) => [r.course_id, { doc: r.doc, last: null }]),
    );
    for (const [id, e] of keyed) docs.set(id, { doc: evolveEntry(docs.get(id)?.doc ?? null, e), last: e });
    const changed = [...docs].filter(([, v]) => v.last !== null);
    const deletes = changed.filter(([, v]) => v.doc === null).map(([id]) => id);
    const upserts = changed.flatMap(([, v]) => (v.doc ? [{ doc: v.doc, last: v.last! }] : []));
    if (deletes.length) await tx.query(`delete from ${table} where course_id = any($1::uuid[])`, [deletes]);
    if (upserts.length === 0) return;
    await tx.query(
      `insert into ${table} (course_id, author_id, status, title, summary, tags, section_count, material_count,
         created_at, updated_at, published_at, title_folded, search, doc, revision, position)
       select r.course_id, r.author_id, r.status, r.title, r.summary,
         array(select jsonb_array_elements_text(r.tags)), r.section_count, r.material_count,
         r.created_at, r.updated_at, r.published_at, content_fold(r.title),
         setweight(to_tsvector('simple', content_fold(r.title)), 'A') ||
         setweight(to_tsvector('simple', content_fold(r.summary || ' ' || r.tag_text)), 'B') ||
         setweight(to_tsvector('simple', content_fold(r.outline)), 'C'),
         r.doc, r.revision, r.position
       from jsonb_to_recordset($1::jsonb) as r(course_id uuid, author_id text, status text, title text, summary text,
         tags jsonb, tag_text text, section_count int, material_count int, created_at timestamptz,
         updated_at timestamptz, published_at timestamptz, outline text, doc jsonb, revision bigint, position bigint)
       on conflict (course_id) do update set author_id = excluded.author_id, status = excluded.status,
         title = excluded.title, summary = excluded.summary, tags = excluded.tags,
         section_count = excluded.section_count, material_count = excluded.material_count,
         updated_at = excluded.updated_at, published_at = excluded.published_at,
         title_folded = excluded.title_folded, search = excluded.search, doc = excluded.doc,
         revision = excluded.revision, position = excluded.position`,
      [
        JSON.stringify(
          upserts.map(({ doc, last }) => ({
            course_id: doc.courseId,
            author_id: doc.authorId,
            status: doc.status,
            title: doc.title,
            summary: doc.summary,
            tags: doc.tags,
            // Tags read as words too: `event-sourcing` finds `event sourcing`.
            tag_text: doc.tags.join(' '),
            section_count: doc.sections.length,
            material_count: doc.sections.reduce((n, s) => n + s.materials.length, 0),
            created_at: doc.createdAt,
            updated_at: doc.updatedAt,
            published_at: doc.publishedAt,
            outline: doc.sections.flatMap((s) => [s.title, ...s.materials.map((m) => m.title)]).join('\n'),
            doc,
            revision: last.revision,
            position: last.position,
          })),
        ),
      ],
    );
  },
};
