import { randomBytes } from 'node:crypto';
import { access, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Router } from 'express';
import {
  BlobError,
  blobLimits,
  checkBlobKey,
  checkExpiry,
  checkHeadBytes,
  checkReadBytes,
  checkUploadId,
  checkUploadRequest,
  missingParts,
  partSizeOf,
  planMultipart,
  type AbortedUpload,
  type BlobStore,
  type MultipartUpload,
  type PresignedRequest,
  tooLargeToRead,
} from '../ports/blob-store.ts';
import { systemClock, type Clock } from '../runtime/ids.ts';
import { folderFiles } from './folder-files.ts';
import { folderRouter, multipartEtag, urlSigner, type Signed } from './folder-router.ts';

export type FolderStoreOptions = Readonly<{
  /** The folder objects live in (`<LECTERN_DATA_DIR>/blobs` in the embedded profile); created if missing. */
  root: string;
  /** The URLs' HMAC key, at least 32 bytes (see {@link ensureSigningKey}). */
  signingKey: Uint8Array | string;
  /** Where clients reach the router, as an absolute URL: `http://localhost:8000/blobs`. */
  baseUrl: string;
  clock?: Clock;
}>;

const notFound = (key: string) => new BlobError('blob_not_found', `There is no object ${key}.`);
const noUpload = () => new BlobError('upload_not_found', 'There is no such upload.');

/**
 * The BlobStore of the embedded profile: objects in a folder, and presigned
 * URLs that this process signs (HMAC-SHA256) and serves through `router`,
 * which enforces what they were signed for as MinIO does: the exact size
 * (reading stops past it: 413), the content type (415), the expiry and the
 * signature (403). The bytes pass through the API process here, which is
 * what the embedded profile is for.
 *
 * @example
 *   const { store, router } = await openFolderStore({ root: join(dataDir, 'blobs'),
 *     signingKey: await ensureSigningKey(join(dataDir, 'blobs', 'signing.key')),
 *     baseUrl: 'http://localhost:8000/blobs' });
 *   app.use('/blobs', router); // before any body parser
 */
export const openFolderStore = async (
  opts: FolderStoreOptions,
): Promise<Readonly<{ store: BlobStore; router: Router }>> => {
  const clock = opts.clock ?? systemClock;
  const files = folderFiles(opts.root);
  await files.init();
  const signer = urlSigner(opts.signingKey, opts.baseUrl);

  const presign = (s: Omit<Signed, 'expires'>, seconds: number, headers = {}): PresignedRequest => {
    const expires = clock.now().getTime() + seconds * 1000;
    return { method: s.method, url: signer.url({ ...s, expires }), headers, expiresAt: new Date(expires) };
  };

  const planOf = async (key: string, uploadId: string): Promise<MultipartUpload> => {
    checkBlobKey(key);
    checkUploadId(uploadId);
    const plan = await files.readPlan(uploadId);
    if (!plan || plan.key !== key) throw noUpload();
    return plan;
  };

  const abort = async (uploadId: string) => {
    const claimed = await files.claimUpload(uploadId);
    if (claimed) await files.removeDir(claimed);
  };

  const store: BlobStore = {
    async presignUpload(request) {
      const seconds = checkUploadRequest(request);
      const { key, contentType, size } = request;
      return presign({ method: 'PUT', key, contentType, size }, seconds, { 'content-type': contentType });
    },

    async presignDownload(key, o = {}) {
      checkBlobKey(key);
      return presign(
        { method: 'GET', key },
        checkExpiry(o.expiresInSeconds, blobLimits.defaultDownloadExpiresInSeconds),
      );
    },

    async createMultipartUpload(request) {
      const { partSize, partCount } = planMultipart(request);
      const { key, contentType, size } = request;
      const upload: MultipartUpload = {
        key,
        uploadId: files.newUploadId(),
        contentType,
        size,
        partSize,
        partCount,
        startedAt: clock.now(),
      };
      await files.createUpload(upload);
      return upload;
    },

    async presignParts(key, uploadId, partNumbers, o = {}) {
      const plan = await planOf(key, uploadId);
      const seconds = checkExpiry(o.expiresInSeconds, blobLimits.defaultUploadExpiresInSeconds);
      const sizes = partNumbers.map((n) => partSizeOf(plan, n));
      return partNumbers.map((partNumber, i) =>
        presign({ method: 'PUT', key, uploadId, partNumber, size: sizes[i]! }, seconds),
      );
    },

    async listParts(key, uploadId) {
      const upload = await planOf(key, uploadId);
      const parts = await files.listParts(uploadId);
      if (!parts) throw noUpload();
      return { upload, parts };
    },

    async completeMultipartUpload(key, uploadId) {
      const upload = await planOf(key, uploadId);
      const incomplete = (missing: number[]) =>
        new BlobError(
          'upload_incomplete',
          `${missing.length} of ${upload.partCount} parts are missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}.`,
          { missingParts: missing.slice(0, 1000) },
        );
      const listed = (await files.listParts(uploadId)) ?? [];
      if (missingParts(upload, listed).length > 0) throw incomplete(missingParts(upload, listed));
      // 1. Claim the upload, so no other completion or abort acts on it.
      const claimed = await files.claimUpload(uploadId);
      if (!claimed) throw noUpload();
      try {
        // 2. The parts as they are now, then the whole, then the object.
        const parts = (await files.listPartsIn(claimed)).filter((p) => p.partNumber <= upload.partCount);
        const missing = missingParts(upload, parts);
        if (missing.length > 0) {
          await files.unclaimUpload(claimed, uploadId);
          throw incomplete(missing);
        }
        const joined = await files.joinParts(claimed, parts);
        const etag = multipartEtag(parts.map((p) => p.etag));
        const stat = await files.commitObject(key, joined, upload.contentType, etag, clock.now());
        await files.removeDir(claimed);
        return stat;
      } catch (e) {
        if (!(e instanceof BlobError)) await files.unclaimUpload(claimed, uploadId).catch(() => {});
        throw e;
      }
    },

    async abortMultipartUpload(key, uploadId) {
      checkBlobKey(key);
      checkUploadId(uploadId);
      const plan = await files.readPlan(uploadId);
      if (plan && plan.key === key) await abort(uploadId);
    },

    async abortStaleUploads(olderThanMs) {
      if (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)
        throw new BlobError('invalid_blob_request', 'olderThanMs is a whole number of milliseconds.');
      const cutoff = clock.now().getTime() - olderThanMs;
      const aborted: AbortedUpload[] = [];
      for (const uploadId of await files.uploadIds()) {
        const plan = await files.readPlan(uploadId);
        if (!plan || plan.startedAt.getTime() >= cutoff) continue;
        await abort(uploadId);
        aborted.push({ key: plan.key, uploadId, startedAt: plan.startedAt });
      }
      for (const path of await files.staleTemporaries(cutoff)) await files.removeDir(path);
      return aborted;
    },

    async stat(key) {
      checkBlobKey(key);
      const meta = await files.readMeta(key);
      if (!meta) throw notFound(key);
      return files.statOf(meta);
    },

    async readHead(key, bytes) {
      checkBlobKey(key);
      checkHeadBytes(bytes);
      const object = await files.openObject(key);
      if (!object) throw notFound(key);
      try {
        return await files.readHead(object.path, bytes);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') throw notFound(key);
        throw e;
      }
    },

    async read(key, maxBytes) {
      checkBlobKey(key);
      checkReadBytes(maxBytes);
      const object = await files.openObject(key);
      if (!object) throw notFound(key);
      if (object.stat.size > maxBytes) throw tooLargeToRead(key, maxBytes);
      try {
        // Objects are written whole then renamed into place: the file is the size its meta says.
        const bytes = await files.readHead(object.path, Math.max(object.stat.size, 1));
        return bytes.subarray(0, object.stat.size);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') throw notFound(key);
        throw e;
      }
    },

    async delete(key) {
      checkBlobKey(key);
      await files.deleteObject(key);
    },

    async ping() {
      await access(opts.root);
    },

    async close() {},
  };

  return { store, router: folderRouter(files, signer, clock) };
};

/**
 * The signing key kept in a file: read if it exists, else 32 random bytes
 * written once (mode 0600), so URLs stay valid across restarts.
 */
export const ensureSigningKey = async (path: string): Promise<Buffer> => {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, randomBytes(32), { mode: 0o600, flag: 'wx' });
  // link, not rename: of two processes starting at once, the first key stays and both read it.
  await link(tmp, path).catch((e: unknown) => {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
  });
  await rm(tmp, { force: true });
  return readFile(path);
};
