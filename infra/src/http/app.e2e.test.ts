import { request, type IncomingHttpHeaders } from 'node:http';
import { Router } from 'express';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { Problem } from '../runtime/errors.ts';
import { createLogger } from '../runtime/logger.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { createHttpApp, jsonBody } from './app.ts';

/** The headers every response must carry, whoever answered it. */
const expected: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none'",
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'x-frame-options': 'DENY',
};

const start = async () => {
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
  });
  // Like the Idempotency-Key claim: middleware that runs before every route and may answer itself.
  app.use((req, res, next) => (req.get('x-claim') ? void res.status(422).end() : next()));
  app.post('/echo', (req, res) => {
    res.json(req.body);
  });
  app.post('/echo-read', (req, res) => {
    res.json(jsonBody(req));
  });
  // One path served by two routers, as a command router and a query router serve /api/profile.
  const writes = Router();
  writes.put('/two', (_req, res) => void res.json({}));
  const reads = Router();
  reads.get('/two', (_req, res) => void res.json({}));
  app.use(writes, reads);
  app.get('/invalid', () => {
    throw new Problem('validation', 'validation_failed', 'Nope.');
  });
  app.get('/limited', () => {
    throw new Problem('rate_limited', 'rate_limited', 'Slow down.', { retryAfterSeconds: 7 });
  });
  app.get('/bug', () => {
    throw new Error('a bug');
  });
  finish();
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

let started: ReturnType<typeof start> | undefined;
const server = () => (started ??= start());
test.after.always(async () => {
  if (started) await (await started).close();
});

const cases: ReadonlyArray<
  Readonly<{ name: string; status: number; request: (base: string) => Promise<Response> }>
> = [
  { name: '/healthz', status: 200, request: (b) => fetch(`${b}/healthz`) },
  { name: 'a 404', status: 404, request: (b) => fetch(`${b}/no/such/route`) },
  {
    name: 'a 400 from malformed JSON',
    status: 400,
    request: (b) =>
      fetch(`${b}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
  },
  { name: 'a 400 Problem', status: 400, request: (b) => fetch(`${b}/invalid`) },
  { name: 'a 429 Problem', status: 429, request: (b) => fetch(`${b}/limited`) },
  { name: 'a 500', status: 500, request: (b) => fetch(`${b}/bug`) },
];

for (const c of cases) {
  test(`security headers on ${c.name}`, async (t) => {
    const { base } = await server();
    const res = await c.request(base);
    await res.arrayBuffer();
    t.is(res.status, c.status);
    for (const [name, value] of Object.entries(expected)) t.is(res.headers.get(name), value, name);
    t.is(res.headers.get('x-powered-by'), null, 'x-powered-by absent');
    if (c.status >= 400) t.is(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  });
}

test('HSTS lasts at least a year and covers subdomains', async (t) => {
  const { base } = await server();
  const res = await fetch(`${base}/healthz`);
  const hsts = res.headers.get('strict-transport-security') ?? '';
  const maxAge = Number(/max-age=(\d+)/.exec(hsts)?.[1]);
  t.true(maxAge >= 365 * 24 * 3600, hsts);
  t.regex(hsts, /includeSubDomains/);
});

test('the CSP allows nothing beyond what a JSON API needs', async (t) => {
  const { base } = await server();
  const res = await fetch(`${base}/healthz`);
  const directives = (res.headers.get('content-security-policy') ?? '')
    .split(';')
    .map((d) => d.trim())
    .filter(Boolean)
    .sort();
  t.deepEqual(directives, ["default-src 'none'", "frame-ancestors 'none'"]);
});

test('a Problem with retryAfterSeconds keeps its Retry-After beside the edge headers', async (t) => {
  const { base } = await server();
  const res = await fetch(`${base}/limited`);
  t.is(res.headers.get('retry-after'), '7');
  t.is(((await res.json()) as { code: string }).code, 'rate_limited');
});

/** A request by node:http, which sends methods that fetch refuses to (TRACE). */
const raw = (url: string, method: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    request(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });

test('a method a path does not take is 405 with Allow, an unknown path 404', async (t) => {
  const { base } = await server();
  for (const method of ['TRACE', 'PUT', 'DELETE', 'PATCH']) {
    const res = await raw(`${base}/echo`, method, { 'x-claim': 'k' });
    t.is(res.status, 405, method);
    t.is(res.headers.allow, 'POST', method);
    t.like(JSON.parse(res.body), { status: 405, code: 'method_not_allowed' });
  }
  const get = await fetch(`${base}/invalid`, { method: 'POST' });
  t.is(get.status, 405);
  t.is(get.headers.get('allow'), 'GET, HEAD');
  await get.arrayBuffer();
  t.is((await raw(`${base}/nowhere`, 'TRACE')).status, 404);
  // OPTIONS names every method of the path, wherever its routes were mounted.
  const options = await raw(`${base}/echo`, 'OPTIONS');
  t.is(options.status, 204);
  t.is(options.headers.allow, 'POST, OPTIONS');
  t.is((await raw(`${base}/two`, 'OPTIONS')).headers.allow, 'GET, HEAD, PUT, OPTIONS');
  const trace = await raw(`${base}/two`, 'DELETE');
  t.is(trace.status, 405);
  t.is(trace.headers.allow, 'GET, HEAD, PUT');
});

test('a JSON body with bad text or a prototype key is 400 with pointers wherever it is read', async (t) => {
  const { base } = await server();
  for (const [text, pointer] of [
    ['{"__proto__": {"admin": true}}', '/__proto__'],
    ['{"a": [{"constructor": 1}]}', '/a/0/constructor'],
    ['{"a": "x\\u0000"}', '/a'],
    ['{"a": {"b": "\\ud800"}}', '/a/b'],
  ] as const) {
    const res = await fetch(`${base}/echo-read`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    t.is(res.status, 400, text);
    const body = (await res.json()) as { errors?: { path: string }[] };
    t.deepEqual(
      body.errors?.map((e) => e.path),
      [pointer],
      text,
    );
  }
});
