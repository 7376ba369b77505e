import * as schema from '@lectern/schemas/content/index';
import { sniffFileType } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Actor = Readonly<{ userId: string; roles: readonly string[] }>;
type Asset = Readonly<{ assetId: string; courseId: string; kind: schema.MediaKind; title: string }>;
/** The upload under way: what the client declared, where it goes. */
export type PendingUpload = Readonly<{
  key: string;
  contentType: schema.UploadContentType;
  size: number;
  uploadId: string | null;
}>;
/** The checked file in the storage. */
export type StoredFile = Readonly<{ key: string; contentType: schema.UploadContentType; size: number }>;

/**
 * A media asset of a course: registered `pending`; an upload is started
 * (still `pending`, with `upload`) and finalized: an image or PDF is then
 * `ready`, a video `processing` until the media worker transcodes it
 * (`MarkReady`, `MarkFailed`); `failed` with the reason, and then it may be
 * uploaded again.
 */
export type MediaAsset =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'pending'; upload: PendingUpload | null }> & Asset)
  | (Readonly<{ status: 'processing'; file: StoredFile }> & Asset)
  | (Readonly<{ status: 'ready'; file: StoredFile | null }> & Asset)
  | (Readonly<{ status: 'failed'; reason: string; upload: PendingUpload | null }> & Asset);

/** What a route found about the course an asset is registered for (a lookup in the event store). */
export type CourseLookup = Readonly<{ authorId: string; status?: schema.CourseStatus }>;

/** What the storage holds under the upload's key, as the handler found it (after completing a multipart upload). */
export type StoredUpload = Readonly<{
  size: number;
  /** What its first bytes are, by their magic number; null when none of the accepted types. */
  sniffed: schema.UploadContentType | null;
}>;

export type MediaAssetCommand =
  | Readonly<{
      type: 'RegisterMediaAsset';
      assetId: string;
      courseId: string;
      kind: schema.MediaKind;
      title: string;
      /** The course, or null when it does not exist (or was removed). */
      course: CourseLookup | null;
      actor: Actor;
      at: string;
    }>
  | Readonly<{
      type: 'StartUpload';
      key: string;
      contentType: string;
      size: number;
      /** Set by the route once the storage has opened the multipart upload; null for a single PUT. */
      uploadId: string | null;
      fileName: string | null;
      course: CourseLookup | null;
      actor: Actor;
      at: string;
    }>
  | Readonly<{
      type: 'FinishUpload';
      /** Null when nothing (or not every part) was uploaded. */
      stored: StoredUpload | null;
      course: CourseLookup | null;
      actor: Actor;
      at: string;
    }>
  | Readonly<{ type: 'MarkMediaAssetReady'; at: string }>
  | Readonly<{ type: 'MarkMediaAssetFailed'; reason: string; at: string }>;

export const initialState = (): MediaAsset => ({ status: 'none' });

const assetOf = (s: Asset): Asset => ({
  assetId: s.assetId,
  courseId: s.courseId,
  kind: s.kind,
  title: s.title,
});

const notFound = (): Problem => new Problem('not_found', 'media_asset_not_found', 'No such media asset.');

/** How many first bytes {@link sniffMedia} needs. */
export { SNIFF_BYTES } from '@lectern/schemas';

/** What a file is by its first bytes (schemas' `sniffFileType`), as an upload type. */
export const sniffMedia = (head: Uint8Array): schema.UploadContentType | null => sniffFileType(head);

/** Only the course's author or an admin, and only while the course is a draft (as every edit). */
export const checkEditor = (course: CourseLookup | null, actor: Actor): void => {
  if (!course) throw new Problem('not_found', 'course_not_found', 'No such course.');
  if (course.authorId !== actor.userId && !actor.roles.includes('admin'))
    throw new Problem(
      'forbidden',
      'not_course_author',
      'Only the author of the course or an admin may do this.',
    );
  if (course.status !== undefined && course.status !== 'draft')
    throw new Problem('conflict', 'course_not_editable', 'Only a draft course can be changed.', {
      extra: { currentStatus: course.status },
    });
};

/** The type as one of ours with its limit, or the refusal: 400 for a type the kind does not take, 413 past the limit. */
export const checkUploadType = (
  kind: schema.MediaKind,
  contentType: string,
  size: number,
): Readonly<{ contentType: schema.UploadContentType; limit: number }> => {
  const limit = schema.uploadLimit(kind, contentType);
  if (limit === null || !schema.isUploadContentType(contentType))
    throw new Problem(
      'validation',
      'media_type_not_allowed',
      `A ${kind} asset cannot be uploaded as ${contentType}.`,
      {
        issues: [{ path: '/contentType', message: `is not a type a ${kind} asset takes` }],
        extra: { kind, contentType, allowed: Object.keys(schema.uploadTypes[kind]) },
      },
    );
  if (size > limit)
    throw new Problem('too_large', 'media_too_large', `A ${contentType} ${kind} is at most ${limit} bytes.`, {
      extra: { size, maxBytes: limit },
    });
  return { contentType, limit };
};

const startUpload = (
  cmd: Extract<MediaAssetCommand, { type: 'StartUpload' }>,
  s: MediaAsset,
): schema.MediaAssetStreamEvent[] => {
  if (s.status === 'none') throw notFound();
  checkEditor(cmd.course, cmd.actor);
  if (s.status === 'processing' || s.status === 'ready')
    throw new Problem(
      'conflict',
      'media_already_uploaded',
      'This asset has its file; register a new asset.',
      {
        extra: { status: s.status },
      },
    );
  const { contentType } = checkUploadType(s.kind, cmd.contentType, cmd.size);
  const data: schema.MediaAssetUploadStarted = {
    assetId: s.assetId,
    courseId: s.courseId,
    key: cmd.key,
    contentType,
    size: cmd.size,
    uploadId: cmd.uploadId,
    fileName: cmd.fileName,
    startedAt: cmd.at,
  };
  return [{ type: 'content.MediaAssetUploadStarted', data }];
};

const finishUpload = (
  cmd: Extract<MediaAssetCommand, { type: 'FinishUpload' }>,
  s: MediaAsset,
): schema.MediaAssetStreamEvent[] => {
  if (s.status === 'none') throw notFound();
  checkEditor(cmd.course, cmd.actor);
  // Finalizing again changes nothing: the file is in.
  if (s.status === 'processing' || s.status === 'ready') return [];
  const upload = s.upload;
  if (!upload || !cmd.stored)
    throw new Problem('conflict', 'media_not_uploaded', 'Nothing was uploaded for this asset.', {
      extra: { assetId: s.assetId },
    });
  const { stored } = cmd;
  const { limit } = checkUploadType(s.kind, upload.contentType, stored.size);
  if (stored.size !== upload.size && stored.size <= limit)
    throw new Problem('validation', 'upload_size_mismatch', 'The file is not the size that was declared.', {
      extra: { declared: upload.size, found: stored.size },
    });
  if (stored.sniffed !== upload.contentType)
    throw new Problem(
      'validation',
      'media_type_mismatch',
      `The file is not the ${upload.contentType} it was declared as.`,
      { extra: { declared: upload.contentType, found: stored.sniffed } },
    );
  const base = { assetId: s.assetId, courseId: s.courseId, key: upload.key, contentType: upload.contentType };
  const uploaded: schema.MediaAssetStreamEvent = {
    type: 'content.MediaAssetUploaded',
    data: { ...base, size: stored.size, uploadedAt: cmd.at },
  };
  // A video is not playable everywhere as uploaded: the media worker transcodes it. Anything else is ready.
  return s.kind === 'video'
    ? [uploaded, { type: 'content.MediaAssetTranscodeRequested', data: { ...base, requestedAt: cmd.at } }]
    : [
        uploaded,
        {
          type: 'content.MediaAssetReady',
          data: { assetId: s.assetId, courseId: s.courseId, readyAt: cmd.at },
        },
      ];
};

export const decide = (cmd: MediaAssetCommand, s: MediaAsset): schema.MediaAssetStreamEvent[] => {
  switch (cmd.type) {
    case 'StartUpload':
      return startUpload(cmd, s);
    case 'FinishUpload':
      return finishUpload(cmd, s);
    case 'RegisterMediaAsset': {
      if (!cmd.course) throw new Problem('not_found', 'course_not_found', 'No such course.');
      if (cmd.course.authorId !== cmd.actor.userId && !cmd.actor.roles.includes('admin'))
        throw new Problem(
          'forbidden',
          'not_course_author',
          'Only the author of the course or an admin may do this.',
        );
      if (s.status !== 'none')
        throw new Problem('conflict', 'media_asset_exists', 'This media asset already exists.');
      const data: schema.MediaAssetRegistered = {
        assetId: cmd.assetId,
        courseId: cmd.courseId,
        kind: cmd.kind,
        title: cmd.title,
        registeredAt: cmd.at,
      };
      return [{ type: 'content.MediaAssetRegistered', data }];
    }
    case 'MarkMediaAssetReady': {
      if (s.status === 'none') throw notFound();
      if (s.status === 'ready') return [];
      return [
        {
          type: 'content.MediaAssetReady',
          data: { assetId: s.assetId, courseId: s.courseId, readyAt: cmd.at },
        },
      ];
    }
    case 'MarkMediaAssetFailed': {
      if (s.status === 'none') throw notFound();
      // A good asset stays good: a failed re-processing must not take it from a published course.
      if (s.status === 'ready')
        throw new Problem('conflict', 'media_asset_ready', 'The asset is ready; a failure cannot undo that.');
      if (s.status === 'failed' && s.reason === cmd.reason) return [];
      const data = { assetId: s.assetId, courseId: s.courseId, reason: cmd.reason, failedAt: cmd.at };
      return [{ type: 'content.MediaAssetFailed', data }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: MediaAsset, e: schema.MediaAssetStreamEvent): MediaAsset => {
  switch (e.type) {
    case 'content.MediaAssetRegistered': {
      const d = e.data;
      return {
        status: 'pending',
        assetId: d.assetId,
        courseId: d.courseId,
        kind: d.kind,
        title: d.title,
        upload: null,
      };
    }
    case 'content.MediaAssetUploadStarted': {
      if (s.status === 'none') return s;
      const { key, contentType, size, uploadId } = e.data;
      return { ...assetOf(s), status: 'pending', upload: { key, contentType, size, uploadId } };
    }
    case 'content.MediaAssetUploaded': {
      if (s.status === 'none') return s;
      const { key, contentType, size } = e.data;
      return { ...assetOf(s), status: 'processing', file: { key, contentType, size } };
    }
    case 'content.MediaAssetTranscodeRequested':
      return s;
    case 'content.MediaAssetReady':
      return s.status === 'none'
        ? s
        : { ...assetOf(s), status: 'ready', file: s.status === 'processing' ? s.file : null };
    case 'content.MediaAssetFailed':
      return s.status === 'none'
        ? s
        : { ...assetOf(s), status: 'failed', reason: e.data.reason, upload: null };
    default:
      return unknownEvent(e, s);
  }
};

export const mediaAssetDecider: Decider<MediaAsset, MediaAssetCommand, schema.MediaAssetStreamEvent> = {
  initialState,
  decide,
  evolve,
};
