import type { SqlExecutor } from '@lectern/infra/sql/sql';
import type * as schema from '@lectern/schemas/content/index';
import { CATALOGUE } from './projection.ts';
import type { CatalogueEntry } from './entry.ts';

/** Who reads: anonymous, a signed-in user (who also sees their own courses), or an admin (who sees every course). */
export type Viewer = Readonly<{ userId: string | null; admin: boolean }>;

/** A course as the catalogue lists it. */
export type CatalogueItem = Omit<CatalogueEntry, 'sections' | 'comments'> &
  Readonly<{ sectionCount: number; materialCount: number }>;

export type CatalogueFilter = Readonly<{
  q?: string;
  status?: schema.CourseStatus;
  tags?: readonly string[];
  author?: string;
  limit: number;
  /** A `nextCursor` of an earlier page, decoded by `decodeCursor`. */
  after?: Cursor;
}>;

/** Where the previous page ended: (created_at, id) when listing, (rank, id) when searching. */
export type Cursor =
  | Readonly<{ kind: 'list'; createdAt: string; courseId: string }>
  | Readonly<{ kind: 'search'; rank: string; courseId: string }>;

export class InvalidCursor extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const encodeCursor = (c: Cursor): string =>
  Buffer.from(c.kind === 'list' ? `l|${c.createdAt}|${c.courseId}` : `s|${c.rank}|${c.courseId}`).toString(
    'base64url',
  );

/** Reads a cursor; throws `InvalidCursor` for anything `encodeCursor` did not write. */
export const decodeCursor = (text: string): Cursor => {
  const [kind, key, courseId, ...rest] = Buffer.from(text, 'base64url').toString().split('|');
  if (rest.length || !key || !courseId || !UUID.test(courseId)) throw new InvalidCursor();
  if (kind === 'l' && !Number.isNaN(Date.parse(key)) && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(key))
    return { kind: 'list', createdAt: key, courseId };
  if (kind === 's' && /^-?\d+(?:\.\d+)?(?:e-?\d+)?$/.test(key))
    return { kind: 'search', rank: key, courseId };
  throw new InvalidCursor();
};

type Row = {
  course_id: string;
  author_id: string;
  status: schema.CourseStatus;
  title: string;
  summary: string;
  tags: string[];
  section_count: number;
  material_count: number;
  created_at: Date | string;
  updated_at: Date | string;
  published_at: Date | string | null;
  rank?: string;
};

const iso = (t: Date | string): string => new Date(t).toISOString();
const itemOf = (r: Row): CatalogueItem => ({
  courseId: r.course_id,
  authorId: r.author_id,
  status: r.status,
  title: r.title,
  summary: r.summary,
  tags: r.tags,
  sectionCount: r.section_count,
  materialCount: r.material_count,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
  publishedAt: r.published_at === null ? null : iso(r.published_at),
});

/** Builds the parameter list and `$n` placeholders of a query together, so they cannot drift apart. */
const params = () => {
  const values: unknown[] = [];
  return { values, add: (v: unknown) => `$${values.push(v)}` };
};

const trigram = new WeakMap<SqlExecutor, Promise<boolean>>();
/** Whether pg_trgm is installed here (PostgreSQL with contrib), looked up once per database handle. */
const hasTrigram = (sql: SqlExecutor): Promise<boolean> => {
  let known = trigram.get(sql);
  if (!known) {
    known = sql
      .query<{ yes: boolean }>(`select exists (select 1 from pg_extension where extname = 'pg_trgm') as yes`)
      .then(([r]) => r?.yes === true);
    trigram.set(sql, known);
  }
  return known;
};

/** Words of a search, as the vector holds them: letters and digits, at most 8 words. */
const wordsOf = (q: string): string[] => (q.match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 8);

const COLUMNS = `course_id::text as course_id, author_id, status, title, summary, tags, section_count, material_count,
  created_at, updated_at, published_at`;

/**
 * How many courses a search ranks at most: the newest this many holding
 * every word, plus as many titles that look alike. A word nearly every
 * course holds would otherwise have every course fetched and ranked for one
 * page; past this many matches a search ranks the newest, and the way to
 * the older ones is a more precise query or a filter.
 */
export const SEARCH_CANDIDATES = 300;
/** Fewer courses than this matching every word: titles that only look alike are searched too. */
const LOOK_ALIKE_BELOW = 20;

/**
 * A page of the catalogue: newest first, or best match first with `q`.
 * Every word of `q` must match a word of the course as a prefix; where
 * pg_trgm exists and the words found fewer than 20 courses, a title close
 * to the query (a misspelling) matches too. A search ranks the newest
 * `SEARCH_CANDIDATES` matches at most (`opts.candidates` in tests).
 * What a viewer may see is part of the query: published courses, plus their
 * own for a signed-in user, everything for an admin.
 */
export const listCourses = async (
  sql: SqlExecutor,
  viewer: Viewer,
  f: CatalogueFilter,
  opts: Readonly<{ candidates?: number }> = {},
): Promise<{ items: CatalogueItem[]; nextCursor: string | null }> => {
  const p = params();
  const where: string[] = [];
  if (!viewer.admin)
    where.push(
      viewer.userId
        ? `(c.status = 'published' or c.author_id = ${p.add(viewer.userId)})`
        : `c.status = 'published'`,
    );
  if (f.status) where.push(`c.status = ${p.add(f.status)}`);
  if (f.author) where.push(`c.author_id = ${p.add(f.author)}`);
  if (f.tags?.length) where.push(`c.tags @> ${p.add(f.tags)}::text[]`);
  const limit = p.add(f.limit + 1);

  let text: string;
  if (f.q !== undefined) {
    const words = wordsOf(f.q);
    if (words.length === 0) return { items: [], nextCursor: null };
    if (f.after && f.after.kind !== 'search') throw new InvalidCursor();
    const fuzzy = await hasTrigram(sql);
    // The query is folded first and sent back as a value: the planner then sees it and its
    // statistics, and walks the newest courses for a word most courses hold instead of all of them.
    const [folding] = await sql.query<{ tsq: string; folded: string }>(
      `select to_tsquery('simple', array_to_string(array(select quote_literal(content_fold(w)) || ':*'
         from unnest($1::text[]) w), ' & '))::text as tsq, content_fold($2) as folded`,
      [words, words.join(' ')],
    );
    if (!folding?.tsq) return { items: [], nextCursor: null };
    const tsq = `${p.add(folding.tsq)}::tsquery`;
    const folded = `${p.add(folding.folded)}::text`;
    const visible = where.length ? ` and ${where.join(' and ')}` : '';
    const bound = p.add(opts.candidates ?? SEARCH_CANDIDATES);
    // A full-text match (at least 2) always ranks above a title that only looks alike (at most 0.5);
    // ts_rank_cd with normalization 32 stays below 1.
    const rank = fuzzy
      ? `(c.search @@ ${tsq})::int * 2 + ts_rank_cd(c.search, ${tsq}, 32) + word_similarity(${folded}, c.title_folded) / 2`
      : `ts_rank_cd(c.search, ${tsq}, 32)`;
    // Ranking costs about 10 µs a course: it runs on the candidates only, after the bound.
    const picked = `${COLUMNS.replace('course_id::text', 'c.course_id::text')}, c.search, c.title_folded`;
    // Titles that only look alike are looked for when the words themselves found few courses (a
    // typo, most likely); every course holding the words is among those few already.
    const alike = fuzzy
      ? `union all (select ${picked} from ${CATALOGUE} c
          where (select count(*) from hits) < ${LOOK_ALIKE_BELOW} and ${folded} <% c.title_folded
            and not c.search @@ ${tsq}${visible} limit ${bound})`
      : '';
    const after = f.after
      ? `where (x.rank, x.course_id::uuid) < (${p.add(f.after.rank)}::real, ${p.add(f.after.courseId)}::uuid)`
      : '';
    text = `with hits as materialized (select ${picked} from ${CATALOGUE} c where c.search @@ ${tsq}${visible}
        order by c.created_at desc, c.course_id desc limit ${bound})
      select ${COLUMNS.replace('course_id::text as course_id', 'course_id')}, rank::text as rank
      from (select c.*, (${rank})::real as rank from (select * from hits ${alike}) c) x
      ${after} order by x.rank desc, x.course_id::uuid desc limit ${limit}`;
  } else {
    if (f.after && f.after.kind !== 'list') throw new InvalidCursor();
    if (f.after)
      where.push(
        `(c.created_at, c.course_id) < (${p.add(f.after.createdAt)}::timestamptz, ${p.add(f.after.courseId)}::uuid)`,
      );
    text = `select ${COLUMNS} from ${CATALOGUE} c ${where.length ? `where ${where.join(' and ')}` : ''}
      order by c.created_at desc, c.course_id desc limit ${limit}`;
  }
  const rows = await sql.query<Row>(text, p.values);
  const page = rows.slice(0, f.limit);
  const last = page[page.length - 1];
  const nextCursor =
    rows.length > f.limit && last
      ? encodeCursor(
          last.rank !== undefined
            ? { kind: 'search', rank: last.rank, courseId: last.course_id }
            : { kind: 'list', createdAt: iso(last.created_at), courseId: last.course_id },
        )
      : null;
  return { items: page.map(itemOf), nextCursor };
};

/** A course with its sections and materials in order, when the viewer may see it; comments only for its author and admins. */
export const getCourse = async (
  sql: SqlExecutor,
  viewer: Viewer,
  courseId: string,
): Promise<{
  course: CatalogueItem & Pick<CatalogueEntry, 'sections'> & Partial<Pick<CatalogueEntry, 'comments'>>;
  revision: number;
} | null> => {
  const [row] = await sql.query<Row & { doc: CatalogueEntry; revision: string }>(
    `select ${COLUMNS}, doc, revision from ${CATALOGUE} c where course_id = $1`,
    [courseId],
  );
  if (!row) return null;
  const mine = viewer.userId !== null && row.author_id === viewer.userId;
  if (row.status !== 'published' && !mine && !viewer.admin) return null;
  const course = {
    ...itemOf(row),
    sections: row.doc.sections,
    ...(mine || viewer.admin ? { comments: row.doc.comments } : {}),
  };
  return { course, revision: Number(row.revision) };
};

/**
 * Who a course is by and where it stands, for a check that needs no more
 * (the realtime `course:<id>` channel); null for no such course.
 */
export const courseAccess = async (
  sql: SqlExecutor,
  courseId: string,
): Promise<{ authorId: string; status: schema.CourseStatus } | null> => {
  const [row] = await sql.query<{ author_id: string; status: schema.CourseStatus }>(
    `select author_id, status from ${CATALOGUE} where course_id = $1`,
    [courseId],
  );
  return row ? { authorId: row.author_id, status: row.status } : null;
};
