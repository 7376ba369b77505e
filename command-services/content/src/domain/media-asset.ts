import * as schema from '@lectern/schemas/content/index';
import { sniffFileType, type SniffedType } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { clip } from '@lectern/infra/runtime/text';

type Actor = Readonly<{ userId: string; roles: readonly string[] }>;
type Asset = Readonly<{
  assetId: string;
  courseId: string;
  kind: schema.MediaKind;
  title: string;
  /** Failed transcode jobs requeued when their dead letter was redriven: each is requeued once. */
  requeued: readonly string[];
}>;
/** The upload under way: what the client declared, where it goes. */
export type PendingUpload = Readonly<{
  key: string;
  contentType: schema.UploadContentType;
  size: number;
  uploadId: string | null;
}>;
/** The checked file in the storage. */
export type StoredFile = Readonly<{ key: string; contentType: schema.UploadContentType; size: number }>;
/** The HLS ladder a video plays from: the latest job's, verified before it was recorded. */
export type Ladder = Readonly<{
  jobId: string;
  prefix: string;
  master: string;
  renditions: readonly schema.Rendition[];
  durationSeconds: number;
}>;

/**
 * A media asset of a course: registered `pending`; an upload is started
 * (still `pending`, with `upload`) and finalized: an image or PDF is then
 * `ready`, a video `processing` until the transcoding worker records its
 * ladder (`RecordTranscode`: `ready`) or gives up (`RecordTranscodeFailure`:
 * `failed` with the reason, keeping the file, so an admin can requeue it, or
 * it may be uploaded again). A ready video can be transcoded again; until
 * the new ladder is recorded, and if that job fails, it plays from the old.
 */
export type MediaAsset =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'pending'; upload: PendingUpload | null }> & Asset)
  | (Readonly<{ status: 'processing'; file: StoredFile; ladder: Ladder | null }> & Asset)
  | (Readonly<{ status: 'ready'; file: StoredFile | null; ladder: Ladder | null }> & Asset)
  | (Readonly<{
      status: 'failed';
      reason: string;
      upload: PendingUpload | null;
      file: StoredFile | null;
      ladder: Ladder | null;
      /** The transcode job that failed it; null when the upload itself failed. */
      failedJobId: string | null;
    }> &
      Asset);

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
  | Readonly<{ type: 'MarkMediaAssetFailed'; reason: string; at: string }>
  /** The transcoding worker: a verified ladder is stored under the job's prefix. */
  | (Readonly<{ type: 'RecordTranscode'; at: string }> & Ladder)
  | Readonly<{
      type: 'RecordTranscodeFailure';
      jobId: string;
      reason: string;
      attempts: number;
      permanent: boolean;
      at: string;
    }>
  | Readonly<{
      type: 'RecordTranscodeProgress';
      jobId: string;
      percent: number;
      etaSeconds: number | null;
      at: string;
    }>
  /**
   * The transcoding worker, handed a failed job's request back by `lectern dlq redrive`:
   * the job is asked for again (as an admin's requeue would), once.
   */
  | Readonly<{
      type: 'RequeueFailedTranscode';
      jobId: string;
      renditions: readonly string[] | null;
      at: string;
    }>
  /** An admin: transcode the stored video again (a failed job requeued, or a new ladder for a ready one). */
  | Readonly<{
      type: 'RequestTranscode';
      actor: Actor;
      at: string;
      /** Only these renditions of the ladder made again; null: the whole ladder. */
      renditions: readonly string[] | null;
    }>;

export const initialState = (): MediaAsset => ({ status: 'none' });

const assetOf = (s: Asset): Asset => ({
  assetId: s.assetId,
  courseId: s.courseId,
  kind: s.kind,
  title: s.title,
  requeued: s.requeued,
});

const notFound = (): Problem => new Problem('not_found', 'media_asset_not_found', 'No such media asset.');

/** How many first bytes {@link sniffMedia} needs. */
export { SNIFF_BYTES } from '@lectern/schemas';

/** A sniffed type as an upload type: null for one no asset takes. */
export const narrowToUpload = (type: SniffedType | null): schema.UploadContentType | null =>
  type !== null && schema.isUploadContentType(type) ? type : null;

/** What a file is by its first bytes (schemas' `sniffFileType`), as an upload type. */
export const sniffMedia = (head: Uint8Array): schema.UploadContentType | null =>
  narrowToUpload(sniffFileType(head));

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
    case 'RecordTranscode':
      return recordTranscode(cmd, s);
    case 'RecordTranscodeFailure':
      return recordTranscodeFailure(cmd, s);
    case 'RecordTranscodeProgress': {
      if (s.status === 'none') throw notFound();
      // Progress of a job already recorded, or of a source no longer there, is old news.
      if (s.status !== 'processing' && s.status !== 'ready') return [];
      if (s.ladder?.jobId === cmd.jobId) return [];
      const { jobId, percent, etaSeconds, at } = cmd;
      return [
        {
          type: 'content.MediaAssetTranscodeProgressed',
          data: { assetId: s.assetId, courseId: s.courseId, jobId, percent, etaSeconds, at },
        },
      ];
    }
    case 'RequeueFailedTranscode': {
      if (s.status === 'none') throw notFound();
      // Only the job that failed the asset, and only while it is failed: a second redrive, or one
      // after an admin's requeue, finds nothing to do.
      if (s.status !== 'failed' || s.failedJobId !== cmd.jobId || !s.file) return [];
      return [
        {
          type: 'content.MediaAssetTranscodeRequested',
          data: {
            assetId: s.assetId,
            courseId: s.courseId,
            key: s.file.key,
            contentType: s.file.contentType,
            requestedAt: cmd.at,
            ...(cmd.renditions ? { renditions: cmd.renditions } : {}),
            requeueOf: cmd.jobId,
          },
        },
      ];
    }
    case 'RequestTranscode': {
      if (s.status === 'none') throw notFound();
      if (!cmd.actor.roles.includes('admin'))
        throw new Problem('forbidden', 'forbidden', 'Only an admin may transcode an asset again.');
      const file = s.status === 'processing' || s.status === 'ready' || s.status === 'failed' ? s.file : null;
      if (s.kind !== 'video' || !file)
        throw new Problem('conflict', 'media_not_transcodable', 'Only an uploaded video can be transcoded.', {
          extra: { status: s.status, kind: s.kind },
        });
      const ladder = 'ladder' in s ? s.ladder : null;
      const names = ladder?.renditions.map((r) => r.name) ?? [];
      const missing = (cmd.renditions ?? []).filter((r) => !names.includes(r));
      if (cmd.renditions && (missing.length || cmd.renditions.length === 0))
        throw new Problem(
          'conflict',
          'rendition_not_in_ladder',
          'Only a rendition of the ladder the video plays from can be made again.',
          { extra: { renditions: names, missing } },
        );
      return [
        {
          type: 'content.MediaAssetTranscodeRequested',
          data: {
            assetId: s.assetId,
            courseId: s.courseId,
            key: file.key,
            contentType: file.contentType,
            requestedAt: cmd.at,
            ...(cmd.renditions ? { renditions: [...new Set(cmd.renditions)] } : {}),
          },
        },
      ];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

const recordTranscode = (
  cmd: Extract<MediaAssetCommand, { type: 'RecordTranscode' }>,
  s: MediaAsset,
): schema.MediaAssetStreamEvent[] => {
  if (s.status === 'none') throw notFound();
  if (s.status !== 'processing' && s.status !== 'ready' && s.status !== 'failed')
    throw new Problem('conflict', 'media_not_uploaded', 'Nothing was uploaded for this asset.');
  // The worker's retry after a crash between the append and its own record: done already.
  if (s.ladder?.jobId === cmd.jobId) return [];
  const { jobId, prefix, master, renditions, durationSeconds, at } = cmd;
  const transcoded: schema.MediaAssetStreamEvent = {
    type: 'content.MediaAssetTranscoded',
    data: {
      assetId: s.assetId,
      courseId: s.courseId,
      jobId,
      prefix,
      master,
      renditions,
      durationSeconds,
      transcodedAt: at,
    },
  };
  return s.status === 'ready'
    ? [transcoded]
    : [
        transcoded,
        { type: 'content.MediaAssetReady', data: { assetId: s.assetId, courseId: s.courseId, readyAt: at } },
      ];
};

const recordTranscodeFailure = (
  cmd: Extract<MediaAssetCommand, { type: 'RecordTranscodeFailure' }>,
  s: MediaAsset,
): schema.MediaAssetStreamEvent[] => {
  if (s.status === 'none') throw notFound();
  // Recorded already (the worker's retry after a crash between the append and its own record).
  if ('ladder' in s && s.ladder?.jobId === cmd.jobId) return [];
  if (s.status === 'failed' && s.failedJobId === cmd.jobId) return [];
  const { jobId, attempts, permanent, at } = cmd;
  const reason = clip(cmd.reason, 2000) || 'unknown';
  const failed: schema.MediaAssetStreamEvent = {
    type: 'content.MediaAssetTranscodeFailed',
    data: { assetId: s.assetId, courseId: s.courseId, jobId, reason, attempts, permanent, failedAt: at },
  };
  // A ready asset keeps playing from its ladder: a failed re-transcode takes nothing away.
  if (s.status !== 'processing') return [failed];
  // Failed first, then which job failed it (the state keeps that, so a retried record adds nothing).
  return [
    {
      type: 'content.MediaAssetFailed',
      data: { assetId: s.assetId, courseId: s.courseId, reason, failedAt: at },
    },
    failed,
  ];
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
        requeued: [],
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
      return { ...assetOf(s), status: 'processing', file: { key, contentType, size }, ladder: null };
    }
    case 'content.MediaAssetTranscodeRequested': {
      // A failed job requeued: processing again, from the file it has.
      const { requeueOf } = e.data;
      const requeued = requeueOf ? [...(s.status === 'none' ? [] : s.requeued), requeueOf] : null;
      if (s.status === 'failed' && s.file)
        return {
          ...assetOf(s),
          ...(requeued ? { requeued } : {}),
          status: 'processing',
          file: s.file,
          ladder: s.ladder,
        };
      return requeued && s.status !== 'none' ? { ...s, requeued } : s;
    }
    case 'content.MediaAssetReady':
      return s.status === 'none'
        ? s
        : {
            ...assetOf(s),
            status: 'ready',
            file: 'file' in s ? s.file : null,
            ladder: 'ladder' in s ? s.ladder : null,
          };
    case 'content.MediaAssetFailed':
      return s.status === 'none'
        ? s
        : {
            ...assetOf(s),
            status: 'failed',
            reason: e.data.reason,
            upload: null,
            file: s.status === 'processing' ? s.file : null,
            ladder: 'ladder' in s ? s.ladder : null,
            failedJobId: null,
          };
    case 'content.MediaAssetTranscoded': {
      if (s.status !== 'processing' && s.status !== 'ready' && s.status !== 'failed') return s;
      const { jobId, prefix, master, renditions, durationSeconds } = e.data;
      return { ...s, ladder: { jobId, prefix, master, renditions, durationSeconds } };
    }
    case 'content.MediaAssetTranscodeFailed':
      return s.status === 'failed' ? { ...s, failedJobId: e.data.jobId } : s;
    case 'content.MediaAssetTranscodeProgressed':
      return s;
    default:
      return unknownEvent(e, s);
  }
};

export const mediaAssetDecider: Decider<MediaAsset, MediaAssetCommand, schema.MediaAssetStreamEvent> = {
  initialState,
  decide,
  evolve,
};
