import { randomBytes, randomUUID } from 'node:crypto';
import test, { type TestFn } from 'ava';
import type { Lectern } from '../src/server.ts';
import { onEveryProfile, sharedLectern, type ProfileSetup } from './testing.ts';

// The blob store as the server wires it: on the embedded profile a folder
// whose URLs the server signs and serves at /blobs (ahead of its JSON
// parser); with S3_ENDPOINT, MinIO. Either way a client talks to the URL, and
// the store itself holds the upload to its size and type.
const flow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern: () => Promise<Lectern> = sharedLectern(test, setup);

  test(`${name}: a presigned upload stores the bytes; a presigned download returns them`, async (t) => {
    const { blobs } = await lectern();
    const key = `e2e/${randomUUID()}`;
    const bytes = randomBytes(64 * 1024);
    const put = await blobs.presignUpload({
      key,
      contentType: 'image/png',
      size: bytes.length,
      maxSize: 5_000_000,
    });
    const stored = await fetch(put.url, { method: put.method, headers: put.headers, body: bytes });
    t.is(stored.status, 200, await stored.text());
    t.like(await blobs.stat(key), { size: bytes.length, contentType: 'image/png' });
    const get = await blobs.presignDownload(key);
    const read = await fetch(get.url);
    t.is(read.status, 200);
    t.deepEqual(Buffer.from(await read.arrayBuffer()), bytes);
    await blobs.delete(key);
  });

  test(`${name}: the store refuses more bytes than signed, and another type`, async (t) => {
    const { blobs } = await lectern();
    const key = `e2e/${randomUUID()}`;
    const put = await blobs.presignUpload({ key, contentType: 'image/png', size: 1000, maxSize: 5_000_000 });
    const tooLarge = await fetch(put.url, {
      method: put.method,
      headers: put.headers,
      body: randomBytes(1001),
    });
    t.true(tooLarge.status >= 400 && tooLarge.status < 500, `too large: ${tooLarge.status}`);
    const otherType = await fetch(put.url, {
      method: put.method,
      headers: { ...put.headers, 'content-type': 'text/html' },
      body: randomBytes(1000),
    });
    t.true(otherType.status >= 400 && otherType.status < 500, `other type: ${otherType.status}`);
    await t.throwsAsync(blobs.stat(key), { message: /no object|not found/i });
  });
};

onEveryProfile(test, flow, { blobs: true });
