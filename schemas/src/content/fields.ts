import {
  arrayOf,
  describe,
  jsonSchemaOf,
  oneOf,
  string,
  uuid,
  withSchema,
  type Validator,
} from '../validation.ts';

/** Content's fields and their limits, shared by requests, events and the API document. */

export const courseStatuses = ['draft', 'review', 'published', 'archived'] as const;
export type CourseStatus = (typeof courseStatuses)[number];

/** What a media asset holds; a material of the same kind shows it. */
export const mediaKinds = ['video', 'audio', 'document'] as const;
export type MediaKind = (typeof mediaKinds)[number];

/** What a material is: text written in the course, or media held as a media asset of its kind. */
export const materialKinds = ['text', ...mediaKinds] as const;
export type MaterialKind = (typeof materialKinds)[number];

/**
 * `pending` until its file is uploaded and checked; an image or PDF is then
 * `ready` at once, a video `processing` until the media worker has
 * transcoded it; `failed` with a reason.
 */
export const mediaAssetStatuses = ['pending', 'processing', 'ready', 'failed'] as const;
export type MediaAssetStatus = (typeof mediaAssetStatuses)[number];

export const MAX_TAGS = 10;
export const MAX_SECTIONS = 100;
export const MAX_MATERIALS_PER_SECTION = 100;

export const courseTitle = describe(string({ min: 1, max: 120 }), {
  description: 'The title learners see, 1–120 characters.',
  example: 'Event sourcing from first principles',
});
export const courseSummary = describe(string({ max: 2000 }), {
  description: 'What the course is about, up to 2000 characters.',
  example: 'Streams, deciders and projections, built up step by step.',
});
export const tag = describe(string({ min: 1, max: 40, pattern: /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/ }), {
  description: 'Lower-case letters, digits and inner dashes.',
  example: 'architecture',
});
/** Tags of a course: at most ten, each once (duplicates are dropped in order). */
export const tags: Validator<string[]> = (() => {
  const list = arrayOf(tag, { max: MAX_TAGS });
  const unique: Validator<string[]> = withSchema((input, path) => {
    const r = list(input, path);
    return r.ok ? { ok: true, value: [...new Set(r.value)] } : r;
  }, jsonSchemaOf(list));
  return describe(unique, {
    description: `At most ${MAX_TAGS} tags; a repeated tag counts once.`,
    example: ['architecture', 'databases'],
  });
})();
export const sectionTitle = describe(string({ min: 1, max: 120 }), {
  description: 'The title of a section, 1–120 characters.',
  example: 'Streams and revisions',
});
export const materialTitle = describe(string({ min: 1, max: 120 }), {
  description: 'The title of a material, 1–120 characters.',
  example: 'Why optimistic concurrency',
});
export const materialBody = describe(string({ max: 20000, trim: false }), {
  description: 'The text of a `text` material (Markdown), up to 20000 characters.',
  example: 'A stream is the history of one aggregate.',
});
export const materialKind = describe(oneOf(materialKinds), {
  description: '`text` carries a `body`; `video`, `audio` and `document` name a media asset of the course.',
});
export const commentBody = describe(string({ min: 1, max: 4000 }), {
  description: 'The comment, 1–4000 characters.',
  example: 'Section 2 needs an example of a conflict.',
});
export const mediaTitle = describe(string({ min: 1, max: 120 }), {
  description: 'What the asset holds, 1–120 characters.',
  example: 'Lecture 1 recording',
});
export const idOf = (what: string): Validator<string> =>
  describe(uuid(), { description: `The id of the ${what}.` });

const MiB = 1024 * 1024;

/**
 * What an asset of each kind may be uploaded as, and how large. A document is
 * a PDF or an image (a handout, a diagram, a slide); audio takes no upload yet
 * (no type is accepted until its sniffing and transcoding are built).
 */
export const uploadTypes = {
  video: { 'video/mp4': 2048 * MiB, 'video/webm': 2048 * MiB, 'video/quicktime': 2048 * MiB },
  document: {
    'application/pdf': 100 * MiB,
    'image/jpeg': 20 * MiB,
    'image/png': 20 * MiB,
    'image/webp': 20 * MiB,
  },
  audio: {},
} as const satisfies Readonly<Record<MediaKind, Readonly<Record<string, number>>>>;

export const uploadContentTypes = [
  'video/mp4',
  'video/webm',
  'video/quicktime',
  'application/pdf',
  'image/jpeg',
  'image/png',
  'image/webp',
] as const;
export type UploadContentType = (typeof uploadContentTypes)[number];

export const isUploadContentType = (t: string): t is UploadContentType =>
  (uploadContentTypes as readonly string[]).includes(t);

/** The most an asset of `kind` may be as `contentType`; null when the kind does not take that type. */
export const uploadLimit = (kind: MediaKind, contentType: string): number | null =>
  (uploadTypes[kind] as Readonly<Record<string, number>>)[contentType] ?? null;

/** Above this, an upload is always multipart (at or below it, multipart when the client asks). */
export const SINGLE_UPLOAD_MAX_BYTES = 64 * MiB;
/** Every part but the last, in a multipart upload: 8 MiB (a 2 GiB video is 256 parts). */
export const UPLOAD_PART_BYTES = 8 * MiB;
/** The largest upload of any kind (a video): 2 GiB. */
export const MAX_UPLOAD_BYTES = 2048 * MiB;

export const uploadFileName = describe(string({ min: 1, max: 255 }), {
  description: 'What the file is called on the client, for display only; never part of the storage key.',
  example: 'lecture-1.mp4',
});
