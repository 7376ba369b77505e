import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { waitUntil } from '@lectern/infra/testing/wait';
import { openApiPath, type ApiOperation } from '@lectern/schemas/openapi';
import { loadConfig } from '../src/config.ts';
import { apiContexts, apiDocument } from '../src/openapi.ts';
import { startLectern, type Lectern } from '../src/server.ts';

/**
 * The served document against the live app: every API route the app mounts
 * is documented with its method, every documented operation is mounted, and
 * real answers match the documented response schemas.
 */
let lectern: Lectern;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lectern-openapi-'));
  lectern = await startLectern(loadConfig({ PORT: '0', LECTERN_DATA_DIR: dir, LOG_LEVEL: 'silent' }));
});
test.after.always(async () => {
  await lectern?.stop();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const fetchDocument = async () => {
  const res = await fetch(`${lectern.url}/openapi.json`);
  return { res, doc: (await res.json()) as ReturnType<typeof apiDocument> };
};

test('GET /openapi.json serves the combined document as JSON', async (t) => {
  const { res, doc } = await fetchDocument();
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^application\/json\b/);
  t.is(doc.openapi, '3.1.0');
  t.deepEqual(doc, JSON.parse(JSON.stringify(apiDocument())) as unknown);
});

test('every mounted API route is documented, and every documented operation is mounted', async (t) => {
  const { doc } = await fetchDocument();
  const mounted = new Set(
    lectern
      .routes()
      .filter((r) => r.path.startsWith('/api/') || r.path.startsWith('/.well-known/'))
      .map((r) => `${r.method.toUpperCase()} ${openApiPath(r.path).path}`),
  );
  const documented = new Set(
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
  t.true(mounted.size >= 10, 'the walk found the routes');
  // A route with a parameter may be documented once per value when each value takes other
  // parameters (`/api/analytics/reports/{name}` as `/dau`, `/funnel`…): a template covers them.
  const template = (route: string) =>
    new RegExp(`^${route.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`);
  const covers = (routes: Set<string>, route: string) =>
    routes.has(route) || [...routes].some((r) => template(r).test(route));
  t.deepEqual(
    {
      undocumented: [...mounted]
        .filter((r) => !documented.has(r) && ![...documented].some((d) => template(r).test(d)))
        .sort(),
      notMounted: [...documented].filter((r) => !covers(mounted, r)).sort(),
    },
    { undocumented: [], notMounted: [] },
  );
});

test.serial('answers match the documented response schemas', async (t) => {
  const token = async (roles: string[]) =>
    (await lectern.signAccessToken({ sub: randomUUID(), roles })).token;
  const [me, admin] = await Promise.all([token(['learner']), token(['admin'])]);
  const operations = new Map<string, ApiOperation>(
    apiContexts.flatMap((c) => c.operations).map((op) => [op.operationId, op]),
  );
  const checked = new Set<string>();

  /** Calls the operation and checks the status and body against what it documents. */
  const call = async (
    operationId: string,
    opts: { as: string; path?: string; body?: unknown; headers?: Record<string, string> },
  ) => {
    const op = operations.get(operationId)!;
    const res = await fetch(`${lectern.url}${opts.path ?? op.path}`, {
      method: op.method.toUpperCase(),
      headers: {
        authorization: `Bearer ${opts.as}`,
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...opts.headers,
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    // A streamed answer (JSON lines) is read line by line, and its media type must be the documented one.
    const type = res.headers.get('content-type') ?? '';
    const lines = type.startsWith('application/x-ndjson');
    const body = lines
      ? (await res.text())
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as unknown)
      : ((await res.json()) as unknown);
    const documented = op.responses[res.status];
    t.truthy(documented, `${operationId} answered ${res.status}: ${JSON.stringify(body)}`);
    if (lines) t.truthy(documented?.content?.['application/x-ndjson'], `${operationId} answered ${type}`);
    const r = documented?.body?.(body);
    t.deepEqual(r && !r.ok ? r.issues : [], [], `${operationId} ${res.status}: ${JSON.stringify(body)}`);
    checked.add(operationId);
    return { res, body: body as Record<string, unknown> };
  };
  /** Lists are read models without consistency tokens: poll until the write shows. */
  const eventually = (check: () => Promise<boolean>) => waitUntil('the write to show', check, 120_000, 50);

  const put = await call('updateProfile', {
    as: me,
    body: { displayName: 'Ada', bio: null, socialLinks: { github: 'https://github.com/ada' } },
  });
  const consistency = { 'x-consistency-token': put.res.headers.get('x-consistency-token') ?? '' };
  const profile = await call('getProfile', { as: me, headers: consistency });
  t.like(profile.body, { displayName: 'Ada', socialLinks: { github: 'https://github.com/ada' } });
  const history = await call('listProfileHistory', { as: me, headers: consistency });
  t.true((history.body.items as unknown[]).length > 0);

  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.alloc(100),
  ]);
  const presigned = await call('presignAvatarUpload', {
    as: me,
    body: { contentType: 'image/png', size: png.length },
  });
  const { avatarId, upload } = presigned.body as {
    avatarId: string;
    upload: { method: string; url: string; headers: Record<string, string> };
  };
  t.is((await fetch(upload.url, { method: upload.method, headers: upload.headers, body: png })).status, 200);
  await call('finalizeAvatar', { as: me, body: { avatarId } });

  const code = `level-${randomUUID().slice(0, 8)}`;
  await call('defineExperienceLevel', { as: admin, body: { code, label: 'Level', rank: 3 } });
  await call('changeExperienceLevel', {
    as: admin,
    path: `/api/admin/experience-levels/${code}`,
    body: { rank: 4 },
  });
  await eventually(async () => {
    const list = await call('listExperienceLevels', { as: me });
    return (list.body.items as { code: string; rank: number }[]).some((l) => l.code === code && l.rank === 4);
  });
  await call('retireExperienceLevel', { as: admin, path: `/api/admin/experience-levels/${code}` });
  await eventually(async () => {
    const all = await call('adminListExperienceLevels', { as: admin });
    return (all.body.items as { code: string; status: string }[]).some(
      (l) => l.code === code && l.status === 'retired',
    );
  });

  const idle = await call('listProjections', { as: admin });
  t.deepEqual(
    (idle.body.items as { work: unknown }[]).filter((i) => i.work !== null),
    [],
    'no work in flight',
  );
  await call('rebuildProjection', { as: admin, path: '/api/admin/projections/experience_levels/rebuild' });
  const diffed = await call('diffProjection', {
    as: admin,
    path: '/api/admin/projections/experience_levels/diff',
  });
  t.like(diffed.body, { projection: 'experience_levels', verification: { matches: true }, rows: [] });
  const at = (await lectern.store.headPosition())!;
  const diffedAt = await call('diffProjection', {
    as: admin,
    path: `/api/admin/projections/experience_levels/diff?at=${at}`,
  });
  t.like(diffedAt.body, { verification: { matches: true, at }, rows: [] });
  const explained = await call('explainRow', {
    as: admin,
    path: `/api/admin/projections/experience_levels/explain?key=${code}&field=doc.rank`,
  });
  t.like(explained.body, { field: 'doc.rank', row: { key: { id: code }, matchesLive: true } });
  t.deepEqual(
    (explained.body.row as { steps: { op: string }[] }).steps.map((s) => s.op),
    ['insert', 'update'],
    'defined, then re-ranked; retiring leaves the rank',
  );
  const audited = await call('auditProjection', {
    as: admin,
    path: '/api/admin/projections/experience_levels/audit',
  });
  t.like(audited.body, {
    projection: 'experience_levels',
    findings: 0,
    skipped: [],
    rows: { matches: true },
  });
  const dlqs = await call('listDeadLetterTopics', { as: admin });
  const dlq = (dlqs.body.items as { topic: string }[])[0]!.topic;
  await call('showDeadLetters', { as: admin, path: `/api/admin/dead-letters/${dlq}` });
  await call('redriveDeadLetters', { as: admin, path: `/api/admin/dead-letters/${dlq}/redrive` });
  const correlated = await call('correlatedEvents', {
    as: admin,
    path: `/api/admin/correlations/${put.res.headers.get('x-correlation-id')}/events`,
  });
  const streamId = (correlated.body.items as { streamId: string }[])[0]!.streamId;
  await call('streamHistory', { as: admin, path: `/api/admin/streams/${streamId}/events` });
  await call('streamStateAsOf', { as: admin, path: `/api/admin/streams/${streamId}/state?revision=0` });
  const exported = await call('exportEvents', {
    as: admin,
    path: `/api/admin/events/export?stream=${streamId}`,
  });
  t.true((exported.body as unknown as unknown[]).length > 0);
  const position = (correlated.body.items as { position: number }[])[0]!.position;
  await call('republishEvents', { as: admin, body: { from: position, to: position, dryRun: true } });
  // The rebuild, the audit and the redrive above are on record as events of their own, with their admin.
  const actions = new Set<string>();
  await waitUntil('the rebuild, the audit and the redrive to be on record', async () => {
    const onRecord = await call('exportEvents', {
      as: admin,
      path: '/api/admin/events/export?type=operations.AdminActionTaken',
    });
    for (const e of onRecord.body as unknown as { data: { action: string; target: string } }[])
      actions.add(`${e.data.action} ${e.data.target}`);
    return actions.size >= 3;
  });
  t.deepEqual([...actions].sort(), [
    `deadletters.redrive ${dlq}`,
    'projection.audit experience_levels',
    'projection.rebuild experience_levels',
  ]);

  // Profile's and operations' every operation was called (identity's flows check their own).
  const ours = apiContexts.filter((c) => c.name === 'profile' || c.name === 'operations');
  t.deepEqual(
    ours.flatMap((c) => c.operations.map((op) => op.operationId)).filter((id) => !checked.has(id)),
    [],
  );
});

test('an error answer has the documented problem shape', async (t) => {
  const { doc } = await fetchDocument();
  const problem = doc.components.schemas.Problem as { required: string[] };
  const res = await fetch(`${lectern.url}/api/profile`);
  t.is(res.status, 401);
  t.is(res.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  const body = (await res.json()) as Record<string, unknown>;
  for (const key of problem.required) t.not(body[key], undefined, key);
  t.true(
    Object.keys(doc.paths['/api/profile']?.get?.responses ?? {}).includes('401'),
    'the 401 it answered is documented',
  );
});
