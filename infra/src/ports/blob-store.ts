import { Problem, type ProblemKind } from '../runtime/errors.ts';

/**
 * Object storage for the files people upload (course materials, videos,
 * avatars): MinIO or another S3-compatible server, or a folder with
 * server-signed URLs in the embedded profile.
 *
 * The bytes never pass through an API process: the API hands the client a
 * presigned request and the client sends it to the storage itself, as a
 * browser would. The storage enforces what the URL was signed for:
 *
 * - an upload URL is signed for one key, one `Content-Type` and one exact
 *   size (its `Content-Length`), so a body of another type or of more (or
 *   fewer) bytes is refused by the storage, not by our code; the size is
 *   what the client declared, and it must not exceed the caller's `maxSize`;
 * - a multipart upload has a plan (size, part size) fixed when it starts;
 *   each part URL is signed for the exact size that part must have, so the
 *   whole cannot exceed the declared size either;
 * - every URL expires; a download URL is meant to be short-lived.
 *
 * Signed PUTs were chosen over S3's POST policies (`content-length-range`):
 * a POST policy cannot govern an UploadPart, so signed PUTs give one client
 * protocol for whole files and parts, and the folder adapter needs no form
 * parser.
 *
 * Keys are ours to choose, never a user's file name: 1 to
 * {@link blobLimits.maxKeyLength} characters, `/`-separated segments of
 * `A-Z a-z 0-9 . _ -` that start with a letter or digit (so no `..`, no
 * leading `/`, no empty segment). Invalid input is a {@link BlobError}.
 */

export const blobLimits = {
  maxKeyLength: 512,
  /** S3's smallest part (all but the last); the folder adapter keeps the same rule. */
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 * 1024 * 1024,
  maxParts: 10_000,
  /** S3's largest single PUT; larger files go multipart. */
  maxSingleUpload: 5 * 1024 * 1024 * 1024,
  /** S3's largest object. */
  maxObjectSize: 5 * 1024 * 1024 * 1024 * 1024,
  /** SigV4's longest expiry (7 days). */
  maxExpiresInSeconds: 7 * 24 * 3600,
  maxHeadBytes: 64 * 1024,
  /** The most `read` returns: it is for small files the server itself reads (a playlist), not for media. */
  maxReadBytes: 16 * 1024 * 1024,
  defaultPartSize: 8 * 1024 * 1024,
  defaultUploadExpiresInSeconds: 15 * 60,
  defaultDownloadExpiresInSeconds: 5 * 60,
} as const;

/**
 * A request the client sends as given, straight to the storage. `headers`
 * are signed and must be sent exactly (a browser sets `Content-Length`
 * from the body itself; it must equal the size the URL was signed for).
 */
export type PresignedRequest = Readonly<{
  method: 'PUT' | 'GET';
  url: string;
  headers: Readonly<Record<string, string>>;
  expiresAt: Date;
}>;

export type UploadRequest = Readonly<{
  key: string;
  /** Lower-case `type/subtype` without parameters; the client must send it as `Content-Type`. */
  contentType: string;
  /** Exact size in bytes of the body the client will send. */
  size: number;
  /** The caller's limit for this kind of file; `size` above it is a `blob_too_large` error. */
  maxSize: number;
  expiresInSeconds?: number;
}>;

export type MultipartRequest = Readonly<{
  key: string;
  contentType: string;
  size: number;
  maxSize: number;
  /** Every part but the last has this size; default {@link blobLimits.defaultPartSize}. */
  partSize?: number;
}>;

/** A multipart upload's plan, fixed when it starts. Parts are numbered from 1. */
export type MultipartUpload = Readonly<{
  key: string;
  uploadId: string;
  contentType: string;
  size: number;
  partSize: number;
  partCount: number;
  /** By the store's clock; the sweeper compares it with the same clock. */
  startedAt: Date;
}>;

export type UploadedPart = Readonly<{ partNumber: number; size: number; etag: string }>;

export type BlobStat = Readonly<{
  key: string;
  size: number;
  contentType: string;
  /** S3's ETag without quotes: the MD5 of the bytes, or for a multipart upload the MD5 of the parts' MD5s and `-<parts>`. */
  etag: string;
  lastModified: Date;
}>;

export type AbortedUpload = Readonly<{ key: string; uploadId: string; startedAt: Date }>;

/**
 * @example
 *   // 1. The API answers a client that wants to upload a 3 MB PNG:
 *   const put = await blobs.presignUpload({ key: `avatars/${userId}/${id}`, contentType: 'image/png',
 *     size: 3_000_000, maxSize: 5_000_000 });
 *   // 2. The browser: await fetch(put.url, { method: put.method, headers: put.headers, body: file });
 *   // 3. The API finalizes: checks the size and sniffs the magic bytes.
 *   const { size } = await blobs.stat(key);
 *   const head = await blobs.readHead(key, 16);
 *   // Large files: createMultipartUpload, presignParts, (listParts to resume), completeMultipartUpload.
 */
export interface BlobStore {
  /** A PUT of exactly `size` bytes of `contentType` to `key`; the object replaces any of that key. */
  presignUpload(request: UploadRequest): Promise<PresignedRequest>;
  /**
   * A GET of the object. The object is not looked up: a URL for a missing
   * key answers 404 from the storage.
   */
  presignDownload(key: string, opts?: { expiresInSeconds?: number }): Promise<PresignedRequest>;
  /** Starts a multipart upload with a fixed plan; the object appears only on completion. */
  createMultipartUpload(request: MultipartRequest): Promise<MultipartUpload>;
  /**
   * One PUT per part number asked, each signed for the exact size that part
   * has in the plan. Asking again (to resume) gives fresh URLs; a part sent
   * twice keeps the last one.
   */
  presignParts(
    key: string,
    uploadId: string,
    partNumbers: readonly number[],
    opts?: { expiresInSeconds?: number },
  ): Promise<readonly PresignedRequest[]>;
  /** The plan and the parts the storage holds, by part number, so a client can resume. */
  listParts(
    key: string,
    uploadId: string,
  ): Promise<Readonly<{ upload: MultipartUpload; parts: readonly UploadedPart[] }>>;
  /**
   * Joins the parts into the object. Every part of the plan must be there
   * (`upload_incomplete` names the missing ones, and the upload stays open).
   */
  completeMultipartUpload(key: string, uploadId: string): Promise<BlobStat>;
  /** Discards the upload and its parts. Idempotent: an unknown upload is not an error. */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
  /**
   * The sweeper: aborts every multipart upload this store started more than
   * `olderThanMs` ago (by its clock) and did not complete, and drops
   * leftovers of interrupted writes. Run it periodically.
   */
  abortStaleUploads(olderThanMs: number): Promise<readonly AbortedUpload[]>;
  /** Size, type and ETag; `blob_not_found` when there is no such object. */
  stat(key: string): Promise<BlobStat>;
  /** The first `bytes` bytes (fewer if the object is shorter), for sniffing magic numbers. */
  readHead(key: string, bytes: number): Promise<Uint8Array>;
  /**
   * The whole object, for a small file the server reads itself (a
   * playlist); `blob_too_large` when it holds more than `maxBytes`, however
   * it changes while being read.
   */
  read(key: string, maxBytes: number): Promise<Uint8Array>;
  /** Removes the object. Idempotent: a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Resolves when the storage answers (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type BlobErrorCode =
  | 'invalid_blob_key'
  | 'invalid_blob_request'
  | 'blob_too_large'
  | 'blob_not_found'
  | 'upload_not_found'
  | 'upload_incomplete';

const kindOf: Readonly<Record<BlobErrorCode, ProblemKind>> = {
  invalid_blob_key: 'validation',
  invalid_blob_request: 'validation',
  blob_too_large: 'too_large',
  blob_not_found: 'not_found',
  upload_not_found: 'not_found',
  upload_incomplete: 'conflict',
};

/**
 * What a store throws for input it refuses or things that are not there. It
 * is a {@link Problem}, so a route that lets it through answers the matching
 * 4xx (400, 413, 404, 409) with its stable `code`.
 *
 * @example
 *   try { await blobs.stat(key); }
 *   catch (e) { if (e instanceof BlobError && e.code === 'blob_not_found') return null; throw e; }
 */
export class BlobError extends Problem {
  constructor(code: BlobErrorCode, message: string, extra?: Record<string, unknown>) {
    super(kindOf[code], code, message, extra ? { extra } : {});
    this.name = 'BlobError';
  }
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const UPLOAD_ID = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]{0,255}$/;

/** Throws `invalid_blob_key` unless `key` follows the rule above. */
export const checkBlobKey = (key: unknown): string => {
  if (typeof key !== 'string' || key.length === 0 || key.length > blobLimits.maxKeyLength)
    throw new BlobError('invalid_blob_key', `A key is 1 to ${blobLimits.maxKeyLength} characters.`);
  if (key.includes('..') || !key.split('/').every((s) => SEGMENT.test(s)))
    throw new BlobError(
      'invalid_blob_key',
      'A key is /-separated segments of A-Z a-z 0-9 . _ - that start with a letter or digit, without "..".',
    );
  return key;
};

export const checkContentType = (contentType: unknown): string => {
  if (typeof contentType !== 'string' || !CONTENT_TYPE.test(contentType))
    throw new BlobError(
      'invalid_blob_request',
      'The content type is a lower-case type/subtype without parameters.',
    );
  return contentType;
};

export const checkUploadId = (uploadId: unknown): string => {
  if (typeof uploadId !== 'string' || !UPLOAD_ID.test(uploadId) || uploadId.includes('..'))
    throw new BlobError('upload_not_found', 'There is no such upload.');
  return uploadId;
};

const checkInteger = (name: string, value: unknown, min: number, max: number): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    throw new BlobError('invalid_blob_request', `${name} is an integer from ${min} to ${max}.`);
  return value;
};

export const checkExpiry = (seconds: number | undefined, fallback: number): number =>
  checkInteger('expiresInSeconds', seconds ?? fallback, 1, blobLimits.maxExpiresInSeconds);

export const checkHeadBytes = (bytes: number): number =>
  checkInteger('bytes', bytes, 1, blobLimits.maxHeadBytes);

export const checkReadBytes = (maxBytes: number): number =>
  checkInteger('maxBytes', maxBytes, 0, blobLimits.maxReadBytes);

/** What `read` throws for an object larger than the caller takes. */
export const tooLargeToRead = (key: string, maxBytes: number): BlobError =>
  new BlobError('blob_too_large', `${key} holds more than ${maxBytes} bytes.`, { maxBytes });

/** Checks a size against the caller's limit and the storage's own. */
const checkSize = (size: number, maxSize: number, ceiling: number): void => {
  checkInteger('maxSize', maxSize, 0, ceiling);
  checkInteger('size', size, 0, ceiling);
  if (size > maxSize)
    throw new BlobError('blob_too_large', `The file is ${size} bytes; at most ${maxSize} are allowed.`, {
      maxSize,
    });
};

/** Validates a single upload request; returns its expiry in seconds. */
export const checkUploadRequest = (r: UploadRequest): number => {
  checkBlobKey(r.key);
  checkContentType(r.contentType);
  checkSize(r.size, r.maxSize, blobLimits.maxSingleUpload);
  return checkExpiry(r.expiresInSeconds, blobLimits.defaultUploadExpiresInSeconds);
};

/** Validates a multipart request and works out its plan's part size and count. */
export const planMultipart = (r: MultipartRequest): { partSize: number; partCount: number } => {
  checkBlobKey(r.key);
  checkContentType(r.contentType);
  checkSize(r.size, r.maxSize, blobLimits.maxObjectSize);
  if (r.size === 0) throw new BlobError('invalid_blob_request', 'An empty file is a single upload.');
  const partSize = checkInteger(
    'partSize',
    r.partSize ?? blobLimits.defaultPartSize,
    blobLimits.minPartSize,
    blobLimits.maxPartSize,
  );
  const partCount = Math.ceil(r.size / partSize);
  if (partCount > blobLimits.maxParts)
    throw new BlobError(
      'invalid_blob_request',
      `${r.size} bytes in parts of ${partSize} is ${partCount} parts; at most ${blobLimits.maxParts}.`,
    );
  return { partSize, partCount };
};

/** The exact size of part `partNumber` (1-based) in a plan. */
export const partSizeOf = (u: MultipartUpload, partNumber: number): number => {
  checkInteger('partNumber', partNumber, 1, u.partCount);
  return partNumber < u.partCount ? u.partSize : u.size - u.partSize * (u.partCount - 1);
};

/** Part numbers of the plan that `parts` lacks, in order. */
export const missingParts = (u: MultipartUpload, parts: readonly UploadedPart[]): number[] => {
  const have = new Set(
    parts
      .filter((p) => p.partNumber >= 1 && p.partNumber <= u.partCount)
      .filter((p) => p.size === partSizeOf(u, p.partNumber))
      .map((p) => p.partNumber),
  );
  return Array.from({ length: u.partCount }, (_, i) => i + 1).filter((n) => !have.has(n));
};
