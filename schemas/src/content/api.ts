import {
  commandHeaders,
  commandResponseHeaders,
  queryHeaders,
  queryResponseHeaders,
  type ApiError,
  type ApiOperation,
} from '../openapi.ts';
import {
  arrayOf,
  describe,
  integer,
  isoTime,
  nullable,
  number,
  object,
  oneOf,
  record,
  string,
  uuid,
} from '../validation.ts';
import {
  courseStatuses,
  idOf,
  materialKinds,
  mediaAssetStatuses,
  mediaKinds,
  uploadContentTypes,
} from './fields.ts';
import {
  catalogueQuery,
  courseChanges,
  materialChanges,
  materialOrder,
  newComment,
  newCourse,
  newMaterial,
  newMediaAsset,
  newSection,
  sectionChanges,
  sectionOrder,
  transcodeRequest,
  uploadRequest,
} from './requests.ts';

/*
 * What content's routes answer. The e2e flow checks real answers against
 * these, so the document cannot drift from what the routes send.
 */

const revision = describe(integer({ min: -1 }), { description: 'The stream revision after the command.' });
const status = oneOf(courseStatuses);
const commandStatus = describe(oneOf([...courseStatuses, 'removed']), {
  description: 'The status of the course after the command (`removed` after a removal).',
});

export const courseCommandResult = describe(
  object(
    {
      courseId: uuid(),
      revision,
      status: commandStatus,
      sectionId: uuid(),
      materialId: uuid(),
      commentId: uuid(),
    },
    { optional: ['sectionId', 'materialId', 'commentId'] },
  ),
  {
    title: 'CourseCommandResult',
    description:
      'The course after the command: its revision (also the `ETag`) and status, and the id of what was added.',
  },
);

export const mediaAssetResult = describe(
  object({ assetId: uuid(), courseId: uuid(), status: oneOf(mediaAssetStatuses), revision }),
  { title: 'MediaAssetResult', description: 'A media asset of a course, and its status.' },
);

/** A media asset as its author sees it: status, the transcode under way, and the ladder it plays from. */
const rendition = object({
  name: string(),
  width: integer({ min: 1 }),
  height: integer({ min: 1 }),
  bandwidth: integer({ min: 1 }),
});

export const mediaAssetView = describe(
  object({
    assetId: uuid(),
    courseId: uuid(),
    kind: oneOf(mediaKinds),
    title: string(),
    status: oneOf(mediaAssetStatuses),
    reason: describe(nullable(string()), { description: 'Why it failed, when `failed`.' }),
    transcode: describe(
      nullable(
        object({
          jobId: uuid(),
          percent: number({ min: 0, max: 100 }),
          etaSeconds: nullable(number({ min: 0 })),
          at: isoTime(),
        }),
      ),
      { description: "The latest job's last progress report, while one is under way; null otherwise." },
    ),
    ladder: describe(
      nullable(
        object({
          jobId: uuid(),
          durationSeconds: number({ min: 0 }),
          renditions: arrayOf(rendition),
          masterUrl: describe(string(), {
            description:
              'A short-lived presigned GET of the stored master playlist, to inspect it. Its variants name ' +
              'their files relatively, which the storage does not serve unsigned: to play, use ' +
              '`GET …/playback`.',
          }),
          masterUrlExpiresAt: isoTime(),
        }),
      ),
      {
        description:
          'The HLS ladder a video plays from (verified before it was switched in); null until one is.',
      },
    ),
    revision,
  }),
  { title: 'MediaAssetView' },
);

export const playbackView = describe(
  object({
    assetId: uuid(),
    courseId: uuid(),
    jobId: describe(uuid(), {
      description: 'The ladder the URL plays (it keeps playing it if a new one is switched in).',
    }),
    url: describe(string(), {
      description:
        "The HLS master playlist to give a player, a path on this API's origin. It carries its own signature: " +
        'a player needs no Authorization header.',
    }),
    expiresAt: describe(isoTime(), { description: 'When the URL stops working; ask again for a new one.' }),
    durationSeconds: number({ min: 0 }),
    renditions: arrayOf(rendition),
  }),
  { title: 'Playback' },
);

const partUrl = object({
  partNumber: integer({ min: 1 }),
  size: describe(integer({ min: 1 }), { description: 'The exact size this part must have.' }),
  method: oneOf(['PUT']),
  url: describe(string(), { description: 'Where to send the part; it carries its own signature.' }),
  headers: describe(record(string()), {
    description:
      'Send these as given (a single PUT names its `content-type`), with a body of exactly `size` bytes: the ' +
      'storage refuses anything else.',
  }),
  expiresAt: isoTime(),
});
const uploadPlan = {
  uploadId: describe(nullable(string()), {
    description: "The storage's multipart upload id; `null` for a single PUT.",
  }),
  contentType: oneOf(uploadContentTypes),
  size: integer({ min: 1 }),
  partSize: describe(integer({ min: 1 }), { description: 'Every part but the last has this size.' }),
  partCount: describe(integer({ min: 1 }), { description: 'A single PUT is part 1 of 1.' }),
} as const;

export const uploadStarted = describe(
  object({
    assetId: uuid(),
    courseId: uuid(),
    status: oneOf(mediaAssetStatuses),
    revision,
    upload: object({
      ...uploadPlan,
      parts: describe(arrayOf(partUrl), { description: 'A URL for every part, in order.' }),
    }),
  }),
  {
    title: 'UploadStarted',
    description: 'Send every part to its URL, straight to the storage, then finalize the upload.',
  },
);

export const uploadProgress = describe(
  object({
    assetId: uuid(),
    courseId: uuid(),
    status: oneOf(mediaAssetStatuses),
    upload: describe(
      nullable(
        object({
          ...uploadPlan,
          present: describe(arrayOf(object({ partNumber: integer({ min: 1 }), size: integer({ min: 0 }) })), {
            description: 'The parts the storage holds.',
          }),
          missing: describe(arrayOf(integer({ min: 1 })), { description: 'The part numbers still to send.' }),
          parts: describe(arrayOf(partUrl), { description: 'Fresh URLs for the missing parts.' }),
        }),
      ),
      { description: 'The upload under way; `null` when none is (nothing started, or the file is in).' },
    ),
  }),
  { title: 'UploadProgress', description: 'What to send to finish an upload.' },
);

const courseSummaryShape = {
  courseId: uuid(),
  authorId: string(),
  status,
  title: string(),
  summary: string(),
  tags: arrayOf(string()),
  sectionCount: integer({ min: 0 }),
  materialCount: integer({ min: 0 }),
  createdAt: isoTime(),
  updatedAt: isoTime(),
  publishedAt: describe(nullable(isoTime()), { description: 'When the course was last published.' }),
} as const;

export const catalogueItem = describe(object(courseSummaryShape), {
  title: 'CourseSummary',
  description: 'A course as the catalogue lists it.',
});

export const cataloguePage = describe(
  object({
    items: arrayOf(catalogueItem),
    nextCursor: describe(nullable(string()), {
      description: 'Send as `cursor` (with the same filters) for the next page; `null` at the end.',
    }),
  }),
  {
    title: 'CataloguePage',
    description: 'Courses newest first, or best match first when searching.',
  },
);

const material = object({
  materialId: uuid(),
  title: string(),
  kind: oneOf(materialKinds),
  assetId: nullable(uuid()),
  body: nullable(string({ trim: false })),
});
const section = object({ sectionId: uuid(), title: string(), materials: arrayOf(material) });
const comment = object({ commentId: uuid(), authorId: string(), body: string(), commentedAt: isoTime() });

export const courseDetail = describe(
  object(
    {
      ...courseSummaryShape,
      revision,
      sections: arrayOf(section),
      comments: describe(arrayOf(comment), {
        description: "Reviewers' comments, oldest first; only for the course's author and admins.",
      }),
    },
    { optional: ['comments'] },
  ),
  { title: 'CourseDetail', description: 'A course with its sections and materials in order.' },
);

const courseParams = { courseId: idOf('course') } as const;
const sectionParams = { ...courseParams, sectionId: idOf('section') } as const;
const materialParams = { ...sectionParams, materialId: idOf('material') } as const;
const assetParams = { ...courseParams, assetId: idOf('media asset') } as const;
const playbackParams = {
  token: describe(string({ min: 1, max: 300 }), {
    description:
      'From `GET …/media-assets/:assetId/playback`: names the asset and the ladder, until it expires.',
  }),
} as const;
const renditionParams = {
  ...playbackParams,
  rendition: describe(string({ min: 1, max: 20 }), { description: 'A rendition of the ladder (`720p`).' }),
} as const;
const hlsPlaylist = (what: string) => ({
  description: `${what} \`Cache-Control: private\`, for as long as the URL lasts.`,
  content: { 'application/vnd.apple.mpegurl': { type: 'string' } },
});
const playbackErrors: readonly ApiError[] = [
  { status: 403, description: 'The URL has expired (`playback_expired`): ask for a new one.' },
  {
    status: 404,
    description:
      'The token is not one this API made (`playback_not_found`), or the ladder has no such rendition ' +
      '(`rendition_not_found`) or segment (`segment_not_found`).',
  },
];
const playbackOperation = (
  o: Pick<ApiOperation, 'path' | 'operationId' | 'summary' | 'description' | 'params' | 'responses'>,
): ApiOperation => ({ method: 'get', tags: ['playback'], security: 'none', errors: playbackErrors, ...o });
const authors = { roles: ['author', 'admin'] } as const;
const admin = { roles: ['admin'] } as const;

const notFound: ApiError = {
  status: 404,
  description:
    'No such course, section or material (`course_not_found`, `section_not_found`, `material_not_found`).',
};
const forbidden: ApiError = {
  status: 403,
  description:
    "The caller lacks a role, or is neither the course's author nor an admin (`forbidden`, `not_course_author`).",
};
const conflict = (what: string): ApiError => ({
  status: 409,
  description: `${what}; or others kept changing the course: retry (\`concurrent_modification\`).`,
});
const assetNotFound: ApiError = {
  status: 404,
  description: 'No such course, or no such media asset of it (`course_not_found`, `media_asset_not_found`).',
};
const notEditable = 'The course is not a draft (`course_not_editable`, with `currentStatus`)';

type Write = Pick<ApiOperation, 'method' | 'path' | 'operationId' | 'summary' | 'description'> &
  Partial<Pick<ApiOperation, 'params' | 'body' | 'security'>> & {
    created?: boolean;
    errors: readonly ApiError[];
  };

/** A command on a course: the headers, answers and errors they share. */
const command = (w: Write): ApiOperation => ({
  method: w.method,
  path: w.path,
  operationId: w.operationId,
  summary: w.summary,
  ...(w.description ? { description: w.description } : {}),
  tags: ['courses'],
  security: w.security ?? authors,
  params: w.params ?? courseParams,
  headers: commandHeaders,
  ...(w.body ? { body: w.body } : {}),
  responses: {
    [w.created ? 201 : 200]: {
      description: w.created ? 'Created.' : 'Done.',
      body: courseCommandResult,
      headers: w.created ? { ...commandResponseHeaders, Location: 'The course.' } : commandResponseHeaders,
    },
  },
  errors: [forbidden, ...w.errors, 412],
});

const transition = (
  path: string,
  operationId: string,
  summary: string,
  description: string,
  extra: readonly ApiError[] = [],
): ApiOperation =>
  command({
    method: 'post',
    path: `/api/courses/:courseId/${path}`,
    operationId,
    summary,
    description,
    errors: [
      notFound,
      conflict(
        'The course is not in a status this step leaves from (`invalid_transition`, with `currentStatus`)' +
          extra.map((e) => (typeof e === 'number' ? '' : `; ${e.description}`)).join(''),
      ),
    ],
  });

/** Tags of content's operations, with what they cover. */
export const contentTags: Readonly<Record<string, string>> = {
  courses: 'Courses, their sections and materials, their review and publication workflow.',
  catalogue: 'The catalogue of courses: listing, filters and full-text search.',
  playback:
    "Playing a video's HLS ladder: the playlists through the API, the segments straight from the storage " +
    'through short-lived redirects, all under one signed URL that a player can use as it is.',
};

/** Every route content mounts (command-services/content and query-services/content). */
export const contentApi: readonly ApiOperation[] = [
  command({
    method: 'post',
    path: '/api/courses',
    operationId: 'createCourse',
    summary: 'Create a course',
    description: 'Creates a draft course whose author is the caller.',
    params: {},
    body: newCourse,
    created: true,
    errors: [],
  }),
  command({
    method: 'patch',
    path: '/api/courses/:courseId',
    operationId: 'changeCourse',
    summary: 'Change the title, summary or tags of a course',
    body: courseChanges,
    errors: [notFound, conflict(notEditable)],
  }),
  command({
    method: 'delete',
    path: '/api/courses/:courseId',
    operationId: 'removeCourse',
    summary: 'Remove a course',
    description: 'Removes a course that is not published (archive a published course first).',
    errors: [notFound, conflict('The course is published (`course_published`, with `currentStatus`)')],
  }),
  command({
    method: 'post',
    path: '/api/courses/:courseId/sections',
    operationId: 'addSection',
    summary: 'Add a section at the end of a course',
    body: newSection,
    created: true,
    errors: [notFound, conflict(`${notEditable}, or it has too many sections (\`too_many_sections\`)`)],
  }),
  command({
    method: 'patch',
    path: '/api/courses/:courseId/sections/:sectionId',
    operationId: 'renameSection',
    summary: 'Rename a section',
    params: sectionParams,
    body: sectionChanges,
    errors: [notFound, conflict(notEditable)],
  }),
  command({
    method: 'delete',
    path: '/api/courses/:courseId/sections/:sectionId',
    operationId: 'removeSection',
    summary: 'Remove a section and its materials',
    params: sectionParams,
    errors: [notFound, conflict(notEditable)],
  }),
  command({
    method: 'put',
    path: '/api/courses/:courseId/section-order',
    operationId: 'reorderSections',
    summary: 'Order the sections of a course',
    body: sectionOrder,
    errors: [
      notFound,
      conflict(`${notEditable}, or the ids are not every section once (\`order_mismatch\`)`),
    ],
  }),
  command({
    method: 'post',
    path: '/api/courses/:courseId/sections/:sectionId/materials',
    operationId: 'addMaterial',
    summary: 'Add a material at the end of a section',
    params: sectionParams,
    body: newMaterial,
    created: true,
    errors: [
      {
        status: 400,
        description:
          'The material is not valid (`validation_failed`), or its media asset is not one of this course ' +
          '(`unknown_media_asset`) or not of a kind the material can show (`material_kind_mismatch`).',
      },
      notFound,
      conflict(`${notEditable}, or the section has too many materials (\`too_many_materials\`)`),
    ],
  }),
  command({
    method: 'patch',
    path: '/api/courses/:courseId/sections/:sectionId/materials/:materialId',
    operationId: 'changeMaterial',
    summary: 'Change a material',
    params: materialParams,
    body: materialChanges,
    errors: [
      {
        status: 400,
        description:
          'The change is not valid (`validation_failed`), names a field of another kind of material ' +
          '(`material_kind_mismatch`), or an asset that is not one of this course (`unknown_media_asset`).',
      },
      notFound,
      conflict(notEditable),
    ],
  }),
  command({
    method: 'delete',
    path: '/api/courses/:courseId/sections/:sectionId/materials/:materialId',
    operationId: 'removeMaterial',
    summary: 'Remove a material',
    params: materialParams,
    errors: [notFound, conflict(notEditable)],
  }),
  command({
    method: 'put',
    path: '/api/courses/:courseId/sections/:sectionId/material-order',
    operationId: 'reorderMaterials',
    summary: 'Order the materials of a section',
    params: sectionParams,
    body: materialOrder,
    errors: [
      notFound,
      conflict(`${notEditable}, or the ids are not every material of the section once (\`order_mismatch\`)`),
    ],
  }),
  transition('submit', 'submitCourseForReview', 'Submit a course for review', 'draft → review.'),
  transition(
    'publish',
    'publishCourse',
    'Publish a course',
    'review → published. Every media asset its materials use must be ready.',
    [
      {
        status: 409,
        description:
          'a media asset is not ready (`media_not_ready`, with `assets` naming each and its status)',
      },
    ],
  ),
  transition(
    'return-to-draft',
    'returnCourseToDraft',
    'Return a course to draft',
    'review, published or archived → draft: to revise it (a published course leaves the catalogue until it is ' +
      'published again).',
  ),
  transition('archive', 'archiveCourse', 'Archive a course', 'draft, review or published → archived.'),
  command({
    method: 'post',
    path: '/api/courses/:courseId/comments',
    operationId: 'addReviewComment',
    summary: 'Comment on a course in review',
    description: "A reviewer's comment; the course's author and admins read it with the course.",
    security: admin,
    body: newComment,
    created: true,
    errors: [
      notFound,
      conflict('The course is not in review (`course_not_in_review`, with `currentStatus`)'),
    ],
  }),
  {
    method: 'post',
    path: '/api/courses/:courseId/media-assets',
    operationId: 'registerMediaAsset',
    summary: 'Register a media asset of a course',
    description:
      'Registers an asset, `pending` until its upload has been processed; materials of the course can name it ' +
      'at once, and the course cannot be published until it is `ready`.',
    tags: ['courses'],
    security: authors,
    params: courseParams,
    headers: commandHeaders,
    body: newMediaAsset,
    responses: {
      201: {
        description: 'Registered.',
        body: mediaAssetResult,
        headers: { ...commandResponseHeaders, Location: 'The course of the asset.' },
      },
    },
    errors: [forbidden, notFound, 412],
  },
  {
    method: 'post',
    path: '/api/courses/:courseId/media-assets/:assetId/upload/presign',
    operationId: 'startMediaUpload',
    summary: "Start uploading a media asset's file",
    description:
      'Answers signed PUTs that send the file straight to the storage, which refuses another type or length. ' +
      'Above 64 MiB (or with `multipart: true`) the file goes in parts of 8 MiB, resumable. Limits: video ' +
      '(`video/mp4`, `video/webm`, `video/quicktime`) 2 GiB; document: `application/pdf` 100 MiB, ' +
      '`image/jpeg`, `image/png`, `image/webp` 20 MiB; audio takes no upload yet. Draft courses only. Starting ' +
      'again replaces an upload not yet finalized.',
    tags: ['courses'],
    security: authors,
    params: assetParams,
    headers: commandHeaders,
    body: uploadRequest,
    responses: {
      200: { description: 'Where and how to upload.', body: uploadStarted, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          "A type the asset's kind does not take (`media_type_not_allowed`, with `allowed`), or the body is not " +
          'valid (`validation_failed`).',
      },
      forbidden,
      assetNotFound,
      conflict(`${notEditable}, or the asset has its file already (\`media_already_uploaded\`)`),
      { status: 413, description: 'Larger than the limit of its type (`media_too_large`, with `maxBytes`).' },
      412,
    ],
  },
  {
    method: 'get',
    path: '/api/courses/:courseId/media-assets/:assetId',
    operationId: 'getMediaAsset',
    summary: 'See a media asset',
    description:
      "Its status; for a video, the transcode under way (percent done, seconds left) and the ladder it plays from, with a short-lived presigned GET of the master playlist. Read from the asset's own events.",
    tags: ['courses'],
    security: authors,
    params: assetParams,
    responses: { 200: { description: 'The asset.', body: mediaAssetView } },
    errors: [forbidden, assetNotFound],
  },
  {
    method: 'get',
    path: '/api/courses/:courseId/media-assets/:assetId/playback',
    operationId: 'getPlayback',
    summary: 'Get a URL to play a video',
    description:
      "A signed URL of the video's HLS master playlist, good for hours, for whoever may see the course in the " +
      'catalogue: anyone once it is published (for the videos its materials use), its author and admins before. ' +
      'Sign in or not: a bearer token, when sent, must be valid.',
    tags: ['playback'],
    security: 'none',
    params: assetParams,
    responses: { 200: { description: 'Where to play it from.', body: playbackView } },
    errors: [
      { status: 400, description: 'An id is not a UUID (`validation_failed`).' },
      { status: 401, description: 'A bearer token was sent and is not valid.' },
      {
        status: 404,
        description:
          'No such course the caller may see (`course_not_found`), or no such video of it (`media_asset_not_found`).',
      },
      {
        status: 409,
        description:
          'Nothing to play yet: not a transcoded video (`media_not_playable`, with `status` and `kind`).',
      },
    ],
  },
  playbackOperation({
    path: '/api/playback/:token/master.m3u8',
    operationId: 'getPlaybackMaster',
    summary: 'The master playlist of a playback',
    description:
      "The ladder's master playlist: its variants, with BANDWIDTH, RESOLUTION and CODECS, at `<rendition>/index.m3u8`.",
    params: playbackParams,
    responses: { 200: hlsPlaylist('The master playlist.') },
  }),
  playbackOperation({
    path: '/api/playback/:token/:rendition/index.m3u8',
    operationId: 'getPlaybackRendition',
    summary: "A rendition's playlist",
    description: 'The media playlist of one rendition (VOD): its segments by name, relative to it.',
    params: renditionParams,
    responses: { 200: hlsPlaylist("The rendition's playlist.") },
  }),
  playbackOperation({
    path: '/api/playback/:token/:rendition/:segment',
    operationId: 'getPlaybackSegment',
    summary: 'A segment',
    description: 'A redirect to a presigned GET of the segment in the storage, good for two minutes.',
    params: {
      ...renditionParams,
      segment: describe(string({ min: 1, max: 120 }), {
        description: 'As the playlist names it (`seg_00000.ts`).',
      }),
    },
    responses: {
      302: { description: 'The segment is at `Location`.', headers: { Location: 'The presigned GET.' } },
    },
  }),
  {
    method: 'post',
    path: '/api/courses/:courseId/media-assets/:assetId/transcode',
    operationId: 'requestTranscode',
    summary: 'Transcode a video again',
    description:
      'Admins: requeues a failed transcode, or makes a new ladder for a ready video (`{}`), or only one rendition of it (`{"rendition": "720p"}`: the others are kept where they are). A ready video goes on playing from its ladder until the new one is verified and switched in; if the new job fails, it keeps the old one.',
    tags: ['courses'],
    security: admin,
    params: assetParams,
    headers: commandHeaders,
    body: transcodeRequest,
    responses: {
      202: { description: 'The job is queued.', body: mediaAssetResult, headers: commandResponseHeaders },
    },
    errors: [
      { status: 403, description: 'Only admins (`forbidden`).' },
      assetNotFound,
      {
        status: 409,
        description:
          'Not an uploaded video (`media_not_transcodable`, with `status` and `kind`), or `rendition` is not one of its ladder (`rendition_not_in_ladder`, with `renditions`).',
      },
      412,
    ],
  },
  {
    method: 'get',
    path: '/api/courses/:courseId/media-assets/:assetId/upload',
    operationId: 'getMediaUpload',
    summary: 'See what an upload still needs',
    description:
      'To resume: the parts the storage holds, the ones missing, and fresh URLs for those. Send them, then finalize.',
    tags: ['courses'],
    security: authors,
    params: assetParams,
    responses: { 200: { description: 'The upload and what it lacks.', body: uploadProgress } },
    errors: [forbidden, assetNotFound],
  },
  {
    method: 'post',
    path: '/api/courses/:courseId/media-assets/:assetId/upload',
    operationId: 'finishMediaUpload',
    summary: "Finalize a media asset's upload",
    description:
      'Completes a multipart upload, then checks the file: its size, and that its first bytes are the type it ' +
      'was declared as. An image or PDF is `ready` at once; a video is `processing` until it is transcoded. ' +
      'Finalizing again changes nothing.',
    tags: ['courses'],
    security: authors,
    params: assetParams,
    headers: commandHeaders,
    responses: {
      200: { description: 'The file is in.', body: mediaAssetResult, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          'The bytes are not the declared type (`media_type_mismatch`, with `declared` and `found`; the file is ' +
          'deleted).',
      },
      forbidden,
      assetNotFound,
      conflict(
        `${notEditable}, nothing was uploaded (\`media_not_uploaded\`), or parts are missing ` +
          '(`upload_incomplete`, with `missing`)',
      ),
      {
        status: 413,
        description: 'Larger than the limit of its type (`media_too_large`; the file is deleted).',
      },
      412,
    ],
  },
  {
    method: 'get',
    path: '/api/courses',
    operationId: 'listCourses',
    summary: 'List and search courses',
    description:
      'Anyone may call it; a bearer token widens what is listed. Learners and anonymous callers see published ' +
      'courses; authors also their own; admins every course. With `q`, best match first; otherwise newest ' +
      "first. Send a command's `X-Consistency-Token` with `after` (the course it wrote) to read your own write.",
    tags: ['catalogue'],
    security: 'none',
    query: {
      ...catalogueQuery,
      after: describe(uuid(), {
        description: 'With `X-Consistency-Token`: the course whose write the list must include.',
      }),
    },
    headers: queryHeaders,
    responses: {
      200: { description: 'A page of courses.', body: cataloguePage, headers: queryResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          'A filter is not valid (`validation_failed`), or `invalid_limit`, `invalid_cursor`, or a consistency ' +
          'token no command returned.',
      },
      { status: 401, description: 'A bearer token was sent and is not valid.' },
    ],
  },
  {
    method: 'get',
    path: '/api/courses/:courseId',
    operationId: 'getCourse',
    summary: 'Read a course',
    description:
      'A course with its sections and materials in order; `ETag` is its revision, for `If-Match`. Published ' +
      'courses are visible to anyone; others to their author and admins only (404 to everyone else).',
    tags: ['catalogue'],
    security: 'none',
    params: courseParams,
    headers: queryHeaders,
    responses: {
      200: {
        description: 'The course.',
        body: courseDetail,
        headers: { ETag: 'The revision of the course, for `If-Match`.', ...queryResponseHeaders },
      },
    },
    errors: [
      {
        status: 400,
        description: 'The id is not a UUID, or the consistency token is not one a command returned.',
      },
      { status: 401, description: 'A bearer token was sent and is not valid.' },
      { status: 404, description: 'No course with this id is visible to the caller (`course_not_found`).' },
    ],
  },
];
