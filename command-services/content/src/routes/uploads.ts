import { Router, type Request } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import {
  BlobError,
  missingParts,
  partSizeOf,
  type BlobStore,
  type PresignedRequest,
} from '@lectern/infra/ports/blob-store';
import { sniffedObject, statOrNull } from '@lectern/infra/blobs/stored';
import { Problem } from '@lectern/infra/runtime/errors';
import type { Course } from '../domain/course.ts';
import {
  checkEditor,
  mediaAssetDecider,
  narrowToUpload,
  type CourseLookup,
  type MediaAsset,
  type PendingUpload,
  type StoredUpload,
} from '../domain/media-asset.ts';
import {
  actorOf,
  idParam,
  readAsset,
  readCourse,
  runMediaAsset,
  validated,
  type ContentCommandDeps,
} from './shared.ts';

/** How long a single upload URL is good for; part URLs get longer, since a large file takes a while. */
const SINGLE_URL_SECONDS = 15 * 60;
const PART_URL_SECONDS = 60 * 60;

/** Where an asset's file lives: named by the course and the asset, never by the client's file name. */
export const mediaKey = (courseId: string, assetId: string): string => `content/${courseId}/${assetId}`;

const courseLookup = (c: Course): CourseLookup | null =>
  c.status === 'none' || c.status === 'removed' ? null : { authorId: c.authorId, status: c.status };

type LiveAsset = Exclude<MediaAsset, { status: 'none' }>;
const assetOfCourse = (a: MediaAsset, courseId: string): LiveAsset => {
  if (a.status === 'none' || a.courseId !== courseId)
    throw new Problem('not_found', 'media_asset_not_found', 'No such media asset of this course.');
  return a;
};

const url = (partNumber: number, size: number, r: PresignedRequest) => ({
  partNumber,
  size,
  method: r.method,
  url: r.url,
  headers: r.headers,
  expiresAt: r.expiresAt.toISOString(),
});

/** Fresh URLs for `partNumbers` of an upload (a single PUT is part 1 of 1). */
const presignFor = async (blobs: BlobStore, u: PendingUpload, partNumbers: readonly number[]) => {
  if (u.uploadId === null) {
    if (!partNumbers.includes(1)) return [];
    const put = await blobs.presignUpload({
      key: u.key,
      contentType: u.contentType,
      size: u.size,
      maxSize: u.size,
      expiresInSeconds: SINGLE_URL_SECONDS,
    });
    return [url(1, u.size, put)];
  }
  const { upload } = await blobs.listParts(u.key, u.uploadId);
  const urls = await blobs.presignParts(u.key, u.uploadId, partNumbers, {
    expiresInSeconds: PART_URL_SECONDS,
  });
  return partNumbers.map((n, i) => url(n, partSizeOf(upload, n), urls[i]!));
};

/** The plan of an upload and what the storage holds of it: what a client needs to resume. */
const progressOf = async (blobs: BlobStore, u: PendingUpload) => {
  if (u.uploadId === null) {
    const there = await statOrNull(blobs, u.key);
    const present = there ? [{ partNumber: 1, size: there.size }] : [];
    return { partSize: u.size, partCount: 1, present, missing: there ? [] : [1] };
  }
  const { upload, parts } = await blobs.listParts(u.key, u.uploadId);
  const missing = missingParts(upload, parts);
  const present = parts
    .filter((p) => !missing.includes(p.partNumber))
    .map((p) => ({ partNumber: p.partNumber, size: p.size }));
  return { partSize: upload.partSize, partCount: upload.partCount, present, missing };
};

/**
 * What the storage holds for the upload, checked: a multipart upload is
 * completed first (409 `upload_incomplete` naming the missing parts, unless
 * none was sent at all); null when nothing was uploaded.
 */
const storedUpload = async (blobs: BlobStore, u: PendingUpload): Promise<StoredUpload | null> => {
  if (u.uploadId !== null) {
    try {
      await blobs.completeMultipartUpload(u.key, u.uploadId);
    } catch (error) {
      if (!(error instanceof BlobError)) throw error;
      // Completed by an earlier finalize whose append did not happen: the object is there.
      if (error.code === 'upload_not_found') return sniffed(blobs, u.key);
      if (error.code === 'upload_incomplete') {
        const { parts } = await blobs.listParts(u.key, u.uploadId);
        if (parts.length === 0) return null;
      }
      throw error;
    }
  }
  return sniffed(blobs, u.key);
};

const sniffed = async (blobs: BlobStore, key: string): Promise<StoredUpload | null> => {
  const there = await sniffedObject(blobs, key);
  return there ? { size: there.size, sniffed: narrowToUpload(there.sniffed) } : null;
};

/** Refusals after which the object is not kept: it is not what the asset may hold. */
const DISCARDED = new Set(['media_type_mismatch', 'media_too_large', 'upload_size_mismatch']);

/**
 * Uploading an asset's file: presign (single PUT, or multipart with a URL per
 * part), resume (what is there, fresh URLs for the rest), finalize (complete,
 * stat, sniff; the decider records it or refuses).
 */
export const uploadRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const authors = [authenticate(deps.verify), requireRole('author', 'admin')];
  const base = '/api/courses/:courseId/media-assets/:assetId/upload';
  const load = async (req: Request) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const courseId = idParam(req, 'courseId');
    const assetId = idParam(req, 'assetId');
    const course = courseLookup(await readCourse(deps.store, courseId));
    if (!course) throw new Problem('not_found', 'course_not_found', 'No such course.');
    return {
      courseId,
      assetId,
      course,
      asset: assetOfCourse(await readAsset(deps.store, assetId), courseId),
    };
  };

  router.post(`${base}/presign`, ...authors, async (req, res) => {
    const body = validated(schema.uploadRequest(jsonBody(req)));
    const { courseId, assetId, course, asset } = await load(req);
    const key = mediaKey(courseId, assetId);
    const command = {
      type: 'StartUpload' as const,
      key,
      contentType: body.contentType,
      size: body.size,
      fileName: body.fileName ?? null,
      course,
      actor: actorOf(req),
      at: deps.clock.now().toISOString(),
    };
    // 1. Refuse before the storage opens anything (not the author, not a draft, wrong type, too large).
    mediaAssetDecider.decide({ ...command, uploadId: null }, asset);
    const multipart = body.multipart === true || body.size > schema.SINGLE_UPLOAD_MAX_BYTES;
    // 2. A multipart upload's plan is fixed by the storage; its id goes into the event.
    const opened = multipart
      ? await deps.blobs.createMultipartUpload({
          key,
          contentType: body.contentType,
          size: body.size,
          maxSize: body.size,
          partSize: schema.UPLOAD_PART_BYTES,
        })
      : null;
    let outcome;
    try {
      outcome = await runMediaAsset(deps, req, assetId, { ...command, uploadId: opened?.uploadId ?? null });
    } catch (error) {
      if (opened) await deps.blobs.abortMultipartUpload(key, opened.uploadId);
      throw error;
    }
    // 3. An upload this one replaces is of no use any more.
    if (asset.status !== 'processing' && asset.status !== 'ready' && asset.upload?.uploadId)
      await deps.blobs.abortMultipartUpload(asset.upload.key, asset.upload.uploadId);
    const upload = outcome.state.status === 'pending' ? outcome.state.upload : null;
    if (!upload) throw new Error('an upload was just started');
    const partCount = opened?.partCount ?? 1;
    const parts = await presignFor(
      deps.blobs,
      upload,
      Array.from({ length: partCount }, (_, i) => i + 1),
    );
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({
      assetId,
      courseId,
      status: outcome.state.status,
      revision: outcome.revision,
      upload: {
        uploadId: upload.uploadId,
        contentType: upload.contentType,
        size: upload.size,
        partSize: opened?.partSize ?? upload.size,
        partCount,
        parts,
      },
    });
  });

  // Resume: the parts the storage holds, the ones missing, and fresh URLs for those.
  router.get(base, ...authors, async (req, res) => {
    const { courseId, assetId, course, asset } = await load(req);
    checkEditor({ authorId: course.authorId }, actorOf(req));
    const pending = asset.status === 'pending' || asset.status === 'failed' ? asset.upload : null;
    if (!pending) {
      res.json({ assetId, courseId, status: asset.status, upload: null });
      return;
    }
    const progress = await progressOf(deps.blobs, pending);
    res.json({
      assetId,
      courseId,
      status: asset.status,
      upload: {
        uploadId: pending.uploadId,
        contentType: pending.contentType,
        size: pending.size,
        ...progress,
        parts: await presignFor(deps.blobs, pending, progress.missing),
      },
    });
  });

  // Finalize: what the storage holds is checked before it is recorded; a file that fails is deleted.
  router.post(base, ...authors, async (req, res) => {
    const { assetId, courseId, course, asset } = await load(req);
    const actor = actorOf(req);
    checkEditor(course, actor);
    const pending = asset.status === 'pending' ? asset.upload : null;
    const stored = pending ? await storedUpload(deps.blobs, pending) : null;
    let outcome;
    try {
      outcome = await runMediaAsset(deps, req, assetId, {
        type: 'FinishUpload',
        stored,
        course,
        actor,
        at: deps.clock.now().toISOString(),
      });
    } catch (error) {
      if (pending && error instanceof Problem && DISCARDED.has(error.code))
        await deps.blobs.delete(pending.key);
      throw error;
    }
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ assetId, courseId, status: outcome.state.status, revision: outcome.revision });
  });

  return router;
};
