import http from 'node:http';
import https from 'node:https';
import { Client, S3Error } from 'minio';
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
  type BlobStat,
  type BlobStore,
  type MultipartUpload,
  type PresignedRequest,
  type UploadedPart,
  tooLargeToRead,
} from '../ports/blob-store.ts';
import { systemClock, type Clock } from '../runtime/ids.ts';
import { presignV4 } from './sigv4.ts';

export type MinioStoreOptions = Readonly<{
  /** Where this process reaches the server: `http(s)://host:port`, no path. */
  endpoint: string;
  /**
   * Where clients reach it, if not at `endpoint` (a public name in front
   * of a private address). Presigned URLs are signed for this host.
   */
  publicEndpoint?: string;
  accessKey: string;
  secretKey: string;
  /** Created on open if missing. */
  bucket: string;
  /** Default `us-east-1` (MinIO's). */
  region?: string;
  clock?: Clock;
}>;

/**
 * Where the plan of each open multipart upload is kept, as a small object:
 * S3 keeps no metadata of an upload that we could read back, and MinIO lists
 * uploads only per key (or, bucket-wide, those its process has seen since it
 * started), so the sweeper needs a list of its own. Keys start with a letter
 * or digit, so no object of ours is ever named like this.
 */
const MARKERS = '.lectern/uploads/';

/** The client's `listParts` pages through every part; its types make it protected. */
class S3Client extends Client {
  allParts(bucket: string, key: string, uploadId: string) {
    return this.listParts(bucket, key, uploadId);
  }
}

const codeOf = (e: unknown): string | undefined =>
  e instanceof S3Error ? e.code : (e as { code?: string } | null)?.code;

const endpointUrl = (name: string, value: string): URL => {
  const url = new URL(value);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search)
    throw new Error(`${name} must be http(s)://host:port without a path (got ${value})`);
  return url;
};

type Marker = Readonly<{
  key: string;
  uploadId: string;
  contentType: string;
  size: number;
  partSize: number;
  partCount: number;
  startedAt: string;
}>;

const collect = async (stream: AsyncIterable<Buffer | string>): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
};

/**
 * The BlobStore on MinIO or another S3-compatible server, through the
 * `minio` client; presigned URLs are signed here (`sigv4.ts`) so that they
 * cover `Content-Type` and `Content-Length`, which the server then enforces.
 *
 * @example
 *   const blobs = await openMinioStore({ endpoint: process.env.S3_ENDPOINT!, bucket: 'lectern',
 *     accessKey: process.env.S3_ACCESS_KEY!, secretKey: readFileSync(process.env.S3_SECRET_KEY_FILE!, 'utf8').trim() });
 */
export const openMinioStore = async (opts: MinioStoreOptions): Promise<BlobStore> => {
  const endpoint = endpointUrl('endpoint', opts.endpoint);
  const publicEndpoint = endpointUrl('publicEndpoint', opts.publicEndpoint ?? opts.endpoint);
  const region = opts.region ?? 'us-east-1';
  const clock = opts.clock ?? systemClock;
  const { bucket, accessKey, secretKey } = opts;
  const secure = endpoint.protocol === 'https:';
  // Our own agent, so close() can let go of its kept-alive sockets.
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const client = new S3Client({
    endPoint: endpoint.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(endpoint.port || (secure ? 443 : 80)),
    useSSL: secure,
    accessKey,
    secretKey,
    region,
    pathStyle: true,
    transportAgent: agent,
  });

  if (!(await client.bucketExists(bucket))) {
    await client.makeBucket(bucket, region).catch((e: unknown) => {
      if (codeOf(e) !== 'BucketAlreadyOwnedByYou') throw e;
    });
  }

  const presign = (
    method: 'PUT' | 'GET',
    key: string,
    expiresInSeconds: number,
    extra: { query?: Record<string, string>; headers?: Record<string, string> } = {},
  ): { url: string; expiresAt: Date } => {
    const date = clock.now();
    const url = presignV4({
      method,
      endpoint: publicEndpoint,
      path: `/${bucket}/${key}`,
      ...extra,
      accessKey,
      secretKey,
      region,
      date,
      expiresInSeconds,
    });
    return { url, expiresAt: new Date(date.getTime() + expiresInSeconds * 1000) };
  };

  const notFound = (e: unknown, key: string): unknown =>
    ['NotFound', 'NoSuchKey'].includes(codeOf(e) ?? '')
      ? new BlobError('blob_not_found', `There is no object ${key}.`)
      : e;

  const readMarker = async (uploadId: string): Promise<MultipartUpload | null> => {
    let marker: Marker;
    try {
      marker = JSON.parse((await collect(await client.getObject(bucket, MARKERS + uploadId))).toString());
    } catch (e) {
      if (codeOf(e) === 'NoSuchKey') return null;
      throw e;
    }
    return { ...marker, startedAt: new Date(marker.startedAt) };
  };

  const removeMarker = (uploadId: string) => client.removeObject(bucket, MARKERS + uploadId);

  /** The plan of an upload of `key`; `upload_not_found` for an unknown id or one of another key. */
  const planOf = async (key: string, uploadId: string): Promise<MultipartUpload> => {
    checkBlobKey(key);
    checkUploadId(uploadId);
    const upload = await readMarker(uploadId);
    if (!upload || upload.key !== key) throw new BlobError('upload_not_found', 'There is no such upload.');
    return upload;
  };

  const abortAtStorage = async (key: string, uploadId: string) => {
    await client.abortMultipartUpload(bucket, key, uploadId).catch((e: unknown) => {
      if (codeOf(e) !== 'NoSuchUpload') throw e;
    });
  };

  const stat = async (key: string): Promise<BlobStat> => {
    checkBlobKey(key);
    try {
      const s = await client.statObject(bucket, key);
      return {
        key,
        size: s.size,
        contentType: String(s.metaData['content-type'] ?? 'application/octet-stream'),
        etag: s.etag.replace(/"/g, ''),
        lastModified: s.lastModified,
      };
    } catch (e) {
      throw notFound(e, key);
    }
  };

  const listParts = async (key: string, uploadId: string) => {
    const upload = await planOf(key, uploadId);
    let raw;
    try {
      raw = await client.allParts(bucket, key, uploadId);
    } catch (e) {
      if (codeOf(e) === 'NoSuchUpload') throw new BlobError('upload_not_found', 'There is no such upload.');
      throw e;
    }
    const parts: UploadedPart[] = raw
      .map((p) => ({ partNumber: p.part, size: p.size, etag: p.etag.replace(/"/g, '') }))
      .sort((a, b) => a.partNumber - b.partNumber);
    return { upload, parts };
  };

  return {
    async presignUpload(request): Promise<PresignedRequest> {
      const expires = checkUploadRequest(request);
      const headers = { 'content-type': request.contentType };
      const { url, expiresAt } = presign('PUT', request.key, expires, {
        headers: { ...headers, 'content-length': String(request.size) },
      });
      return { method: 'PUT', url, headers, expiresAt };
    },

    async presignDownload(key, o = {}) {
      checkBlobKey(key);
      const expires = checkExpiry(o.expiresInSeconds, blobLimits.defaultDownloadExpiresInSeconds);
      return { method: 'GET', headers: {}, ...presign('GET', key, expires) };
    },

    async createMultipartUpload(request) {
      const { partSize, partCount } = planMultipart(request);
      const uploadId = checkUploadId(
        await client.initiateNewMultipartUpload(bucket, request.key, { 'Content-Type': request.contentType }),
      );
      const startedAt = clock.now();
      const marker: Marker = {
        key: request.key,
        uploadId,
        contentType: request.contentType,
        size: request.size,
        partSize,
        partCount,
        startedAt: startedAt.toISOString(),
      };
      try {
        await client.putObject(bucket, MARKERS + uploadId, JSON.stringify(marker), undefined, {
          'Content-Type': 'application/json',
        });
      } catch (e) {
        // Without its marker nothing would ever sweep it.
        await abortAtStorage(request.key, uploadId).catch(() => {});
        throw e;
      }
      return { ...marker, startedAt };
    },

    async presignParts(key, uploadId, partNumbers, o = {}) {
      const upload = await planOf(key, uploadId);
      const expires = checkExpiry(o.expiresInSeconds, blobLimits.defaultUploadExpiresInSeconds);
      const sizes = partNumbers.map((n) => partSizeOf(upload, n));
      return partNumbers.map((n, i) => ({
        method: 'PUT' as const,
        headers: {},
        ...presign('PUT', key, expires, {
          query: { partNumber: String(n), uploadId },
          headers: { 'content-length': String(sizes[i]) },
        }),
      }));
    },

    listParts,

    async completeMultipartUpload(key, uploadId) {
      const { upload, parts } = await listParts(key, uploadId);
      const missing = missingParts(upload, parts);
      if (missing.length > 0)
        throw new BlobError(
          'upload_incomplete',
          `${missing.length} of ${upload.partCount} parts are missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}.`,
          { missingParts: missing.slice(0, 1000) },
        );
      await client.completeMultipartUpload(
        bucket,
        key,
        uploadId,
        parts
          .filter((p) => p.partNumber <= upload.partCount)
          .map((p) => ({ part: p.partNumber, etag: p.etag })),
      );
      await removeMarker(uploadId);
      return stat(key);
    },

    async abortMultipartUpload(key, uploadId) {
      checkBlobKey(key);
      checkUploadId(uploadId);
      const upload = await readMarker(uploadId);
      if (upload && upload.key !== key) return;
      await abortAtStorage(key, uploadId);
      await removeMarker(uploadId);
    },

    async abortStaleUploads(olderThanMs) {
      if (!Number.isSafeInteger(olderThanMs) || olderThanMs < 0)
        throw new BlobError('invalid_blob_request', 'olderThanMs is a whole number of milliseconds.');
      const cutoff = clock.now().getTime() - olderThanMs;
      const names: string[] = [];
      for await (const item of client.listObjectsV2(bucket, MARKERS, true))
        if (item.name) names.push(item.name);
      const aborted: AbortedUpload[] = [];
      for (const name of names) {
        const upload = await readMarker(name.slice(MARKERS.length));
        if (!upload || upload.startedAt.getTime() >= cutoff) continue;
        await abortAtStorage(upload.key, upload.uploadId);
        await removeMarker(upload.uploadId);
        aborted.push({ key: upload.key, uploadId: upload.uploadId, startedAt: upload.startedAt });
      }
      return aborted;
    },

    stat,

    async readHead(key, bytes) {
      checkBlobKey(key);
      checkHeadBytes(bytes);
      try {
        return await collect(await client.getPartialObject(bucket, key, 0, bytes));
      } catch (e) {
        // A range of an empty object is unsatisfiable; its head is empty.
        if (codeOf(e) === 'InvalidRange' && (await stat(key)).size === 0) return new Uint8Array();
        throw notFound(e, key);
      }
    },

    async read(key, maxBytes) {
      checkBlobKey(key);
      checkReadBytes(maxBytes);
      if ((await stat(key)).size > maxBytes) throw tooLargeToRead(key, maxBytes);
      let stream;
      try {
        stream = await client.getObject(bucket, key);
      } catch (e) {
        throw notFound(e, key);
      }
      // Replaced by a larger object since the stat: stop at the limit rather than hold it all.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) {
          stream.destroy();
          throw tooLargeToRead(key, maxBytes);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    },

    async delete(key) {
      checkBlobKey(key);
      await client.removeObject(bucket, key);
    },

    async ping() {
      if (!(await client.bucketExists(bucket))) throw new Error(`bucket ${bucket} does not exist`);
    },

    async close() {
      agent.destroy();
    },
  };
};
