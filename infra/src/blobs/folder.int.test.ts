import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import express, { type Router } from 'express';
import { waitUntil } from '../testing/wait.ts';
import { blobStoreContract, type Refusal } from './contract.ts';
import { ensureSigningKey, openFolderStore } from './folder-store.ts';
import type { Clock } from '../runtime/ids.ts';

/** The router the folder store answers through, mounted in a small app on an ephemeral port. */
const serve = async (clock: Clock) => {
  const root = await mkdtemp(join(tmpdir(), 'lectern-blobs-'));
  // The store needs the server's port for its URLs, so the router is mounted once both exist.
  const mounted: { router?: Router } = {};
  const app = express();
  app.use('/blobs', (req, res, next) => (mounted.router ? mounted.router(req, res, next) : next()));
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const opened = await openFolderStore({
    root,
    signingKey: randomBytes(32),
    baseUrl: `${origin}/blobs`,
    clock,
  });
  mounted.router = opened.router;
  return {
    root,
    origin,
    store: opened.store,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
};

const expected: Readonly<Record<Refusal, [number, string]>> = {
  too_large: [413, 'payload_too_large'],
  too_small: [400, 'upload_size_mismatch'],
  wrong_type: [415, 'unsupported_media_type'],
  expired: [403, 'signature_expired'],
  tampered: [403, 'signature_invalid'],
  no_upload: [404, 'upload_not_found'],
};

blobStoreContract(test, 'folder store', async (clock) => {
  const server = await serve(clock);
  return {
    store: server.store,
    refusedByStorage(t, { res, body }, reason) {
      // The router of this store answered, with its problem document.
      t.is(new URL(res.url).origin, server.origin);
      t.is(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const [status, code] = expected[reason];
      t.is(res.status, status, body.toString());
      t.is((JSON.parse(body.toString()) as { code?: string }).code, code);
    },
    cleanup: () => server.close(),
  };
});

test('folder store: an upload cut off midway leaves no object and no temporary file', async (t) => {
  const clock: Clock = { now: () => new Date() };
  const server = await serve(clock);
  t.teardown(() => server.close());
  const key = 'cut/off';
  const put = await server.store.presignUpload({
    key,
    contentType: 'video/mp4',
    size: 4 * 1024 * 1024,
    maxSize: 4 * 1024 * 1024,
  });
  // 1. Half the body, then the client goes away.
  const url = new URL(put.url);
  const req = http.request(url, {
    method: 'PUT',
    headers: { 'content-type': 'video/mp4', 'content-length': String(4 * 1024 * 1024) },
  });
  req.on('error', () => {});
  req.write(randomBytes(2 * 1024 * 1024));
  await waitUntil(
    'the router to have started writing',
    async () => (await readdir(join(server.root, 'tmp'))).length > 0,
  );
  req.destroy();
  // 2. The router notices, removes what it wrote, and commits nothing.
  await waitUntil(
    'the temporary file to be removed',
    async () => (await readdir(join(server.root, 'tmp'))).length === 0,
  );
  await t.throwsAsync(server.store.stat(key));
  t.deepEqual(await readdir(join(server.root, 'objects')), []);
});

test('folder store: the router must come before a body parser', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lectern-blobs-'));
  const { store, router } = await openFolderStore({
    root,
    signingKey: randomBytes(32),
    baseUrl: 'http://127.0.0.1:1/blobs',
  });
  const app = express();
  app.use(express.json());
  app.use('/blobs', router);
  const errors: unknown[] = [];
  app.use((e: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    errors.push(e);
    res.status(500).end();
  });
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(root, { recursive: true, force: true });
  });
  const put = await store.presignUpload({
    key: 'a.json',
    contentType: 'application/json',
    size: 2,
    maxSize: 2,
  });
  const url = new URL(put.url);
  const port = (server.address() as AddressInfo).port;
  const res = await fetch(`http://127.0.0.1:${port}${url.pathname}${url.search}`, {
    method: 'PUT',
    headers: put.headers,
    body: '{}',
  });
  t.is(res.status, 500);
  t.regex(String(errors[0]), /before any body parser/);
});

test('folder store: the signing key is made once, private, and then kept', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lectern-blobs-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const path = join(root, 'keys', 'signing.key');
  const [a, b] = await Promise.all([ensureSigningKey(path), ensureSigningKey(path)]);
  t.is(a.length, 32);
  t.deepEqual(a, b);
  t.deepEqual(await ensureSigningKey(path), a);
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.deepEqual(await readdir(join(root, 'keys')), ['signing.key']);
});
