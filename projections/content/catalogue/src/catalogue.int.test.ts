import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import type * as schema from '@lectern/schemas/content/index';
import type { Sql } from '@lectern/infra/sql/sql';
import { sqlEngines } from '@lectern/infra/testing/sql-engines';
import { CATALOGUE, courseCatalogueProjection } from './projection.ts';
import { decodeCursor, getCourse, listCourses, type CatalogueFilter, type Viewer } from './readers.ts';

/**
 * The catalogue read model, given events then rows (STYLE.md §15), on PGlite
 * and on PostgreSQL (both with unaccent and pg_trgm), through the readers the
 * query routes call.
 */
const anonymous: Viewer = { userId: null, admin: false };
const admin: Viewer = { userId: 'root', admin: true };
const author = (userId: string): Viewer => ({ userId, admin: false });

const given = (sql: Sql) => {
  let position = 0;
  const revisions = new Map<string, number>();
  return async (...events: schema.CourseStreamEvent[]) => {
    const recorded: RecordedEvent[] = events.map((e, i) => {
      const streamId = `course-${e.data.courseId}`;
      const revision = (revisions.get(streamId) ?? -1) + 1;
      revisions.set(streamId, revision);
      return {
        ...e,
        id: randomUUID(),
        schemaVersion: 1,
        streamId,
        revision,
        position: ++position,
        occurredAt: new Date(Date.UTC(2026, 2, 1, 10, 0, 0, position + i)).toISOString(),
        metadata: {
          correlationId: randomUUID(),
          causationId: null,
          actor: null,
          requestId: null,
          traceparent: null,
        },
      };
    });
    await sql.transaction((tx) => courseCatalogueProjection.apply(tx, recorded, { [CATALOGUE]: CATALOGUE }));
  };
};

let clock = 0;
const at = () => new Date(Date.UTC(2026, 2, 1, 9, 0, clock++)).toISOString();
const created = (
  courseId: string,
  authorId: string,
  title: string,
  extra: Partial<schema.CourseCreated> = {},
) =>
  ({
    type: 'content.CourseCreated',
    data: { courseId, authorId, title, summary: '', tags: [], createdAt: at(), ...extra },
  }) as const;
const publish = (courseId: string, authorId = 'ada'): schema.CourseStreamEvent[] => [
  { type: 'content.CourseSubmittedForReview', data: { courseId, submittedAt: at() } },
  { type: 'content.CoursePublished', data: { courseId, authorId, title: 't', publishedAt: at() } },
];
const section = (courseId: string, sectionId: string, title: string): schema.CourseStreamEvent => ({
  type: 'content.SectionAdded',
  data: { courseId, sectionId, title, addedAt: at() },
});
const material = (
  courseId: string,
  sectionId: string,
  materialId: string,
  title: string,
): schema.CourseStreamEvent => ({
  type: 'content.MaterialAdded',
  data: { courseId, sectionId, materialId, title, kind: 'text', assetId: null, body: 'b', addedAt: at() },
});

const titles = async (sql: Sql, viewer: Viewer, f: Partial<CatalogueFilter>) =>
  (await listCourses(sql, viewer, { limit: 50, ...f })).items.map((i) => i.title);

const suite = (name: string, open: () => Promise<{ sql: Sql; close(): Promise<void> }>) => {
  let db: { sql: Sql; close(): Promise<void> };
  let extensions: Set<string>;
  test.before(async () => {
    db = await open();
    await db.sql.exec(courseCatalogueProjection.ddl({ [CATALOGUE]: CATALOGUE }));
    extensions = new Set(
      (await db.sql.query<{ extname: string }>(`select extname from pg_extension`)).map((r) => r.extname),
    );
  });
  test.after.always(async () => db?.close());

  test.serial(`${name}: the DDL is idempotent and installs what the engine has`, async (t) => {
    await db.sql.exec(courseCatalogueProjection.ddl({ [CATALOGUE]: CATALOGUE }));
    // PostgreSQL's contrib and PGlite's (loaded by pgliteSql) both have them.
    t.true(extensions.has('unaccent') && extensions.has('pg_trgm'), [...extensions].join());
  });

  test.serial(
    `${name}: the detail holds sections and materials in order; a removed course leaves`,
    async (t) => {
      const c = randomUUID();
      const [s1, s2, m1, m2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      const apply = given(db.sql);
      await apply(created(c, 'ada', 'Ordering'), section(c, s1, 'One'), section(c, s2, 'Two'));
      await apply(material(c, s1, m1, 'First'), material(c, s1, m2, 'Second'));
      await apply(
        { type: 'content.SectionsReordered', data: { courseId: c, sectionIds: [s2, s1], reorderedAt: at() } },
        {
          type: 'content.MaterialsReordered',
          data: { courseId: c, sectionId: s1, materialIds: [m2, m1], reorderedAt: at() },
        },
      );
      const detail = await getCourse(db.sql, author('ada'), c);
      t.is(detail?.revision, 6);
      t.deepEqual(
        detail?.course.sections.map((s) => [s.title, s.materials.map((m) => m.title)]),
        [
          ['Two', []],
          ['One', ['Second', 'First']],
        ],
      );
      t.like(detail?.course, { sectionCount: 2, materialCount: 2, status: 'draft' });
      await apply({ type: 'content.CourseRemoved', data: { courseId: c, removedAt: at() } });
      t.is(await getCourse(db.sql, admin, c), null);
    },
  );

  test.serial(
    `${name}: learners and anonymous callers see published courses; authors their own too; admins all`,
    async (t) => {
      const [draft, live] = [randomUUID(), randomUUID()];
      const apply = given(db.sql);
      await apply(created(draft, 'vis-ada', 'Visibility draft'), created(live, 'vis-ada', 'Visibility live'));
      await apply(...publish(live, 'vis-ada'));
      await apply({
        type: 'content.ReviewCommentAdded',
        data: { courseId: draft, commentId: randomUUID(), authorId: 'root', body: 'Nice', commentedAt: at() },
      });
      const mine = { author: 'vis-ada' };
      t.deepEqual(await titles(db.sql, anonymous, mine), ['Visibility live']);
      t.deepEqual(await titles(db.sql, author('bob'), mine), ['Visibility live']);
      t.deepEqual(await titles(db.sql, author('vis-ada'), mine), ['Visibility live', 'Visibility draft']);
      t.deepEqual(await titles(db.sql, admin, { ...mine, status: 'draft' }), ['Visibility draft']);
      t.deepEqual(await titles(db.sql, anonymous, { ...mine, status: 'draft' }), []);
      t.is(await getCourse(db.sql, author('bob'), draft), null);
      t.is((await getCourse(db.sql, anonymous, live))?.course.comments, undefined);
      t.is((await getCourse(db.sql, author('vis-ada'), draft))?.course.comments?.[0]?.body, 'Nice');
    },
  );

  test.serial(`${name}: tags filter by all of them`, async (t) => {
    const apply = given(db.sql);
    const [a, b] = [randomUUID(), randomUUID()];
    await apply(
      created(a, 'tag-ada', 'Tagged both', { tags: ['tagx-db', 'tagx-arch'] }),
      created(b, 'tag-ada', 'Tagged one', { tags: ['tagx-db'] }),
    );
    t.deepEqual(await titles(db.sql, admin, { tags: ['tagx-db'] }), ['Tagged one', 'Tagged both']);
    t.deepEqual(await titles(db.sql, admin, { tags: ['tagx-db', 'tagx-arch'] }), ['Tagged both']);
  });

  test.serial(
    `${name}: search matches titles, summaries, tags, sections and materials, ranked, by word prefix`,
    async (t) => {
      const apply = given(db.sql);
      const [inTitle, inSummary, inMaterial, other] = [
        randomUUID(),
        randomUUID(),
        randomUUID(),
        randomUUID(),
      ];
      const s = randomUUID();
      await apply(
        created(inTitle, 'srch', 'Zygomorphic sourcing'),
        created(inSummary, 'srch', 'Plain one', { summary: 'All about zygomorphic flowers' }),
        created(inMaterial, 'srch', 'Plain two'),
        section(inMaterial, s, 'Week one'),
        material(inMaterial, s, randomUUID(), 'Zygomorphic petals'),
        created(other, 'srch', 'Unrelated'),
      );
      t.deepEqual(await titles(db.sql, admin, { q: 'zygomorphic' }), [
        'Zygomorphic sourcing',
        'Plain one',
        'Plain two',
      ]);
      t.deepEqual(await titles(db.sql, admin, { q: 'ZYGOMOR' }), [
        'Zygomorphic sourcing',
        'Plain one',
        'Plain two',
      ]);
      // Every word must match; a title that only looks alike (pg_trgm) comes after the real match.
      t.deepEqual(
        await titles(db.sql, admin, { q: 'zygomorphic petals' }),
        extensions.has('pg_trgm') ? ['Plain two', 'Zygomorphic sourcing'] : ['Plain two'],
      );
      t.deepEqual(await titles(db.sql, admin, { q: '!!!' }), []);
      t.deepEqual(
        await titles(db.sql, anonymous, { q: 'zygomorphic' }),
        [],
        'drafts stay hidden in search too',
      );
    },
  );

  test.serial(
    `${name}: accents fold where unaccent exists; misspellings match where pg_trgm does`,
    async (t) => {
      const apply = given(db.sql);
      await apply(created(randomUUID(), 'acc', 'Crème brûlée quixotically'));
      t.deepEqual(await titles(db.sql, admin, { q: 'crème' }), ['Crème brûlée quixotically']);
      t.deepEqual(
        await titles(db.sql, admin, { q: 'creme brulee' }),
        extensions.has('unaccent') ? ['Crème brûlée quixotically'] : [],
      );
      t.deepEqual(
        await titles(db.sql, admin, { q: 'quixoticaly' }),
        extensions.has('pg_trgm') ? ['Crème brûlée quixotically'] : [],
      );
    },
  );

  test.serial(`${name}: a search ranks only the newest matches, as many as it is bounded to`, async (t) => {
    const apply = given(db.sql);
    // The oldest courses say it most often, so rank highest when every match is ranked.
    await apply(
      ...Array.from({ length: 6 }, (_, i) =>
        created(randomUUID(), 'bounded', `Bounded quokka ${i}`, { summary: 'quokka '.repeat(6 - i) }),
      ),
    );
    const search = async (candidates?: number) =>
      (
        await listCourses(
          db.sql,
          admin,
          { q: 'quokka', author: 'bounded', limit: 10 },
          candidates ? { candidates } : {},
        )
      ).items.map((i) => i.title);
    t.deepEqual(
      await search(),
      [0, 1, 2, 3, 4, 5].map((i) => `Bounded quokka ${i}`),
    );
    t.deepEqual(
      await search(3),
      [3, 4, 5].map((i) => `Bounded quokka ${i}`),
    );
  });

  test.serial(`${name}: cursors page through lists and searches without gaps or repeats`, async (t) => {
    const apply = given(db.sql);
    const ids = Array.from({ length: 7 }, () => randomUUID());
    await apply(
      ...ids.map((id, i) =>
        created(id, 'pager', `Pageable xylophone ${i}`, { summary: 'xylophone '.repeat(i) }),
      ),
    );
    for (const q of [undefined, 'xylophone']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<typeof listCourses>> = await listCourses(db.sql, admin, {
          author: 'pager',
          limit: 3,
          ...(q ? { q } : {}),
          ...(cursor ? { after: decodeCursor(cursor) } : {}),
        });
        seen.push(...page.items.map((i) => i.courseId));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      t.is(pages, 3, String(q));
      t.deepEqual([...seen].sort(), [...ids].sort(), String(q));
      if (!q) t.deepEqual(seen, [...ids].reverse(), 'newest first');
    }
  });
};

for (const { name, open } of sqlEngines(test, 'catalogue')) suite(name, open);
