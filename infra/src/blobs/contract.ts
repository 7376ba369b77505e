import { createHash, randomBytes } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import {
  BlobError,
  blobLimits,
  type BlobErrorCode,
  type BlobStore,
  type PresignedRequest,
} from '../ports/blob-store.ts';
import type { Clock } from '../runtime/ids.ts';

/** Why the storage refused a request, as the contract provokes it. */
export type Refusal = 'too_large' | 'too_small' | 'wrong_type' | 'expired' | 'tampered' | 'no_upload';

/** What a client sees of an answer: the response and its whole body. */
export type Answer = Readonly<{ res: Response; body: Buffer }>;

export type BlobUnderTest = Readonly<{
  store: BlobStore;
  /**
   * Asserts that a refusal is the storage's own answer, for this reason: on
   * MinIO an S3 error document from the server the URL names, on the folder
   * store the router's problem document. The contract has already checked
   * that the status is a 4xx and that nothing was stored.
   */
  refusedByStorage(t: ExecutionContext, answer: Answer, reason: Refusal): void;
  cleanup(): Promise<void>;
}>;

/** A clock a test can move: the store signs (and the folder store checks) by it. */
export type TestClock = Clock & Readonly<{ shift(ms: number): void }>;

const testClock = (): TestClock => {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    shift: (ms) => {
      offset = ms;
    },
  };
};

const HOUR = 3_600_000;
const MiB = 1024 * 1024;
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** S3's ETag of a multipart object: MD5 of the parts' MD5s, then `-<parts>`. */
const multipartEtag = (parts: readonly Uint8Array[]) =>
  `${createHash('md5')
    .update(Buffer.concat(parts.map(md5)))
    .digest('hex')}-${parts.length}`;
/** Bytes that start like a PNG file, as a finalize step would sniff them. */
const pngLike = (size: number) =>
  Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(Math.max(0, size - 8))]).subarray(
    0,
    size,
  );

/** Sends a presigned request as a browser would: its method, URL and headers, over real HTTP. */
const send = async (
  request: PresignedRequest,
  body?: Uint8Array,
  headers: Record<string, string | null> = {},
): Promise<Answer> => {
  const h = new Headers(request.headers);
  for (const [name, value] of Object.entries(headers))
    if (value === null) h.delete(name);
    else h.set(name, value);
  const res = await fetch(request.url, {
    method: request.method,
    headers: h,
    ...(body ? { body } : {}),
  });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
};

/** Asserts that `promise` rejects with a BlobError of `code`; returns it. */
const rejects = async (
  t: ExecutionContext,
  promise: Promise<unknown>,
  code: BlobErrorCode,
  what?: string,
) => {
  const e = await t.throwsAsync(promise, { instanceOf: BlobError }, what);
  t.is(e?.code, code, what);
  return e;
};

/**
 * The behaviour every BlobStore adapter must show, registered as ava tests
 * titled `<name>: …`. `make` is called once per test with a clock the test
 * moves; each test gets a store of its own (a bucket, a folder), so tests
 * run concurrently and the sweeper sees only its own test's uploads.
 *
 * @example
 *   blobStoreContract(test, 'folder store', async (clock) => ({ store, refusedByStorage, cleanup }));
 */
export const blobStoreContract = (
  test: TestFn,
  name: string,
  make: (clock: TestClock) => Promise<BlobUnderTest>,
): void => {
  const it = (
    title: string,
    body: (ctx: BlobUnderTest & { clock: TestClock; key(): string }, t: ExecutionContext) => Promise<void>,
  ) =>
    test(`${name}: ${title}`, async (t) => {
      const clock = testClock();
      const under = await make(clock);
      const prefix = `contract/${randomBytes(5).toString('hex')}`;
      let n = 0;
      try {
        await body({ ...under, clock, key: () => `${prefix}/object-${++n}.bin` }, t);
      } finally {
        await under.cleanup();
      }
    });

  /** Asserts a refusal: a 4xx, the storage's own answer, and no object under `key`. */
  const refused = async (
    t: ExecutionContext,
    ctx: BlobUnderTest,
    answer: Answer,
    reason: Refusal,
    key?: string,
  ) => {
    t.true(
      answer.res.status >= 400 && answer.res.status < 500,
      `${reason}: expected a 4xx, got ${answer.res.status} ${answer.body.toString().slice(0, 300)}`,
    );
    ctx.refusedByStorage(t, answer, reason);
    if (key) await rejects(t, ctx.store.stat(key), 'blob_not_found', `${reason}: nothing stored`);
  };

  it('a presigned upload stores the bytes with their type; stat and readHead see them', async (ctx, t) => {
    const key = ctx.key();
    const bytes = pngLike(3000);
    const put = await ctx.store.presignUpload({
      key,
      contentType: 'image/png',
      size: bytes.length,
      maxSize: 5000,
    });
    t.is(put.method, 'PUT');
    t.deepEqual(put.headers, { 'content-type': 'image/png' });
    t.true(put.expiresAt.getTime() > ctx.clock.now().getTime());
    const answer = await send(put, bytes);
    t.is(answer.res.status, 200, answer.body.toString());

    const stat = await ctx.store.stat(key);
    t.is(stat.key, key);
    t.is(stat.size, bytes.length);
    t.is(stat.contentType, 'image/png');
    t.is(stat.etag, md5(bytes).toString('hex'));
    t.true(stat.lastModified instanceof Date);
    t.deepEqual(Buffer.from(await ctx.store.readHead(key, 8)), bytes.subarray(0, 8));
    t.deepEqual(Buffer.from(await ctx.store.readHead(key, blobLimits.maxHeadBytes)), bytes);

    // The same key again: the new object replaces the old.
    const again = pngLike(100);
    const put2 = await ctx.store.presignUpload({ key, contentType: 'image/png', size: 100, maxSize: 5000 });
    t.is((await send(put2, again)).res.status, 200);
    t.is((await ctx.store.stat(key)).etag, md5(again).toString('hex'));
  });

  it('read gives the whole object up to a limit, and refuses one larger than the caller takes', async (ctx, t) => {
    const key = ctx.key();
    const bytes = pngLike(100 * 1024);
    const put = await ctx.store.presignUpload({
      key,
      contentType: 'image/png',
      size: bytes.length,
      maxSize: bytes.length,
    });
    t.is((await send(put, bytes)).res.status, 200);
    t.deepEqual(Buffer.from(await ctx.store.read(key, bytes.length)), bytes, 'past what readHead may read');
    await rejects(t, ctx.store.read(key, bytes.length - 1), 'blob_too_large', 'one byte over');
    await rejects(t, ctx.store.read(ctx.key(), 10), 'blob_not_found', 'nothing stored');
    await rejects(t, ctx.store.read(key, -1), 'invalid_blob_request', 'a negative limit');
    await rejects(t, ctx.store.read('../x', 10), 'invalid_blob_key', 'a key out of the store');
  });

  it('an empty file is an upload like any other', async (ctx, t) => {
    const key = ctx.key();
    const put = await ctx.store.presignUpload({ key, contentType: 'text/plain', size: 0, maxSize: 10 });
    t.is((await send(put, new Uint8Array())).res.status, 200);
    const stat = await ctx.store.stat(key);
    t.is(stat.size, 0);
    t.is(stat.contentType, 'text/plain');
    t.is((await ctx.store.readHead(key, 16)).length, 0);
    t.is((await ctx.store.read(key, 0)).length, 0);
  });

  it('more or fewer bytes than signed are refused by the storage; the signed size is accepted', async (ctx, t) => {
    const key = ctx.key();
    const bytes = pngLike(1000);
    const put = await ctx.store.presignUpload({ key, contentType: 'image/png', size: 1000, maxSize: 1000 });
    await refused(t, ctx, await send(put, pngLike(1001)), 'too_large', key);
    await refused(t, ctx, await send(put, pngLike(64 * 1024)), 'too_large', key);
    await refused(t, ctx, await send(put, bytes.subarray(0, 999)), 'too_small', key);
    t.is((await send(put, bytes)).res.status, 200);
    t.is((await ctx.store.stat(key)).size, 1000);
  });

  it('a size above the caller’s limit gets no URL', async (ctx, t) => {
    const key = ctx.key();
    const e = await rejects(
      t,
      ctx.store.presignUpload({ key, contentType: 'image/png', size: 1001, maxSize: 1000 }),
      'blob_too_large',
    );
    t.is(e?.kind, 'too_large');
    await rejects(
      t,
      ctx.store.createMultipartUpload({ key, contentType: 'video/mp4', size: 20 * MiB, maxSize: 10 * MiB }),
      'blob_too_large',
    );
  });

  it('another content type, or none, is refused by the storage', async (ctx, t) => {
    const key = ctx.key();
    const bytes = pngLike(500);
    const put = await ctx.store.presignUpload({ key, contentType: 'image/png', size: 500, maxSize: 500 });
    await refused(t, ctx, await send(put, bytes, { 'content-type': 'text/html' }), 'wrong_type', key);
    await refused(
      t,
      ctx,
      await send(put, bytes, { 'content-type': 'image/png; charset=x' }),
      'wrong_type',
      key,
    );
    await refused(t, ctx, await send(put, bytes, { 'content-type': null }), 'wrong_type', key);
    t.is((await send(put, bytes)).res.status, 200);
    t.is((await ctx.store.stat(key)).contentType, 'image/png');
  });

  it('an expired upload URL is refused; the same request signed now is accepted', async (ctx, t) => {
    const key = ctx.key();
    const bytes = pngLike(200);
    const request = { key, contentType: 'image/png', size: 200, maxSize: 200, expiresInSeconds: 60 };
    ctx.clock.shift(-2 * HOUR);
    const old = await ctx.store.presignUpload(request);
    ctx.clock.shift(0);
    t.true(old.expiresAt.getTime() < Date.now());
    await refused(t, ctx, await send(old, bytes), 'expired', key);
    t.is((await send(await ctx.store.presignUpload(request), bytes)).res.status, 200);
  });

  it('a URL changed to name another key is refused', async (ctx, t) => {
    const key = ctx.key();
    const other = ctx.key();
    const bytes = pngLike(300);
    const put = await ctx.store.presignUpload({ key, contentType: 'image/png', size: 300, maxSize: 300 });
    const url = new URL(put.url);
    url.pathname = url.pathname.replace(key, other);
    t.not(url.toString(), put.url);
    await refused(t, ctx, await send({ ...put, url: url.toString() }, bytes), 'tampered', other);
    await rejects(t, ctx.store.stat(key), 'blob_not_found');
    t.is((await send(put, bytes)).res.status, 200);
  });

  it('a presigned GET returns the bytes and their type; an expired one is refused', async (ctx, t) => {
    const key = ctx.key();
    const bytes = randomBytes(4096);
    const put = await ctx.store.presignUpload({
      key,
      contentType: 'application/pdf',
      size: 4096,
      maxSize: 4096,
    });
    t.is((await send(put, bytes)).res.status, 200);

    const get = await ctx.store.presignDownload(key, { expiresInSeconds: 30 });
    t.is(get.method, 'GET');
    t.true(get.expiresAt.getTime() <= ctx.clock.now().getTime() + 30_000);
    const answer = await send(get);
    t.is(answer.res.status, 200);
    t.is(answer.res.headers.get('content-type'), 'application/pdf');
    t.deepEqual(answer.body, bytes);

    ctx.clock.shift(-2 * HOUR);
    const old = await ctx.store.presignDownload(key, { expiresInSeconds: 30 });
    ctx.clock.shift(0);
    await refused(t, ctx, await send(old), 'expired');
    t.is((await ctx.store.stat(key)).size, 4096);

    const missing = await send(await ctx.store.presignDownload(ctx.key()));
    t.is(missing.res.status, 404);
  });

  it('a multi-MB multipart upload resumes from the parts the storage lists, and is whole', async (ctx, t) => {
    const key = ctx.key();
    const partSize = blobLimits.minPartSize;
    const bytes = randomBytes(2 * partSize + 123_457);
    const upload = await ctx.store.createMultipartUpload({
      key,
      contentType: 'video/mp4',
      size: bytes.length,
      maxSize: 100 * MiB,
      partSize,
    });
    t.like(upload, { key, contentType: 'video/mp4', size: bytes.length, partSize, partCount: 3 });
    const part = (n: number) => bytes.subarray((n - 1) * partSize, Math.min(n * partSize, bytes.length));

    // 1. A first session sends parts 3 and 1, then is lost. A part of the wrong size is refused.
    const [url1, url3] = await ctx.store.presignParts(key, upload.uploadId, [1, 3]);
    await refused(t, ctx, await send(url3!, Buffer.concat([part(3), Buffer.from('x')])), 'too_large');
    t.is((await send(url3!, part(3))).res.status, 200);
    t.is((await send(url1!, part(1))).res.status, 200);
    await rejects(t, ctx.store.stat(key), 'blob_not_found');

    // 2. Completing now names what is missing, and keeps the upload open.
    const early = await rejects(
      t,
      ctx.store.completeMultipartUpload(key, upload.uploadId),
      'upload_incomplete',
    );
    t.is(early?.kind, 'conflict');
    t.deepEqual(early?.extra, { missingParts: [2] });

    // 3. The client resumes: it lists what the storage holds and sends the rest.
    const listed = await ctx.store.listParts(key, upload.uploadId);
    t.deepEqual(listed.upload, upload);
    t.deepEqual(
      listed.parts.map((p) => [p.partNumber, p.size, p.etag]),
      [
        [1, partSize, md5(part(1)).toString('hex')],
        [3, part(3).length, md5(part(3)).toString('hex')],
      ],
    );
    const [url2] = await ctx.store.presignParts(key, upload.uploadId, [2]);
    t.is((await send(url2!, part(2))).res.status, 200);

    const stat = await ctx.store.completeMultipartUpload(key, upload.uploadId);
    t.like(stat, { key, size: bytes.length, contentType: 'video/mp4' });
    t.is(stat.etag, multipartEtag([part(1), part(2), part(3)]));
    const download = await send(await ctx.store.presignDownload(key));
    t.is(download.res.status, 200);
    t.is(download.body.length, bytes.length);
    t.is(sha256(download.body), sha256(bytes));
    await rejects(t, ctx.store.listParts(key, upload.uploadId), 'upload_not_found');
  });

  it('part numbers outside the plan get no URL; an upload of another key is not found', async (ctx, t) => {
    const key = ctx.key();
    const upload = await ctx.store.createMultipartUpload({
      key,
      contentType: 'video/mp4',
      size: 6 * MiB,
      maxSize: 10 * MiB,
      partSize: 5 * MiB,
    });
    t.is(upload.partCount, 2);
    for (const n of [0, 3, 1.5])
      await rejects(
        t,
        ctx.store.presignParts(key, upload.uploadId, [n]),
        'invalid_blob_request',
        `part ${n}`,
      );
    const e = await rejects(t, ctx.store.listParts(ctx.key(), upload.uploadId), 'upload_not_found');
    t.is(e?.kind, 'not_found');
    await rejects(t, ctx.store.presignParts(key, 'no-such-upload', [1]), 'upload_not_found');
    await rejects(t, ctx.store.presignParts(key, '../../etc', [1]), 'upload_not_found');
    await ctx.store.abortMultipartUpload(key, upload.uploadId);
  });

  it('an aborted upload is gone: its parts, its URLs, its completion', async (ctx, t) => {
    const key = ctx.key();
    const bytes = randomBytes(blobLimits.minPartSize + 10);
    const upload = await ctx.store.createMultipartUpload({
      key,
      contentType: 'application/zip',
      size: bytes.length,
      maxSize: bytes.length,
      partSize: blobLimits.minPartSize,
    });
    const [url1, url2] = await ctx.store.presignParts(key, upload.uploadId, [1, 2]);
    t.is((await send(url1!, bytes.subarray(0, blobLimits.minPartSize))).res.status, 200);
    t.is((await ctx.store.listParts(key, upload.uploadId)).parts.length, 1);

    await ctx.store.abortMultipartUpload(key, upload.uploadId);
    await rejects(t, ctx.store.listParts(key, upload.uploadId), 'upload_not_found');
    await refused(t, ctx, await send(url2!, bytes.subarray(blobLimits.minPartSize)), 'no_upload', key);
    await rejects(t, ctx.store.completeMultipartUpload(key, upload.uploadId), 'upload_not_found');
    await t.notThrowsAsync(ctx.store.abortMultipartUpload(key, upload.uploadId));
  });

  it('the sweeper aborts an abandoned upload older than the cut-off and leaves a fresh one', async (ctx, t) => {
    const request = { contentType: 'video/mp4', size: 6 * MiB, maxSize: 6 * MiB, partSize: 5 * MiB };
    const oldKey = ctx.key();
    const freshKey = ctx.key();
    ctx.clock.shift(-2 * HOUR);
    const abandoned = await ctx.store.createMultipartUpload({ ...request, key: oldKey });
    ctx.clock.shift(0);
    const [oldPart] = await ctx.store.presignParts(oldKey, abandoned.uploadId, [2]);
    const fresh = await ctx.store.createMultipartUpload({ ...request, key: freshKey });

    const swept = await ctx.store.abortStaleUploads(HOUR);
    t.deepEqual(swept, [{ key: oldKey, uploadId: abandoned.uploadId, startedAt: abandoned.startedAt }]);
    await rejects(t, ctx.store.listParts(oldKey, abandoned.uploadId), 'upload_not_found');
    await refused(t, ctx, await send(oldPart!, randomBytes(MiB)), 'no_upload', oldKey);
    t.is((await ctx.store.listParts(freshKey, fresh.uploadId)).parts.length, 0);
    t.deepEqual(await ctx.store.abortStaleUploads(HOUR), []);
    await ctx.store.abortMultipartUpload(freshKey, fresh.uploadId);
  });

  it('delete removes an object and is idempotent; a missing object is a typed not-found', async (ctx, t) => {
    const key = ctx.key();
    const put = await ctx.store.presignUpload({ key, contentType: 'text/csv', size: 5, maxSize: 5 });
    t.is((await send(put, Buffer.from('a,b\n1'))).res.status, 200);
    t.is((await ctx.store.stat(key)).size, 5);
    await ctx.store.delete(key);
    for (const call of [() => ctx.store.stat(key), () => ctx.store.readHead(key, 4)]) {
      const e = await rejects(t, call(), 'blob_not_found');
      t.is(e?.kind, 'not_found');
    }
    await t.notThrowsAsync(ctx.store.delete(key));
  });

  it('bad keys and arguments are typed validation errors', async (ctx, t) => {
    const badKeys = [
      '',
      '/leading',
      'a/../b',
      '..',
      'a/./b',
      'a//b',
      'trailing/',
      '.hidden',
      'a b',
      'é',
      'a\u0000b',
      'x'.repeat(blobLimits.maxKeyLength + 1),
    ];
    for (const key of badKeys) {
      for (const call of [
        () => ctx.store.presignUpload({ key, contentType: 'image/png', size: 1, maxSize: 1 }),
        () => ctx.store.presignDownload(key),
        () => ctx.store.stat(key),
        () => ctx.store.delete(key),
      ]) {
        const e = await rejects(t, call(), 'invalid_blob_key', JSON.stringify(key));
        t.is(e?.kind, 'validation');
      }
    }
    const key = ctx.key();
    const invalid = async (call: () => Promise<unknown>, what: string) => {
      const e = await rejects(t, call(), 'invalid_blob_request', what);
      t.is(e?.kind, 'validation', what);
    };
    for (const contentType of ['image/PNG', 'image/png; charset=utf-8', 'png', '', 'a/b\nc'])
      await invalid(() => ctx.store.presignUpload({ key, contentType, size: 1, maxSize: 1 }), contentType);
    await invalid(() => ctx.store.presignUpload({ key, contentType: 'a/b', size: -1, maxSize: 1 }), 'size');
    await invalid(() => ctx.store.presignUpload({ key, contentType: 'a/b', size: 1.5, maxSize: 2 }), 'size');
    for (const expiresInSeconds of [0, blobLimits.maxExpiresInSeconds + 1])
      await invalid(() => ctx.store.presignDownload(key, { expiresInSeconds }), `expiry ${expiresInSeconds}`);
    await invalid(
      () =>
        ctx.store.createMultipartUpload({
          key,
          contentType: 'a/b',
          size: 10 * MiB,
          maxSize: 10 * MiB,
          partSize: MiB,
        }),
      'part size',
    );
    await invalid(() => ctx.store.readHead(key, 0), 'head 0');
    await invalid(() => ctx.store.readHead(key, blobLimits.maxHeadBytes + 1), 'head too long');
    await invalid(() => ctx.store.abortStaleUploads(-1), 'age');
  });
};
