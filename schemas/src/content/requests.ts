import {
  arrayOf,
  boolean,
  describe,
  integer,
  integerString,
  jsonSchemaOf,
  object,
  oneOf,
  partialObject,
  string,
  uuid,
  withSchema,
  type Validator,
} from '../validation.ts';
import {
  MAX_MATERIALS_PER_SECTION,
  MAX_SECTIONS,
  MAX_TAGS,
  SINGLE_UPLOAD_MAX_BYTES,
  uploadFileName,
  commentBody,
  courseStatuses,
  courseSummary,
  courseTitle,
  materialBody,
  materialKind,
  materialTitle,
  mediaKinds,
  mediaTitle,
  sectionTitle,
  tags,
  type MaterialKind,
} from './fields.ts';
import { renditionName } from './events.ts';

/**
 * What content's routes accept. The routes validate with these, and the API
 * document is generated from them. Bodies of routes under a course show no
 * whole-body example: the document's examples are sent as they are (the
 * examples e2e test), and no course id can be known in advance.
 */

/** `POST /api/courses`. */
export const newCourse = describe(
  object({ title: courseTitle, summary: courseSummary, tags }, { optional: ['summary', 'tags'] }),
  {
    title: 'NewCourse',
    example: {
      title: 'Event sourcing from first principles',
      summary: 'Streams and deciders.',
      tags: ['architecture'],
    },
  },
);

/** `PATCH /api/courses/:courseId`: any subset. */
export const courseChanges = describe(partialObject({ title: courseTitle, summary: courseSummary, tags }), {
  title: 'CourseChanges',
  description:
    'Any subset of title, summary and tags; fields already at the sent value are not changed again.',
});

/** `POST /api/courses/:courseId/sections`. */
export const newSection = describe(object({ title: sectionTitle }), {
  title: 'NewSection',
});

/** `PATCH /api/courses/:courseId/sections/:sectionId`. */
export const sectionChanges = describe(object({ title: sectionTitle }), {
  title: 'SectionChanges',
});

/** `PUT /api/courses/:courseId/section-order`. */
export const sectionOrder = describe(object({ sectionIds: arrayOf(uuid(), { max: MAX_SECTIONS }) }), {
  title: 'SectionOrder',
  description: 'Every section of the course, each once, in the new order (409 `order_mismatch` otherwise).',
});

type NewMaterial = { title: string; kind: MaterialKind; assetId?: string; body?: string };
const newMaterialShape = object(
  { title: materialTitle, kind: materialKind, assetId: uuid(), body: materialBody },
  { optional: ['assetId', 'body'] },
);

/**
 * `POST …/sections/:sectionId/materials`: a `text` material has a `body` and
 * no asset; any other kind names a media asset of the course and has no body.
 */
export const newMaterial: Validator<NewMaterial> = describe(
  withSchema((input, path = '') => {
    const r = newMaterialShape(input, path);
    if (!r.ok) return r;
    const m = r.value;
    const issues =
      m.kind === 'text'
        ? [
            ...(m.body === undefined
              ? [{ path: `${path}/body`, message: 'is required for a text material' }]
              : []),
            ...(m.assetId === undefined
              ? []
              : [{ path: `${path}/assetId`, message: 'is only for media materials' }]),
          ]
        : [
            ...(m.assetId === undefined
              ? [{ path: `${path}/assetId`, message: `is required for a ${m.kind} material` }]
              : []),
            ...(m.body === undefined
              ? []
              : [{ path: `${path}/body`, message: 'is only for text materials' }]),
          ];
    return issues.length ? { ok: false, issues } : r;
  }, jsonSchemaOf(newMaterialShape)),
  {
    title: 'NewMaterial',
    description:
      'A `text` material carries `body` (and no `assetId`); `video`, `audio` and `document` carry the `assetId` of a ' +
      'media asset of the same course (and no `body`).',
  },
);

/** `PATCH …/materials/:materialId`: title, body (text materials) or asset (media materials). */
export const materialChanges = describe(
  partialObject({ title: materialTitle, assetId: uuid(), body: materialBody }),
  {
    title: 'MaterialChanges',
    description:
      '`body` only for a text material, `assetId` only for a media material (400 `material_kind_mismatch`).',
  },
);

/** `PUT …/sections/:sectionId/material-order`. */
export const materialOrder = describe(
  object({ materialIds: arrayOf(uuid(), { max: MAX_MATERIALS_PER_SECTION }) }),
  {
    title: 'MaterialOrder',
    description:
      'Every material of the section, each once, in the new order (409 `order_mismatch` otherwise).',
  },
);

/** `POST /api/courses/:courseId/comments`. */
export const newComment = describe(object({ body: commentBody }), {
  title: 'NewReviewComment',
});

/** `POST /api/courses/:courseId/media-assets`. */
export const newMediaAsset = describe(object({ kind: oneOf(mediaKinds), title: mediaTitle }), {
  title: 'NewMediaAsset',
});

/**
 * `POST …/media-assets/:assetId/upload/presign`: what the client is about to
 * upload. Whether the type suits the asset's kind, and the size its limit,
 * is the route's to say (400 `media_type_not_allowed`, 413
 * `media_too_large`), so each gets its own answer.
 */
export const uploadRequest = describe(
  object(
    {
      contentType: describe(string({ min: 1, max: 200 }), {
        description:
          'The type of the file; the upload must send it. Video: `video/mp4`, `video/webm`, `video/quicktime`; ' +
          'document: `application/pdf`, `image/jpeg`, `image/png`, `image/webp`.',
        example: 'video/mp4',
      }),
      size: describe(integer({ min: 1, max: 2 ** 40 }), {
        description: 'The exact size of the file in bytes.',
        example: 52428800,
      }),
      fileName: uploadFileName,
      multipart: describe(boolean(), {
        description: `Upload in parts (resumable). Always so above ${SINGLE_UPLOAD_MAX_BYTES} bytes (64 MiB).`,
        default: false,
      }),
    },
    { optional: ['fileName', 'multipart'] },
  ),
  { title: 'UploadRequest' },
);

/** Page size of `GET /api/courses` when the query names none. */
export const catalogueLimitDefault = 20;

const tagList = describe(
  string({
    min: 1,
    max: MAX_TAGS * 41,
    pattern: /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:,[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/,
  }),
  {
    description: 'Comma-separated tags: courses carrying every one of them.',
    example: 'architecture,databases',
  },
);

/** Query of `GET /api/courses`. */
export const catalogueQuery = {
  q: describe(string({ min: 1, max: 200, trim: false }), {
    description:
      'Full-text search over titles, summaries, tags and the titles of sections and materials; every word must ' +
      'match (a word matches as a prefix). Results are ranked, best first.',
    example: 'event sourcing',
  }),
  status: describe(oneOf(courseStatuses), {
    description: 'Only courses in this status (learners and anonymous callers see published courses only).',
  }),
  tags: tagList,
  author: describe(string({ min: 1, max: 128, trim: false }), {
    description: 'Only courses of this author (a user id).',
  }),
  limit: describe(integerString({ min: 1, max: 100 }), {
    description: 'How many courses per page (400 `invalid_limit` outside 1–100).',
    default: catalogueLimitDefault,
  }),
  cursor: describe(string({ min: 1, max: 200, trim: false }), {
    description:
      'The `nextCursor` of the previous page, with the same filters; opaque (400 `invalid_cursor`).',
  }),
} as const;

/** `POST …/media-assets/:assetId/transcode` (optional body): one rendition of the ladder to make again. */
export const transcodeRequest = describe(
  object(
    {
      rendition: describe(renditionName, {
        description:
          'Only this rendition (`720p`, `1080p`) made again, the others kept; absent: the whole ladder.',
        example: '720p',
      }),
    },
    { optional: ['rendition'] },
  ),
  { title: 'TranscodeRequest' },
);
