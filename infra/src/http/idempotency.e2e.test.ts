import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { sqlIdempotencyStore } from '../idempotency/sql-idempotency.ts';
import type { IdempotencyStore } from '../ports/idempotency-store.ts';
import { Problem } from '../runtime/errors.ts';
import { systemClock } from '../runtime/ids.ts';
import { createLogger } from '../runtime/logger.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { pgliteSql } from '../sql/pglite.ts';
import type { Sql } from '../sql/sql.ts';
import { createHttpApp } from './app.ts';
import type { VerifiedToken } from './auth.ts';
import { idempotency } from './idempotency.ts';

// A token is its subject here: the verifier's own checks are tested in tokens.unit.test.ts.
const verify = async (token: string): Promise<VerifiedToken> => {
  if (!token.startsWith('user-')) throw new Problem('unauthenticated', 'token_invalid', 'No.');
  return { userId: token, roles: ['learner'] };
};

/** A little API with the middleware in front, as a process mounts it. */
const startApp = async (store: IdempotencyStore) => {
  let runs = 0;
  const gates: (() => void)[] = [];
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
  });
  app.use(idempotency({ store, verify, clock: systemClock }));
  app.post('/things', (req, res) => {
    runs++;
    res.setHeader('ETag', `"${runs}"`);
    res.setHeader('X-Consistency-Token', String(1000 + runs));
    res.status(201).json({ run: runs, commandId: req.ctx.commandId, secret: `token-${runs}` });
  });
  app.post('/slow', async (_req, res) => {
    runs++;
    await new Promise<void>((resolve) => gates.push(resolve));
    res.json({ run: runs });
  });
  app.post('/flaky', (req, res) => {
    runs++;
    if (runs === 1) throw new Error('a transient bug');
    if (runs === 2) throw new Problem('rate_limited', 'rate_limited', 'Slow down.', { retryAfterSeconds: 1 });
    res.json({ run: runs });
  });
  app.post('/login', (req, res) => {
    runs++;
    if ((req.body as { password?: string }).password !== 'right')
      throw new Problem('unauthenticated', 'invalid_credentials', 'No.');
    res.json({ run: runs });
  });
  app.delete('/things/:id', (_req, res) => {
    runs++;
    res.status(204).end();
  });
  finish();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    runs: () => runs,
    gates,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

const send = async (
  url: string,
  path: string,
  opts: {
    key?: string;
    body?: unknown;
    token?: string;
    headers?: Record<string, string>;
    method?: string;
  } = {},
) => {
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? 'POST',
    headers: {
      'content-type': 'application/json',
      ...(opts.key ? { 'idempotency-key': opts.key } : {}),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...opts.headers,
    },
    ...(opts.method === 'DELETE' ? {} : { body: JSON.stringify(opts.body ?? {}) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : null };
};

let sql: Promise<Sql> | undefined;
const database = () => (sql ??= pgliteSql(null));
test.after.always(async () => {
  if (sql) await (await sql).close();
});
const fresh = async () => startApp(await sqlIdempotencyStore(await database()));

test('the same request under a key is answered once, and replayed whole (status, body, ETag, consistency token)', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const first = await send(api.url, '/things', {
    key: 'k-replay',
    token: 'user-a',
    body: { a: 1, b: [1, 2] },
  });
  t.is(first.status, 201);
  t.is(first.headers.get('idempotent-replayed'), null);
  // The same body with its keys in another order is the same request.
  const again = await send(api.url, '/things', {
    key: 'k-replay',
    token: 'user-a',
    body: { b: [1, 2], a: 1 },
  });
  t.is(again.status, 201);
  t.is(again.text, first.text);
  t.is(again.headers.get('etag'), first.headers.get('etag'));
  t.is(again.headers.get('x-consistency-token'), first.headers.get('x-consistency-token'));
  t.is(again.headers.get('content-type'), first.headers.get('content-type'));
  t.is(again.headers.get('idempotent-replayed'), 'true');
  t.is(api.runs(), 1, 'decided once');
});

test('a key reused for another request is 422, on another route too; nothing runs', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  t.is((await send(api.url, '/things', { key: 'k-reuse', token: 'user-a', body: { a: 1 } })).status, 201);
  const other = await send(api.url, '/things', { key: 'k-reuse', token: 'user-a', body: { a: 2 } });
  t.is(other.status, 422);
  t.is(other.body.code, 'idempotency_key_reused');
  t.is(other.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const ifMatch = await send(api.url, '/things', {
    key: 'k-reuse',
    token: 'user-a',
    body: { a: 1 },
    headers: { 'if-match': '"3"' },
  });
  t.is(ifMatch.status, 422, 'If-Match is part of the request');
  t.is((await send(api.url, '/things/1', { key: 'k-reuse', token: 'user-a', method: 'DELETE' })).status, 422);
  t.is(api.runs(), 1);
});

test('the same request while the first still runs is 409, then replayed once it finished', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const first = send(api.url, '/slow', { key: 'k-slow', token: 'user-a' });
  // Bounded wait for a condition: the first request is inside its handler.
  for (let i = 0; api.gates.length === 0; i++) {
    if (i > 2000) return t.fail('the first request never arrived');
    await new Promise((r) => setTimeout(r, 5));
  }
  const during = await send(api.url, '/slow', { key: 'k-slow', token: 'user-a' });
  t.is(during.status, 409);
  t.is(during.body.code, 'idempotency_key_in_flight');
  t.is(during.headers.get('retry-after'), '1');
  api.gates.shift()!();
  t.is((await first).status, 200);
  const after = await send(api.url, '/slow', { key: 'k-slow', token: 'user-a' });
  t.is(after.status, 200);
  t.is(after.headers.get('idempotent-replayed'), 'true');
  t.is(api.runs(), 1);
});

test('a 5xx or a 429 frees the key, so the retry runs; the answer that stands is kept', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  t.is((await send(api.url, '/flaky', { key: 'k-flaky', token: 'user-a' })).status, 500);
  t.is((await send(api.url, '/flaky', { key: 'k-flaky', token: 'user-a' })).status, 429);
  const ok = await send(api.url, '/flaky', { key: 'k-flaky', token: 'user-a' });
  t.is(ok.status, 200);
  const replay = await send(api.url, '/flaky', { key: 'k-flaky', token: 'user-a' });
  t.deepEqual(replay.body, { run: 3 });
  t.is(api.runs(), 3);
});

test('callers never meet on a key: each subject, and each anonymous client, has its own', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const a = await send(api.url, '/things', { key: 'shared', token: 'user-a', body: { x: 1 } });
  const b = await send(api.url, '/things', { key: 'shared', token: 'user-b', body: { x: 2 } });
  t.is(b.status, 201, 'another subject is not refused');
  t.not(b.body.commandId, a.body.commandId, 'nor does it get the same command id');
  const anon1 = await send(api.url, '/things', {
    key: 'shared',
    headers: { 'x-forwarded-for': '203.0.113.1' },
  });
  const anon2 = await send(api.url, '/things', {
    key: 'shared',
    headers: { 'x-forwarded-for': '203.0.113.2' },
  });
  t.is(anon1.status, 201);
  t.is(anon2.status, 201);
  t.not(anon1.body.commandId, anon2.body.commandId);
  // A token that does not verify is an anonymous client, not its claimed subject.
  const forged = await send(api.url, '/things', {
    key: 'shared',
    token: 'forged-user-a',
    headers: { 'x-forwarded-for': '203.0.113.3' },
  });
  t.is(forged.status, 201);
  t.is(forged.headers.get('idempotent-replayed'), null);
  t.is(api.runs(), 5);
});

test('without a key every request is its own command; X-Request-Id does not make one', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const headers = { 'x-request-id': 'same-request-id' };
  const one = await send(api.url, '/things', { token: 'user-a', headers });
  const two = await send(api.url, '/things', { token: 'user-a', headers });
  t.not(one.body.commandId, two.body.commandId);
  t.is(api.runs(), 2);
});

test('a malformed key is a 400, before anything runs', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const r = await send(api.url, '/things', { key: 'no spaces/or slashes', token: 'user-a' });
  t.is(r.status, 400);
  t.is(r.body.code, 'invalid_idempotency_key');
  t.is(api.runs(), 0);
});

test('answers are replayed by another process and after a restart, and are not readable in the table', async (t) => {
  const db = await database();
  const one = await startApp(await sqlIdempotencyStore(db));
  const first = await send(one.url, '/things', { key: 'k-restart', token: 'user-r', body: { n: 1 } });
  await one.close();
  const two = await startApp(await sqlIdempotencyStore(db));
  t.teardown(two.close);
  const again = await send(two.url, '/things', { key: 'k-restart', token: 'user-r', body: { n: 1 } });
  t.is(again.text, first.text);
  t.is(two.runs(), 0, 'the second process decided nothing');
  const [row] = await db.query<{ body: string }>(`select body from idempotency_keys where key = 'k-restart'`);
  t.false(row!.body.includes('token-1'), 'a token in an answer is not stored in the clear');
});

test('a 401 identifies no caller, so it is not kept: the same or another request under the key runs', async (t) => {
  const api = await fresh();
  t.teardown(api.close);
  const ip = { 'x-forwarded-for': '203.0.113.9' };
  t.is(
    (await send(api.url, '/login', { key: 'k-401', body: { password: 'wrong' }, headers: ip })).status,
    401,
  );
  t.is(
    (await send(api.url, '/login', { key: 'k-401', body: { password: 'wrong' }, headers: ip })).status,
    401,
  );
  const right = await send(api.url, '/login', { key: 'k-401', body: { password: 'right' }, headers: ip });
  t.is(right.status, 200);
  t.is(api.runs(), 3, 'each attempt ran (and, in identity, was counted)');
  t.is(
    (await send(api.url, '/login', { key: 'k-401', body: { password: 'right' }, headers: ip })).headers.get(
      'idempotent-replayed',
    ),
    'true',
  );
});
