import * as schema from '@lectern/schemas/content/index';
import type { RecordedEvent } from '@lectern/schemas';

export type CatalogueMaterial = Readonly<{
  materialId: string;
  title: string;
  kind: schema.MaterialKind;
  assetId: string | null;
  body: string | null;
}>;
export type CatalogueSection = Readonly<{
  sectionId: string;
  title: string;
  materials: readonly CatalogueMaterial[];
}>;
export type ReviewComment = Readonly<{
  commentId: string;
  authorId: string;
  body: string;
  commentedAt: string;
}>;

/** One course of the read model `course_catalog`: what the catalogue lists and the detail shows. */
export type CatalogueEntry = Readonly<{
  courseId: string;
  authorId: string;
  status: schema.CourseStatus;
  title: string;
  summary: string;
  tags: readonly string[];
  sections: readonly CatalogueSection[];
  comments: readonly ReviewComment[];
  createdAt: string;
  updatedAt: string;
  publishedAt: string | null;
}>;

/** The course id a content event is about, or null for events of other streams (media assets). */
export const courseIdOf = (e: RecordedEvent): string | null =>
  schema.isContentEvent(e) && e.streamId === schema.courseStreamId(e.data.courseId) ? e.data.courseId : null;

const orderedBy = <T>(items: readonly T[], ids: readonly string[], idOf: (t: T) => string): T[] => {
  const rank = new Map(ids.map((id, i) => [id, i]));
  return [...items].sort((a, b) => (rank.get(idOf(a)) ?? ids.length) - (rank.get(idOf(b)) ?? ids.length));
};

const inSection = (
  doc: CatalogueEntry,
  sectionId: string,
  f: (s: CatalogueSection) => CatalogueSection,
): CatalogueEntry => ({ ...doc, sections: doc.sections.map((s) => (s.sectionId === sectionId ? f(s) : s)) });

/**
 * `evolve(doc | null, event)` of the catalogue (STYLE.md §12): null until
 * the course is created, null again once it is removed (the row goes).
 */
export const evolveEntry = (doc: CatalogueEntry | null, e: RecordedEvent): CatalogueEntry | null => {
  if (!schema.isContentEvent(e)) return doc;
  if (e.type === 'content.CourseCreated') {
    const d = e.data;
    return {
      courseId: d.courseId,
      authorId: d.authorId,
      status: 'draft',
      title: d.title,
      summary: d.summary,
      tags: d.tags,
      sections: [],
      comments: [],
      createdAt: d.createdAt,
      updatedAt: d.createdAt,
      publishedAt: null,
    };
  }
  if (doc === null) return null;
  const next = evolveExisting(doc, e);
  return next && { ...next, updatedAt: e.occurredAt };
};

const evolveExisting = (doc: CatalogueEntry, e: schema.ContentEvent): CatalogueEntry | null => {
  switch (e.type) {
    case 'content.CourseDetailsChanged': {
      const d = e.data;
      return {
        ...doc,
        title: d.title ?? doc.title,
        summary: d.summary ?? doc.summary,
        tags: d.tags ?? doc.tags,
      };
    }
    case 'content.CourseRemoved':
      return null;
    case 'content.SectionAdded':
      return {
        ...doc,
        sections: [...doc.sections, { sectionId: e.data.sectionId, title: e.data.title, materials: [] }],
      };
    case 'content.SectionRenamed':
      return inSection(doc, e.data.sectionId, (s) => ({ ...s, title: e.data.title }));
    case 'content.SectionsReordered':
      return { ...doc, sections: orderedBy(doc.sections, e.data.sectionIds, (s) => s.sectionId) };
    case 'content.SectionRemoved':
      return { ...doc, sections: doc.sections.filter((s) => s.sectionId !== e.data.sectionId) };
    case 'content.MaterialAdded': {
      const { materialId, title, kind, assetId, body } = e.data;
      return inSection(doc, e.data.sectionId, (s) => ({
        ...s,
        materials: [...s.materials, { materialId, title, kind, assetId, body }],
      }));
    }
    case 'content.MaterialChanged': {
      const d = e.data;
      return inSection(doc, d.sectionId, (s) => ({
        ...s,
        materials: s.materials.map((m) =>
          m.materialId === d.materialId
            ? { ...m, title: d.title ?? m.title, assetId: d.assetId ?? m.assetId, body: d.body ?? m.body }
            : m,
        ),
      }));
    }
    case 'content.MaterialsReordered':
      return inSection(doc, e.data.sectionId, (s) => ({
        ...s,
        materials: orderedBy(s.materials, e.data.materialIds, (m) => m.materialId),
      }));
    case 'content.MaterialRemoved':
      return inSection(doc, e.data.sectionId, (s) => ({
        ...s,
        materials: s.materials.filter((m) => m.materialId !== e.data.materialId),
      }));
    case 'content.CourseSubmittedForReview':
      return { ...doc, status: 'review' };
    case 'content.CoursePublished':
      return { ...doc, status: 'published', publishedAt: e.data.publishedAt };
    case 'content.CourseReturnedToDraft':
      return { ...doc, status: 'draft' };
    case 'content.CourseArchived':
      return { ...doc, status: 'archived' };
    case 'content.ReviewCommentAdded': {
      const { commentId, authorId, body, commentedAt } = e.data;
      return { ...doc, comments: [...doc.comments, { commentId, authorId, body, commentedAt }] };
    }
    default:
      // Created is handled by the caller; media-asset events are not about the course row.
      return doc;
  }
};
