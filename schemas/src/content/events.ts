import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  arrayOf,
  boolean,
  number,
  integer,
  isoTime as isoTimeOf,
  nullable,
  object,
  oneOf,
  string,
  uuid as uuidOf,
  type Validator,
} from '../validation.ts';
import {
  MAX_MATERIALS_PER_SECTION,
  MAX_SECTIONS,
  commentBody,
  courseSummary,
  courseTitle,
  materialBody,
  materialKinds,
  materialTitle,
  mediaKinds,
  mediaTitle,
  sectionTitle,
  tags,
  type MaterialKind,
  type MediaKind,
  MAX_UPLOAD_BYTES,
  uploadContentTypes,
  uploadFileName,
  type UploadContentType,
} from './fields.ts';

export type CourseCreated = Readonly<{
  courseId: string;
  authorId: string;
  title: string;
  summary: string;
  tags: readonly string[];
  createdAt: string;
}>;
/** Only the fields that changed are present, with their new values. */
export type CourseDetailsChanged = Readonly<{
  courseId: string;
  title?: string;
  summary?: string;
  tags?: readonly string[];
  changedAt: string;
}>;
export type CourseRemoved = Readonly<{ courseId: string; removedAt: string }>;
export type SectionAdded = Readonly<{ courseId: string; sectionId: string; title: string; addedAt: string }>;
export type SectionRenamed = Readonly<{
  courseId: string;
  sectionId: string;
  title: string;
  renamedAt: string;
}>;
export type SectionsReordered = Readonly<{
  courseId: string;
  sectionIds: readonly string[];
  reorderedAt: string;
}>;
/** A removed section takes its materials with it. */
export type SectionRemoved = Readonly<{ courseId: string; sectionId: string; removedAt: string }>;
export type MaterialAdded = Readonly<{
  courseId: string;
  sectionId: string;
  materialId: string;
  title: string;
  kind: MaterialKind;
  /** The media asset of a `video`, `audio` or `document` material; null for `text`. */
  assetId: string | null;
  /** The text of a `text` material; null otherwise. */
  body: string | null;
  addedAt: string;
}>;
export type MaterialChanged = Readonly<{
  courseId: string;
  sectionId: string;
  materialId: string;
  title?: string;
  assetId?: string;
  body?: string;
  changedAt: string;
}>;
export type MaterialsReordered = Readonly<{
  courseId: string;
  sectionId: string;
  materialIds: readonly string[];
  reorderedAt: string;
}>;
export type MaterialRemoved = Readonly<{
  courseId: string;
  sectionId: string;
  materialId: string;
  removedAt: string;
}>;
export type CourseSubmittedForReview = Readonly<{ courseId: string; submittedAt: string }>;
export type CoursePublished = Readonly<{
  courseId: string;
  authorId: string;
  title: string;
  publishedAt: string;
}>;
export type CourseReturnedToDraft = Readonly<{
  courseId: string;
  from: 'review' | 'published' | 'archived';
  returnedAt: string;
}>;
export type CourseArchived = Readonly<{
  courseId: string;
  from: 'draft' | 'review' | 'published';
  archivedAt: string;
}>;
export type ReviewCommentAdded = Readonly<{
  courseId: string;
  commentId: string;
  authorId: string;
  body: string;
  commentedAt: string;
}>;
export type MediaAssetRegistered = Readonly<{
  assetId: string;
  courseId: string;
  kind: MediaKind;
  title: string;
  registeredAt: string;
}>;
/** A file is on its way to the storage, straight from the client, under `key`. */
export type MediaAssetUploadStarted = Readonly<{
  assetId: string;
  courseId: string;
  /** Ours (`content/<courseId>/<assetId>`), never the file name. */
  key: string;
  contentType: UploadContentType;
  size: number;
  /** The storage's multipart upload id; null for a single PUT. */
  uploadId: string | null;
  /** What the client called the file, for display only. */
  fileName: string | null;
  startedAt: string;
}>;
/** The file is in the storage, checked: its size, and its first bytes are the type it was declared as. */
export type MediaAssetUploaded = Readonly<{
  assetId: string;
  courseId: string;
  key: string;
  contentType: UploadContentType;
  size: number;
  uploadedAt: string;
}>;
/** A video waits for the media worker to transcode it (it answers ready or failed). */
export type MediaAssetTranscodeRequested = Readonly<{
  assetId: string;
  courseId: string;
  key: string;
  contentType: UploadContentType;
  requestedAt: string;
  /** Only these renditions made again (the others kept from the ladder); absent: the whole ladder. */
  renditions?: readonly string[];
  /** The failed job this request asks for again, when a redrive of its dead letter did. */
  requeueOf?: string;
}>;
export type MediaAssetReady = Readonly<{ assetId: string; courseId: string; readyAt: string }>;
/** One rendition of an HLS ladder: its media playlist, relative to the job's prefix. */
export type Rendition = Readonly<{
  name: string;
  width: number;
  height: number;
  /** Peak bits per second, as the master playlist's BANDWIDTH says. */
  bandwidth: number;
  playlist: string;
}>;
/** How far a transcode job is, from ffmpeg's own progress report (now and then, not every frame). */
export type MediaAssetTranscodeProgressed = Readonly<{
  assetId: string;
  courseId: string;
  jobId: string;
  percent: number;
  /** Seconds left at the speed so far; null until ffmpeg has said how fast it goes. */
  etaSeconds: number | null;
  at: string;
}>;
/**
 * A ladder was stored under the job's own prefix and read back with ffprobe:
 * the asset plays from it from now on. A ladder of an earlier job is left
 * where it was, so nothing playing it breaks mid-stream.
 */
export type MediaAssetTranscoded = Readonly<{
  assetId: string;
  courseId: string;
  jobId: string;
  /** The job's prefix in the storage: every file of the ladder is under it. */
  prefix: string;
  /** The master playlist's key. */
  master: string;
  renditions: readonly Rendition[];
  durationSeconds: number;
  transcodedAt: string;
}>;
/** A transcode job gave up: at once for a source that is not a video, after its retries otherwise. */
export type MediaAssetTranscodeFailed = Readonly<{
  assetId: string;
  courseId: string;
  jobId: string;
  reason: string;
  attempts: number;
  /** True when trying again cannot help (the source is not a readable video). */
  permanent: boolean;
  failedAt: string;
}>;
export type MediaAssetFailed = Readonly<{
  assetId: string;
  courseId: string;
  reason: string;
  failedAt: string;
}>;

/** The events of a `course-<courseId>` stream: the course, its sections and materials, its workflow and review. */
export type CourseStreamEvent =
  | DomainEvent<'content.CourseCreated', CourseCreated>
  | DomainEvent<'content.CourseDetailsChanged', CourseDetailsChanged>
  | DomainEvent<'content.CourseRemoved', CourseRemoved>
  | DomainEvent<'content.SectionAdded', SectionAdded>
  | DomainEvent<'content.SectionRenamed', SectionRenamed>
  | DomainEvent<'content.SectionsReordered', SectionsReordered>
  | DomainEvent<'content.SectionRemoved', SectionRemoved>
  | DomainEvent<'content.MaterialAdded', MaterialAdded>
  | DomainEvent<'content.MaterialChanged', MaterialChanged>
  | DomainEvent<'content.MaterialsReordered', MaterialsReordered>
  | DomainEvent<'content.MaterialRemoved', MaterialRemoved>
  | DomainEvent<'content.CourseSubmittedForReview', CourseSubmittedForReview>
  | DomainEvent<'content.CoursePublished', CoursePublished>
  | DomainEvent<'content.CourseReturnedToDraft', CourseReturnedToDraft>
  | DomainEvent<'content.CourseArchived', CourseArchived>
  | DomainEvent<'content.ReviewCommentAdded', ReviewCommentAdded>;

/** The events of a `mediaasset-<assetId>` stream. */
export type MediaAssetStreamEvent =
  | DomainEvent<'content.MediaAssetRegistered', MediaAssetRegistered>
  | DomainEvent<'content.MediaAssetUploadStarted', MediaAssetUploadStarted>
  | DomainEvent<'content.MediaAssetUploaded', MediaAssetUploaded>
  | DomainEvent<'content.MediaAssetTranscodeRequested', MediaAssetTranscodeRequested>
  | DomainEvent<'content.MediaAssetReady', MediaAssetReady>
  | DomainEvent<'content.MediaAssetFailed', MediaAssetFailed>
  | DomainEvent<'content.MediaAssetTranscodeProgressed', MediaAssetTranscodeProgressed>
  | DomainEvent<'content.MediaAssetTranscoded', MediaAssetTranscoded>
  | DomainEvent<'content.MediaAssetTranscodeFailed', MediaAssetTranscodeFailed>;

/** Every content event as decided, narrowed by `type`. */
export type ContentDomainEvent = CourseStreamEvent | MediaAssetStreamEvent;

/** Every content event as read back from the store or the log, narrowed by `type`. */
export type ContentEvent = RecordedEventOf<ContentDomainEvent>;

const isoTime = isoTimeOf();
const uuid = uuidOf();
/** User ids are token subjects. */
const userId = string({ min: 1, max: 128 });
const blobKey = string({ min: 1, max: 512 });
/** A rung of a ladder by its height: `720p`, `1080p`. */
export const renditionName = string({ min: 1, max: 20, pattern: /^[0-9]{3,4}p$/ });
const v1 = (validate: Validator<unknown>) => [{ version: 1, validate }] as const;
const section = { courseId: uuid, sectionId: uuid } as const;
const material = { ...section, materialId: uuid } as const;

export const contentEvents: CatalogueOf<ContentDomainEvent> = {
  'content.CourseCreated': v1(
    object({
      courseId: uuid,
      authorId: userId,
      title: courseTitle,
      summary: courseSummary,
      tags,
      createdAt: isoTime,
    }),
  ),
  'content.CourseDetailsChanged': v1(
    object(
      { courseId: uuid, title: courseTitle, summary: courseSummary, tags, changedAt: isoTime },
      { optional: ['title', 'summary', 'tags'] },
    ),
  ),
  'content.CourseRemoved': v1(object({ courseId: uuid, removedAt: isoTime })),
  'content.SectionAdded': v1(object({ ...section, title: sectionTitle, addedAt: isoTime })),
  'content.SectionRenamed': v1(object({ ...section, title: sectionTitle, renamedAt: isoTime })),
  'content.SectionsReordered': v1(
    object({ courseId: uuid, sectionIds: arrayOf(uuid, { max: MAX_SECTIONS }), reorderedAt: isoTime }),
  ),
  'content.SectionRemoved': v1(object({ ...section, removedAt: isoTime })),
  'content.MaterialAdded': v1(
    object({
      ...material,
      title: materialTitle,
      kind: oneOf(materialKinds),
      assetId: nullable(uuid),
      body: nullable(materialBody),
      addedAt: isoTime,
    }),
  ),
  'content.MaterialChanged': v1(
    object(
      { ...material, title: materialTitle, assetId: uuid, body: materialBody, changedAt: isoTime },
      { optional: ['title', 'assetId', 'body'] },
    ),
  ),
  'content.MaterialsReordered': v1(
    object({
      ...section,
      materialIds: arrayOf(uuid, { max: MAX_MATERIALS_PER_SECTION }),
      reorderedAt: isoTime,
    }),
  ),
  'content.MaterialRemoved': v1(object({ ...material, removedAt: isoTime })),
  'content.CourseSubmittedForReview': v1(object({ courseId: uuid, submittedAt: isoTime })),
  'content.CoursePublished': v1(
    object({ courseId: uuid, authorId: userId, title: courseTitle, publishedAt: isoTime }),
  ),
  'content.CourseReturnedToDraft': v1(
    object({ courseId: uuid, from: oneOf(['review', 'published', 'archived']), returnedAt: isoTime }),
  ),
  'content.CourseArchived': v1(
    object({ courseId: uuid, from: oneOf(['draft', 'review', 'published']), archivedAt: isoTime }),
  ),
  'content.ReviewCommentAdded': v1(
    object({ courseId: uuid, commentId: uuid, authorId: userId, body: commentBody, commentedAt: isoTime }),
  ),
  'content.MediaAssetRegistered': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      kind: oneOf(mediaKinds),
      title: mediaTitle,
      registeredAt: isoTime,
    }),
  ),
  'content.MediaAssetUploadStarted': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      key: blobKey,
      contentType: oneOf(uploadContentTypes),
      size: integer({ min: 1, max: MAX_UPLOAD_BYTES }),
      uploadId: nullable(string({ min: 1, max: 256 })),
      fileName: nullable(uploadFileName),
      startedAt: isoTime,
    }),
  ),
  'content.MediaAssetUploaded': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      key: blobKey,
      contentType: oneOf(uploadContentTypes),
      size: integer({ min: 1, max: MAX_UPLOAD_BYTES }),
      uploadedAt: isoTime,
    }),
  ),
  'content.MediaAssetTranscodeRequested': v1(
    object(
      {
        assetId: uuid,
        courseId: uuid,
        key: blobKey,
        contentType: oneOf(uploadContentTypes),
        requestedAt: isoTime,
        renditions: arrayOf(renditionName, { max: 8 }),
        requeueOf: uuid,
      },
      { optional: ['renditions', 'requeueOf'] },
    ),
  ),
  'content.MediaAssetReady': v1(object({ assetId: uuid, courseId: uuid, readyAt: isoTime })),
  'content.MediaAssetFailed': v1(
    object({ assetId: uuid, courseId: uuid, reason: string({ min: 1, max: 2000 }), failedAt: isoTime }),
  ),
  'content.MediaAssetTranscodeProgressed': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      jobId: uuid,
      percent: number({ min: 0, max: 100 }),
      etaSeconds: nullable(number({ min: 0 })),
      at: isoTime,
    }),
  ),
  'content.MediaAssetTranscoded': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      jobId: uuid,
      prefix: blobKey,
      master: blobKey,
      renditions: arrayOf(
        object({
          name: renditionName,
          width: integer({ min: 2, max: 8192 }),
          height: integer({ min: 2, max: 8192 }),
          bandwidth: integer({ min: 1 }),
          // Under the job's prefix, or a kept rendition's under an earlier job's (`../<jobId>/1080p/…`).
          playlist: string({
            min: 1,
            max: 200,
            pattern: /^(?:\.\.\/[0-9a-f-]{36}\/)?[A-Za-z0-9][A-Za-z0-9_-]*(?:\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/,
          }),
        }),
        { max: 8 },
      ),
      durationSeconds: number({ min: 0 }),
      transcodedAt: isoTime,
    }),
  ),
  'content.MediaAssetTranscodeFailed': v1(
    object({
      assetId: uuid,
      courseId: uuid,
      jobId: uuid,
      reason: string({ min: 1, max: 2000 }),
      attempts: integer({ min: 1 }),
      permanent: boolean(),
      failedAt: isoTime,
    }),
  ),
};

/** Narrows a recorded event to content's union (see `eventGuard`). */
export const isContentEvent = eventGuard<ContentDomainEvent>(contentEvents);

export const courseStreamId = (courseId: string): string => `course-${courseId}`;
export const mediaAssetStreamId = (assetId: string): string => `mediaasset-${assetId}`;
