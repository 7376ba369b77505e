import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type * as schema from '@lectern/schemas/content/index';
import { courseDecider, evolve, initialState, type Course } from './course.ts';

const courseId = '7d0a6f1e-3c2b-4a59-8e1f-0b2c3d4e5f60';
const s1 = '1f2e3d4c-5b6a-4798-8a1b-2c3d4e5f6071';
const s2 = '1f2e3d4c-5b6a-4798-8a1b-2c3d4e5f6072';
const m1 = '2a3b4c5d-6e7f-4081-9a2b-3c4d5e6f7081';
const m2 = '2a3b4c5d-6e7f-4081-9a2b-3c4d5e6f7082';
const asset = '3b4c5d6e-7f80-4192-8b3c-4d5e6f708192';
const at = '2026-03-01T10:00:00.000Z';
const ada = { userId: 'ada', roles: ['author'] };
const bob = { userId: 'bob', roles: ['author'] };
const admin = { userId: 'root', roles: ['admin'] };
const by = { actor: ada, at };

const created: schema.CourseStreamEvent = {
  type: 'content.CourseCreated',
  data: { courseId, authorId: 'ada', title: 'ES', summary: '', tags: [], createdAt: at },
};
const section = (sectionId: string, title = 'S'): schema.CourseStreamEvent => ({
  type: 'content.SectionAdded',
  data: { courseId, sectionId, title, addedAt: at },
});
const video: schema.CourseStreamEvent = {
  type: 'content.MaterialAdded',
  data: {
    courseId,
    sectionId: s1,
    materialId: m1,
    title: 'V',
    kind: 'video',
    assetId: asset,
    body: null,
    addedAt: at,
  },
};
const text: schema.CourseStreamEvent = {
  type: 'content.MaterialAdded',
  data: {
    courseId,
    sectionId: s1,
    materialId: m2,
    title: 'T',
    kind: 'text',
    assetId: null,
    body: 'hi',
    addedAt: at,
  },
};
const submitted: schema.CourseStreamEvent = {
  type: 'content.CourseSubmittedForReview',
  data: { courseId, submittedAt: at },
};
const published: schema.CourseStreamEvent = {
  type: 'content.CoursePublished',
  data: { courseId, authorId: 'ada', title: 'ES', publishedAt: at },
};

test('an author creates a course that is theirs; a learner cannot', (t) => {
  spec(courseDecider)
    .given([])
    .when({ type: 'CreateCourse', courseId, title: 'ES', ...by })
    .then(t, [created]);
  spec(courseDecider)
    .given([])
    .when({ type: 'CreateCourse', courseId, title: 'ES', actor: { userId: 'x', roles: ['learner'] }, at })
    .thenFails(t, 'forbidden');
});

test('only the author or an admin changes a course, and only the fields that change', (t) => {
  spec(courseDecider)
    .given([created])
    .when({ type: 'ChangeCourse', title: 'X', actor: bob, at })
    .thenFails(t, 'not_course_author');
  spec(courseDecider)
    .given([created])
    .when({ type: 'ChangeCourse', title: 'ES', summary: 'new', tags: [], actor: admin, at })
    .then(t, [{ type: 'content.CourseDetailsChanged', data: { courseId, summary: 'new', changedAt: at } }]);
  spec(courseDecider)
    .given([created])
    .when({ type: 'ChangeCourse', title: 'ES', ...by })
    .then(t, []);
});

test('a course that does not exist, or was removed, is not found', (t) => {
  spec(courseDecider)
    .given([])
    .when({ type: 'AddSection', sectionId: s1, title: 'S', ...by })
    .thenFails(t, 'course_not_found');
  const removed: schema.CourseStreamEvent = {
    type: 'content.CourseRemoved',
    data: { courseId, removedAt: at },
  };
  spec(courseDecider)
    .given([created, removed])
    .when({ type: 'SubmitForReview', ...by })
    .thenFails(t, 'course_not_found');
});

test('a published course cannot be removed; a draft can', (t) => {
  spec(courseDecider)
    .given([created, submitted, published])
    .when({ type: 'RemoveCourse', ...by })
    .thenFails(t, 'course_published');
  spec(courseDecider)
    .given([created])
    .when({ type: 'RemoveCourse', ...by })
    .then(t, [{ type: 'content.CourseRemoved', data: { courseId, removedAt: at } }]);
});

test('content changes only in draft', (t) => {
  spec(courseDecider)
    .given([created, submitted])
    .when({ type: 'AddSection', sectionId: s1, title: 'S', ...by })
    .thenFails(t, 'course_not_editable');
});

test('sections reorder only as a permutation of the current ones', (t) => {
  const given = spec(courseDecider).given([created, section(s1), section(s2)]);
  given.when({ type: 'ReorderSections', sectionIds: [s2], ...by }).thenFails(t, 'order_mismatch');
  given.when({ type: 'ReorderSections', sectionIds: [s2, s2], ...by }).thenFails(t, 'order_mismatch');
  given.when({ type: 'ReorderSections', sectionIds: [s1, s2], ...by }).then(t, []);
  given
    .when({ type: 'ReorderSections', sectionIds: [s2, s1], ...by })
    .then(t, [
      { type: 'content.SectionsReordered', data: { courseId, sectionIds: [s2, s1], reorderedAt: at } },
    ]);
});

test('evolve keeps sections and materials in order through adds, reorders and removals', (t) => {
  const events: schema.CourseStreamEvent[] = [
    created,
    section(s1, 'one'),
    section(s2, 'two'),
    video,
    text,
    {
      type: 'content.MaterialsReordered',
      data: { courseId, sectionId: s1, materialIds: [m2, m1], reorderedAt: at },
    },
    { type: 'content.SectionsReordered', data: { courseId, sectionIds: [s2, s1], reorderedAt: at } },
    { type: 'content.MaterialRemoved', data: { courseId, sectionId: s1, materialId: m1, removedAt: at } },
  ];
  const s: Course = events.reduce(evolve, initialState());
  t.true('sections' in s);
  if ('sections' in s)
    t.deepEqual(
      s.sections.map((x) => [x.title, x.materials.map((m) => m.title)]),
      [
        ['two', []],
        ['one', ['T']],
      ],
    );
});

test('a media material must name an asset of this course of its kind', (t) => {
  const given = spec(courseDecider).given([created, section(s1)]);
  const add = {
    type: 'AddMaterial',
    sectionId: s1,
    materialId: m1,
    title: 'V',
    kind: 'video',
    assetId: asset,
    ...by,
  } as const;
  given.when({ ...add, asset: null }).thenFails(t, 'unknown_media_asset');
  given
    .when({ ...add, asset: { courseId: s2, kind: 'video', status: 'ready' } })
    .thenFails(t, 'unknown_media_asset');
  given
    .when({ ...add, asset: { courseId, kind: 'audio', status: 'ready' } })
    .thenFails(t, 'material_kind_mismatch');
  given.when({ ...add, asset: { courseId, kind: 'video', status: 'pending' } }).then(t, [video]);
});

test('the workflow moves draft → review → published and back; other moves are 409 with the current status', (t) => {
  spec(courseDecider)
    .given([created])
    .when({ type: 'SubmitForReview', ...by })
    .then(t, [submitted]);
  spec(courseDecider)
    .given([created])
    .when({ type: 'PublishCourse', assets: {}, ...by })
    .thenFails(t, 'invalid_transition');
  spec(courseDecider)
    .given([created, submitted])
    .when({ type: 'PublishCourse', assets: {}, ...by })
    .then(t, [published]);
  spec(courseDecider)
    .given([created, submitted, published])
    .when({ type: 'ReturnToDraft', actor: admin, at })
    .then(t, [
      { type: 'content.CourseReturnedToDraft', data: { courseId, from: 'published', returnedAt: at } },
    ]);
  spec(courseDecider)
    .given([created])
    .when({ type: 'ReturnToDraft', ...by })
    .thenFails(t, 'invalid_transition');
  spec(courseDecider)
    .given([created, submitted])
    .when({ type: 'ArchiveCourse', ...by })
    .then(t, [{ type: 'content.CourseArchived', data: { courseId, from: 'review', archivedAt: at } }]);
  spec(courseDecider)
    .given([created, submitted])
    .when({ type: 'SubmitForReview', actor: bob, at })
    .thenFails(t, 'not_course_author');
  const error = t.throws(() =>
    courseDecider.decide(
      { type: 'SubmitForReview', ...by },
      [created, submitted].reduce(evolve, initialState()),
    ),
  );
  t.like((error as { extra?: object }).extra, { currentStatus: 'review' });
});

test('a course cannot be published while one of its media assets is not ready, and the answer names them', (t) => {
  const given = spec(courseDecider).given([created, section(s1), video, submitted]);
  given
    .when({ type: 'PublishCourse', assets: { [asset]: 'pending' }, ...by })
    .thenFails(t, 'media_not_ready');
  given.when({ type: 'PublishCourse', assets: {}, ...by }).thenFails(t, 'media_not_ready');
  const error = t.throws(() =>
    courseDecider.decide({ type: 'PublishCourse', assets: { [asset]: 'failed' }, ...by }, given.state),
  );
  t.deepEqual((error as { extra?: { assets: unknown } }).extra?.assets, [
    { assetId: asset, status: 'failed' },
  ]);
  given.when({ type: 'PublishCourse', assets: { [asset]: 'ready' }, ...by }).then(t, [published]);
});

test('reviewers (admins) comment on a course in review only', (t) => {
  const commentId = '4c5d6e7f-8091-42a3-9c4d-5e6f708192a3';
  const comment = { type: 'CommentOnReview', commentId, body: 'More examples.' } as const;
  spec(courseDecider)
    .given([created])
    .when({ ...comment, actor: admin, at })
    .thenFails(t, 'course_not_in_review');
  spec(courseDecider)
    .given([created, submitted])
    .when({ ...comment, ...by })
    .thenFails(t, 'forbidden');
  spec(courseDecider)
    .given([created, submitted])
    .when({ ...comment, actor: admin, at })
    .then(t, [
      {
        type: 'content.ReviewCommentAdded',
        data: { courseId, commentId, authorId: 'root', body: 'More examples.', commentedAt: at },
      },
    ]);
});
