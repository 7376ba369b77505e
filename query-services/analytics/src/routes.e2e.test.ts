import { webcrypto } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { analyticsSchema } from '@lectern/analytics-projection-events/schema';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { accessTokenIssuer } from '@lectern/infra/auth/tokens';
import { createHttpApp } from '@lectern/infra/http/app';
import { tokenVerifier } from '@lectern/infra/http/auth';
import { createLogger } from '@lectern/infra/runtime/logger';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { analyticsReportResult } from '@lectern/schemas/analytics/reports-api';
import { expectedDau, expectedFunnel, FUNNEL_STEPS, generateFixture } from './fixtures.ts';
import { analyticsReports } from './reports.ts';
import { analyticsReportRoutes } from './routes.ts';

/*
 * The report route over HTTP: the real HTTP kit, the real token verifier
 * (an Ed25519 key made for the run, held in memory instead of identity's
 * database) and chDB holding the generated events.
 */

const fixture = generateFixture({ users: 30 });
const dir = await mkdtemp(join(tmpdir(), 'lectern-report-routes-'));
const store = chdbStore({ path: join(dir, 'chdb'), database: 'reports_http' });
await store.ensureSchema(analyticsSchema(store.database));
for (const rows of fixture.inserts) await store.insert('events', rows);

const issuer = 'https://lectern.test/reports';
const audience = 'lectern-test';
const { publicKey, privateKey } = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, [
  'sign',
  'verify',
])) as unknown as webcrypto.CryptoKeyPair;
const kid = 'reports-test';
const publicJwk = { ...(await webcrypto.subtle.exportKey('jwk', publicKey)), kid, alg: 'EdDSA', use: 'sig' };
const ring: KeyRing = {
  active: async () => ({ kid, alg: 'EdDSA', privateKey, publicJwk }),
  jwks: async () => ({ keys: [publicJwk] }),
  rotate: async () => kid,
  getKey: async () => publicKey,
};
const tokens = accessTokenIssuer(ring, {
  issuer,
  audience,
  ttlSeconds: 600,
  clock: { now: () => new Date() },
});
const token = async (...roles: string[]) => (await tokens.sign({ sub: webcrypto.randomUUID(), roles })).token;

const { app, finish } = createHttpApp({
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics(),
  readiness: [],
});
app.use(
  analyticsReportRoutes({ store, verify: tokenVerifier({ issuer, audience, jwks: { keys: [publicJwk] } }) }),
);
finish();
const server = app.listen(0, '127.0.0.1');
await new Promise<void>((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

test.after.always(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await store.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const get = async (path: string, bearer?: string) => {
  const res = await fetch(`${base}${path}`, bearer ? { headers: { authorization: `Bearer ${bearer}` } } : {});
  return { res, body: (await res.json()) as Record<string, any> };
};

const range = `from=${fixture.first}&to=${fixture.last}`;

test('an analyst and an admin read a report, shaped as documented', async (t) => {
  for (const role of ['analyst', 'admin']) {
    const { res, body } = await get(`/api/analytics/reports/dau?${range}`, await token(role));
    t.is(res.status, 200, role);
    t.regex(res.headers.get('content-type') ?? '', /^application\/json\b/);
    t.is(res.headers.get('cache-control'), 'private, no-store');
    const params = { from: fixture.first, to: fixture.last };
    t.deepEqual(body, {
      report: 'dau',
      params,
      columns: analyticsReports.dau.columns,
      rows: expectedDau(fixture.events, params),
    });
    const documented = analyticsReportResult(body);
    t.deepEqual(documented.ok ? [] : documented.issues, [], 'matches the documented schema');
  }
});

test('a funnel with its steps and window in the query string', async (t) => {
  const q = `${range}&steps=${FUNNEL_STEPS.join(',')}&window=600&source=web&source=ios`;
  const { res, body } = await get(`/api/analytics/reports/funnel?${q}`, await token('analyst'));
  t.is(res.status, 200, JSON.stringify(body));
  const params = {
    from: fixture.first,
    to: fixture.last,
    steps: [...FUNNEL_STEPS],
    window: 600,
    source: ['web', 'ios'],
  };
  t.deepEqual(body.params, params);
  t.deepEqual(body.rows, expectedFunnel(fixture.events, params));
  t.true((body.rows as { users: number }[])[0]!.users > 0);
});

test('without a token 401; a learner or an author 403', async (t) => {
  const anonymous = await get(`/api/analytics/reports/dau?${range}`);
  t.is(anonymous.res.status, 401);
  t.is(anonymous.body.code, 'token_missing');
  t.is(anonymous.res.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  const forged = await get(`/api/analytics/reports/dau?${range}`, 'not.a.token');
  t.is(forged.res.status, 401);
  for (const roles of [['learner'], ['author'], []]) {
    const { res, body } = await get(`/api/analytics/reports/dau?${range}`, await token(...roles));
    t.is(res.status, 403, roles.join());
    t.is(body.code, 'forbidden');
  }
  // Who may not read a report learns nothing about which reports exist.
  const probing = await get('/api/analytics/reports/nope', await token('learner'));
  t.is(probing.res.status, 403);
});

test('an unknown report is 404', async (t) => {
  for (const name of ['nope', 'constructor', '__proto__']) {
    const { res, body } = await get(`/api/analytics/reports/${name}?${range}`, await token('analyst'));
    t.is(res.status, 404, name);
    t.is(body.code, 'unknown_report', name);
  }
});

test('bad parameters are 400 with a pointer to each', async (t) => {
  const analyst = await token('analyst');
  const cases: [string, string, { path: string; message: string }[]][] = [
    [
      'dau',
      '',
      [
        { path: '/from', message: 'is required' },
        { path: '/to', message: 'is required' },
      ],
    ],
    [
      'dau',
      'from=2024-02-30&to=2024-03-01',
      [{ path: '/from', message: 'must be a day written YYYY-MM-DD' }],
    ],
    [
      'wau',
      'from=2023-01-01&to=2024-12-31',
      [{ path: '/to', message: 'must be at most 366 days after from, counting both' }],
    ],
    ['mau', `${range}&region=eu`, [{ path: '/region', message: 'is not a parameter of this report' }]],
    ['funnel', `${range}&steps=a`, [{ path: '/steps', message: 'must have at least 2 values' }]],
    [
      'retention',
      `${range}&days=1,400`,
      [{ path: '/days/1', message: 'must be a whole number from 1 to 365' }],
    ],
    ['dau', `${range}&from=2024-01-20`, [{ path: '/from', message: 'must be given once' }]],
  ];
  for (const [name, query, errors] of cases) {
    const { res, body } = await get(`/api/analytics/reports/${name}?${query}`, analyst);
    t.is(res.status, 400, `${name}?${query}`);
    t.is(body.code, 'validation_failed');
    t.deepEqual(body.errors, errors, `${name}?${query}`);
  }
});

test('an analytics database that does not answer is 503, not a 500', async (t) => {
  // A real ClickHouse adapter pointed at a port nothing listens on.
  const unreachable = clickhouseStore({ url: 'http://127.0.0.1:9/lectern', requestTimeoutMs: 2_000 });
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
  });
  app.use(
    analyticsReportRoutes({
      store: unreachable,
      verify: tokenVerifier({ issuer, audience, jwks: { keys: [publicJwk] } }),
    }),
  );
  finish();
  const down = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => down.once('listening', resolve));
  try {
    const res = await fetch(
      `http://127.0.0.1:${(down.address() as AddressInfo).port}/api/analytics/reports/dau?${range}`,
      {
        headers: { authorization: `Bearer ${await token('analyst')}` },
      },
    );
    t.is(res.status, 503);
    t.is(((await res.json()) as { code: string }).code, 'analytics_unavailable');
  } finally {
    down.closeAllConnections();
    await new Promise<void>((resolve) => down.close(() => resolve()));
    await unreachable.close();
  }
});
