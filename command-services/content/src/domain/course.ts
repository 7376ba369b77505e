import type * as schema from '@lectern/schemas/content/index';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Actor = Readonly<{ userId: string; roles: readonly string[] }>;

export type Material = Readonly<{
  materialId: string;
  title: string;
  kind: schema.MaterialKind;
  assetId: string | null;
  body: string | null;
}>;
export type Section = Readonly<{ sectionId: string; title: string; materials: readonly Material[] }>;
type CourseContent = Readonly<{
  courseId: string;
  authorId: string;
  title: string;
  summary: string;
  tags: readonly string[];
  sections: readonly Section[];
}>;

/**
 * A course's lifecycle. Sections and materials live in the course's stream:
 * ordering, the publish check and the workflow all need the whole course at
 * once, and a course is small enough to fold (docs/contexts/content.md).
 */
export type Course =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'draft' }> & CourseContent)
  | (Readonly<{ status: 'review' }> & CourseContent)
  | (Readonly<{ status: 'published' }> & CourseContent)
  | (Readonly<{ status: 'archived' }> & CourseContent)
  | Readonly<{ status: 'removed'; courseId: string }>;
type LiveCourse = Extract<Course, { sections: readonly Section[] }>;

/** What a route found about a media asset a command names (a lookup in the event store). */
export type AssetLookup = Readonly<{
  courseId: string;
  kind: schema.MediaKind;
  status: schema.MediaAssetStatus;
}>;

type By = Readonly<{ actor: Actor; at: string }>;
export type CourseCommand =
  | (By &
      Readonly<{
        type: 'CreateCourse';
        courseId: string;
        title: string;
        summary?: string;
        tags?: readonly string[];
      }>)
  | (By & Readonly<{ type: 'ChangeCourse'; title?: string; summary?: string; tags?: readonly string[] }>)
  | (By & Readonly<{ type: 'RemoveCourse' }>)
  | (By & Readonly<{ type: 'AddSection'; sectionId: string; title: string }>)
  | (By & Readonly<{ type: 'RenameSection'; sectionId: string; title: string }>)
  | (By & Readonly<{ type: 'RemoveSection'; sectionId: string }>)
  | (By & Readonly<{ type: 'ReorderSections'; sectionIds: readonly string[] }>)
  | (By &
      Readonly<{
        type: 'AddMaterial';
        sectionId: string;
        materialId: string;
        title: string;
        kind: schema.MaterialKind;
        assetId?: string;
        body?: string;
        /** The asset `assetId` names, or null when the store has none. */
        asset: AssetLookup | null;
      }>)
  | (By &
      Readonly<{
        type: 'ChangeMaterial';
        sectionId: string;
        materialId: string;
        title?: string;
        assetId?: string;
        body?: string;
        asset: AssetLookup | null;
      }>)
  | (By & Readonly<{ type: 'RemoveMaterial'; sectionId: string; materialId: string }>)
  | (By & Readonly<{ type: 'ReorderMaterials'; sectionId: string; materialIds: readonly string[] }>)
  | (By & Readonly<{ type: 'SubmitForReview' }>)
  | (By &
      Readonly<{
        type: 'PublishCourse';
        /** The status of every asset the course's materials name, as the store holds them. */
        assets: Readonly<Record<string, schema.MediaAssetStatus>>;
      }>)
  | (By & Readonly<{ type: 'ReturnToDraft' }>)
  | (By & Readonly<{ type: 'ArchiveCourse' }>)
  | (By & Readonly<{ type: 'CommentOnReview'; commentId: string; body: string }>);

export const initialState = (): Course => ({ status: 'none' });

const isAdmin = (actor: Actor): boolean => actor.roles.includes('admin');

/** The asset ids the course's materials name, each once, in course order. */
export const assetIdsOf = (s: Course): string[] =>
  'sections' in s
    ? [...new Set(s.sections.flatMap((x) => x.materials.flatMap((m) => (m.assetId ? [m.assetId] : []))))]
    : [];

const notFound = (): Problem => new Problem('not_found', 'course_not_found', 'No such course.');

/** The course, when it exists and the actor is its author or an admin. */
const owned = (s: Course, actor: Actor): LiveCourse => {
  if (s.status === 'none' || s.status === 'removed') throw notFound();
  if (s.authorId !== actor.userId && !isAdmin(actor))
    throw new Problem(
      'forbidden',
      'not_course_author',
      'Only the author of the course or an admin may do this.',
    );
  return s;
};

/** The course, when the actor may edit it and it is a draft: content changes only in draft. */
const editable = (s: Course, actor: Actor): LiveCourse & { status: 'draft' } => {
  const c = owned(s, actor);
  if (c.status !== 'draft')
    throw new Problem(
      'conflict',
      'course_not_editable',
      `The course is ${c.status}; return it to draft to edit it.`,
      {
        extra: { currentStatus: c.status },
      },
    );
  return c;
};

const sectionOf = (c: LiveCourse, sectionId: string): Section => {
  const found = c.sections.find((x) => x.sectionId === sectionId);
  if (!found) throw new Problem('not_found', 'section_not_found', 'No such section in this course.');
  return found;
};

const materialOf = (section: Section, materialId: string): Material => {
  const found = section.materials.find((m) => m.materialId === materialId);
  if (!found) throw new Problem('not_found', 'material_not_found', 'No such material in this section.');
  return found;
};

const invalidTransition = (c: LiveCourse, to: string): Problem =>
  new Problem('conflict', 'invalid_transition', `A ${c.status} course cannot be moved to ${to}.`, {
    extra: { currentStatus: c.status },
  });

/** Is `ids` every id of `current`, each once? */
const samePermutation = (ids: readonly string[], current: readonly string[]): boolean =>
  ids.length === current.length &&
  new Set(ids).size === ids.length &&
  ids.every((id) => current.includes(id));

const orderMismatch = (what: string): Problem =>
  new Problem('conflict', 'order_mismatch', `Send every ${what} once, in the new order.`);

/** The asset a media material names must be one of this course's, of the material's kind. */
const checkAsset = (
  c: LiveCourse,
  kind: schema.MaterialKind,
  assetId: string,
  asset: AssetLookup | null,
): void => {
  if (!asset || asset.courseId !== c.courseId)
    throw new Problem('validation', 'unknown_media_asset', 'The media asset is not one of this course.', {
      issues: [{ path: '/assetId', message: 'is not a media asset of this course' }],
      extra: { assetId },
    });
  if (asset.kind !== kind)
    throw new Problem(
      'validation',
      'material_kind_mismatch',
      `A ${kind} material cannot show a ${asset.kind} asset.`,
      {
        issues: [{ path: '/assetId', message: `is a ${asset.kind} asset` }],
      },
    );
};

export const decide = (cmd: CourseCommand, s: Course): schema.CourseStreamEvent[] => {
  switch (cmd.type) {
    case 'CreateCourse': {
      if (s.status !== 'none') throw new Problem('conflict', 'course_exists', 'This course already exists.');
      if (!cmd.actor.roles.some((r) => r === 'author' || r === 'admin'))
        throw new Problem('forbidden', 'forbidden', 'This needs one of the roles: author, admin.');
      const data: schema.CourseCreated = {
        courseId: cmd.courseId,
        authorId: cmd.actor.userId,
        title: cmd.title,
        summary: cmd.summary ?? '',
        tags: cmd.tags ?? [],
        createdAt: cmd.at,
      };
      return [{ type: 'content.CourseCreated', data }];
    }
    case 'ChangeCourse': {
      const c = editable(s, cmd.actor);
      const sameTags = (a: readonly string[], b: readonly string[]) =>
        a.length === b.length && a.every((t, i) => t === b[i]);
      const data: schema.CourseDetailsChanged = {
        courseId: c.courseId,
        ...(cmd.title !== undefined && cmd.title !== c.title ? { title: cmd.title } : {}),
        ...(cmd.summary !== undefined && cmd.summary !== c.summary ? { summary: cmd.summary } : {}),
        ...(cmd.tags !== undefined && !sameTags(cmd.tags, c.tags) ? { tags: cmd.tags } : {}),
        changedAt: cmd.at,
      };
      const changed = data.title !== undefined || data.summary !== undefined || data.tags !== undefined;
      return changed ? [{ type: 'content.CourseDetailsChanged', data }] : [];
    }
    case 'RemoveCourse': {
      const c = owned(s, cmd.actor);
      if (c.status === 'published')
        throw new Problem('conflict', 'course_published', 'Archive a published course before removing it.', {
          extra: { currentStatus: c.status },
        });
      return [{ type: 'content.CourseRemoved', data: { courseId: c.courseId, removedAt: cmd.at } }];
    }
    case 'AddSection': {
      const c = editable(s, cmd.actor);
      if (c.sections.length >= 100)
        throw new Problem('conflict', 'too_many_sections', 'A course has at most 100 sections.');
      const data = { courseId: c.courseId, sectionId: cmd.sectionId, title: cmd.title, addedAt: cmd.at };
      return [{ type: 'content.SectionAdded', data }];
    }
    case 'RenameSection': {
      const c = editable(s, cmd.actor);
      const section = sectionOf(c, cmd.sectionId);
      if (section.title === cmd.title) return [];
      const data = { courseId: c.courseId, sectionId: cmd.sectionId, title: cmd.title, renamedAt: cmd.at };
      return [{ type: 'content.SectionRenamed', data }];
    }
    case 'RemoveSection': {
      const c = editable(s, cmd.actor);
      sectionOf(c, cmd.sectionId);
      return [
        {
          type: 'content.SectionRemoved',
          data: { courseId: c.courseId, sectionId: cmd.sectionId, removedAt: cmd.at },
        },
      ];
    }
    case 'ReorderSections': {
      const c = editable(s, cmd.actor);
      const current = c.sections.map((x) => x.sectionId);
      if (!samePermutation(cmd.sectionIds, current)) throw orderMismatch('section of the course');
      if (cmd.sectionIds.every((id, i) => id === current[i])) return [];
      const data = { courseId: c.courseId, sectionIds: cmd.sectionIds, reorderedAt: cmd.at };
      return [{ type: 'content.SectionsReordered', data }];
    }
    case 'AddMaterial': {
      const c = editable(s, cmd.actor);
      const section = sectionOf(c, cmd.sectionId);
      if (section.materials.length >= 100)
        throw new Problem('conflict', 'too_many_materials', 'A section has at most 100 materials.');
      if (cmd.kind !== 'text') {
        if (cmd.assetId === undefined)
          throw new Problem('validation', 'validation_failed', 'A media material names its asset.', {
            issues: [{ path: '/assetId', message: `is required for a ${cmd.kind} material` }],
          });
        checkAsset(c, cmd.kind, cmd.assetId, cmd.asset);
      }
      const data: schema.MaterialAdded = {
        courseId: c.courseId,
        sectionId: cmd.sectionId,
        materialId: cmd.materialId,
        title: cmd.title,
        kind: cmd.kind,
        assetId: cmd.kind === 'text' ? null : (cmd.assetId ?? null),
        body: cmd.kind === 'text' ? (cmd.body ?? '') : null,
        addedAt: cmd.at,
      };
      return [{ type: 'content.MaterialAdded', data }];
    }
    case 'ChangeMaterial': {
      const c = editable(s, cmd.actor);
      const m = materialOf(sectionOf(c, cmd.sectionId), cmd.materialId);
      const mismatch = (field: string, why: string) =>
        new Problem('validation', 'material_kind_mismatch', why, {
          issues: [{ path: `/${field}`, message: why }],
        });
      if (cmd.body !== undefined && m.kind !== 'text') throw mismatch('body', 'is only for text materials');
      if (cmd.assetId !== undefined && m.kind === 'text')
        throw mismatch('assetId', 'is only for media materials');
      if (cmd.assetId !== undefined && m.kind !== 'text') checkAsset(c, m.kind, cmd.assetId, cmd.asset);
      const data: schema.MaterialChanged = {
        courseId: c.courseId,
        sectionId: cmd.sectionId,
        materialId: cmd.materialId,
        ...(cmd.title !== undefined && cmd.title !== m.title ? { title: cmd.title } : {}),
        ...(cmd.assetId !== undefined && cmd.assetId !== m.assetId ? { assetId: cmd.assetId } : {}),
        ...(cmd.body !== undefined && cmd.body !== m.body ? { body: cmd.body } : {}),
        changedAt: cmd.at,
      };
      const changed = data.title !== undefined || data.assetId !== undefined || data.body !== undefined;
      return changed ? [{ type: 'content.MaterialChanged', data }] : [];
    }
    case 'RemoveMaterial': {
      const c = editable(s, cmd.actor);
      materialOf(sectionOf(c, cmd.sectionId), cmd.materialId);
      const data = {
        courseId: c.courseId,
        sectionId: cmd.sectionId,
        materialId: cmd.materialId,
        removedAt: cmd.at,
      };
      return [{ type: 'content.MaterialRemoved', data }];
    }
    case 'ReorderMaterials': {
      const c = editable(s, cmd.actor);
      const current = sectionOf(c, cmd.sectionId).materials.map((m) => m.materialId);
      if (!samePermutation(cmd.materialIds, current)) throw orderMismatch('material of the section');
      if (cmd.materialIds.every((id, i) => id === current[i])) return [];
      const data = {
        courseId: c.courseId,
        sectionId: cmd.sectionId,
        materialIds: cmd.materialIds,
        reorderedAt: cmd.at,
      };
      return [{ type: 'content.MaterialsReordered', data }];
    }
    case 'SubmitForReview': {
      const c = owned(s, cmd.actor);
      if (c.status !== 'draft') throw invalidTransition(c, 'review');
      return [
        { type: 'content.CourseSubmittedForReview', data: { courseId: c.courseId, submittedAt: cmd.at } },
      ];
    }
    case 'PublishCourse': {
      const c = owned(s, cmd.actor);
      if (c.status !== 'review') throw invalidTransition(c, 'published');
      // An asset the lookup did not find counts as not ready: publishing never trusts a missing answer.
      const notReady = assetIdsOf(c)
        .map((assetId) => ({ assetId, status: cmd.assets[assetId] ?? 'unknown' }))
        .filter((a) => a.status !== 'ready');
      if (notReady.length)
        throw new Problem(
          'conflict',
          'media_not_ready',
          `${notReady.length} media asset(s) of the course are not ready.`,
          { extra: { currentStatus: c.status, assets: notReady } },
        );
      const data = { courseId: c.courseId, authorId: c.authorId, title: c.title, publishedAt: cmd.at };
      return [{ type: 'content.CoursePublished', data }];
    }
    case 'ReturnToDraft': {
      const c = owned(s, cmd.actor);
      if (c.status === 'draft') throw invalidTransition(c, 'draft');
      return [
        {
          type: 'content.CourseReturnedToDraft',
          data: { courseId: c.courseId, from: c.status, returnedAt: cmd.at },
        },
      ];
    }
    case 'ArchiveCourse': {
      const c = owned(s, cmd.actor);
      if (c.status === 'archived') throw invalidTransition(c, 'archived');
      return [
        {
          type: 'content.CourseArchived',
          data: { courseId: c.courseId, from: c.status, archivedAt: cmd.at },
        },
      ];
    }
    case 'CommentOnReview': {
      if (s.status === 'none' || s.status === 'removed') throw notFound();
      if (!isAdmin(cmd.actor))
        throw new Problem('forbidden', 'forbidden', 'Only reviewers (admins) comment.');
      if (s.status !== 'review')
        throw new Problem('conflict', 'course_not_in_review', 'Comments are for courses in review.', {
          extra: { currentStatus: s.status },
        });
      const data: schema.ReviewCommentAdded = {
        courseId: s.courseId,
        commentId: cmd.commentId,
        authorId: cmd.actor.userId,
        body: cmd.body,
        commentedAt: cmd.at,
      };
      return [{ type: 'content.ReviewCommentAdded', data }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

const withSection = (c: LiveCourse, sectionId: string, f: (x: Section) => Section): LiveCourse => ({
  ...c,
  sections: c.sections.map((x) => (x.sectionId === sectionId ? f(x) : x)),
});

/** Orders `items` as `ids` lists them; items it does not list keep their place after them. */
export const ordered = <T>(items: readonly T[], ids: readonly string[], idOf: (t: T) => string): T[] => {
  const rank = new Map(ids.map((id, i) => [id, i]));
  return [...items].sort((a, b) => (rank.get(idOf(a)) ?? ids.length) - (rank.get(idOf(b)) ?? ids.length));
};

export const evolve = (s: Course, e: schema.CourseStreamEvent): Course => {
  if (e.type === 'content.CourseCreated') {
    const d = e.data;
    return {
      status: 'draft',
      courseId: d.courseId,
      authorId: d.authorId,
      title: d.title,
      summary: d.summary,
      tags: d.tags,
      sections: [],
    };
  }
  if (s.status === 'none' || s.status === 'removed') return s;
  switch (e.type) {
    case 'content.CourseDetailsChanged': {
      const d = e.data;
      return { ...s, title: d.title ?? s.title, summary: d.summary ?? s.summary, tags: d.tags ?? s.tags };
    }
    case 'content.CourseRemoved':
      return { status: 'removed', courseId: s.courseId };
    case 'content.SectionAdded':
      return {
        ...s,
        sections: [...s.sections, { sectionId: e.data.sectionId, title: e.data.title, materials: [] }],
      };
    case 'content.SectionRenamed':
      return withSection(s, e.data.sectionId, (x) => ({ ...x, title: e.data.title }));
    case 'content.SectionsReordered':
      return { ...s, sections: ordered(s.sections, e.data.sectionIds, (x) => x.sectionId) };
    case 'content.SectionRemoved':
      return { ...s, sections: s.sections.filter((x) => x.sectionId !== e.data.sectionId) };
    case 'content.MaterialAdded': {
      const d = e.data;
      const m: Material = {
        materialId: d.materialId,
        title: d.title,
        kind: d.kind,
        assetId: d.assetId,
        body: d.body,
      };
      return withSection(s, d.sectionId, (x) => ({ ...x, materials: [...x.materials, m] }));
    }
    case 'content.MaterialChanged': {
      const d = e.data;
      return withSection(s, d.sectionId, (x) => ({
        ...x,
        materials: x.materials.map((m) =>
          m.materialId === d.materialId
            ? { ...m, title: d.title ?? m.title, assetId: d.assetId ?? m.assetId, body: d.body ?? m.body }
            : m,
        ),
      }));
    }
    case 'content.MaterialsReordered':
      return withSection(s, e.data.sectionId, (x) => ({
        ...x,
        materials: ordered(x.materials, e.data.materialIds, (m) => m.materialId),
      }));
    case 'content.MaterialRemoved':
      return withSection(s, e.data.sectionId, (x) => ({
        ...x,
        materials: x.materials.filter((m) => m.materialId !== e.data.materialId),
      }));
    case 'content.CourseSubmittedForReview':
      return { ...s, status: 'review' };
    case 'content.CoursePublished':
      return { ...s, status: 'published' };
    case 'content.CourseReturnedToDraft':
      return { ...s, status: 'draft' };
    case 'content.CourseArchived':
      return { ...s, status: 'archived' };
    case 'content.ReviewCommentAdded':
      return s;
    default:
      return unknownEvent(e, s);
  }
};

export const courseDecider: Decider<Course, CourseCommand, schema.CourseStreamEvent> = {
  initialState,
  decide,
  evolve,
};
