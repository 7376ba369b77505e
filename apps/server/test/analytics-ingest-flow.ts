import { randomBytes, randomUUID } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import { ingestKeyDigest } from '@lectern/analytics-commands';
import { ingestAccepted } from '@lectern/schemas/analytics/api';
import { ch } from '@lectern/infra/analytics/sql';
import type { EventRow } from '@lectern/analytics-projection-events/schema';
import { jsonClient, problem } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/** The ingest key the flow's server is configured with (by its digest), and one it is not. */
export const INGEST_KEY = `ik_${randomBytes(24).toString('base64url')}`;
export const INGEST_KEY_DIGESTS = `${ingestKeyDigest(`ik_${randomUUID()}`)},${ingestKeyDigest(INGEST_KEY)}`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Row = Pick<
  EventRow,
  'event_id' | 'kind' | 'type' | 'user_id' | 'source' | 'occurred_at' | 'payload' | 'stream_id'
>;

/**
 * Ingest end to end over HTTP: batches in, rows out of the analytics store
 * (read through `lectern.analytics`, as reports read it). Registered once
 * per profile. Every test sends with a `source` of its own and reads back
 * only that source, so tests share one server.
 */
export const analyticsIngestFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const ctx = async () => ({ lectern: await lectern() });
  const http = jsonClient(async () => (await ctx()).lectern.url);
  const token = async (roles: string[] = ['learner'], sub: string = randomUUID()) =>
    ({ sub, token: (await (await ctx()).lectern.signAccessToken({ sub, roles })).token }) as const;
  const newSource = () => `e2e-${randomBytes(4).toString('hex')}`;
  const ingest = (
    events: unknown[],
    opts: { token?: string; key?: string; headers?: Record<string, string>; raw?: string } = {},
  ) =>
    http('POST', '/api/analytics/ingest', {
      ...(opts.token ? { token: opts.token } : {}),
      headers: { ...(opts.key === undefined ? {} : { 'x-ingest-key': opts.key }), ...opts.headers },
      ...(opts.raw === undefined ? { body: { events } } : { raw: opts.raw }),
    });
  const event = (source: string, over: Record<string, unknown> = {}) => ({
    type: 'lesson.completed',
    time: Date.now() - 60_000,
    source,
    payload: { courseId: 'c-1' },
    ...over,
  });

  /** The rows of one source, as a report would count them: distinct ids, and all copies. */
  const rowsOf = async (source: string) => {
    const analytics = (await ctx()).lectern.analytics!;
    const rows = await analytics.query<Row>(
      ch`SELECT event_id, kind, type, user_id, source, occurred_at, payload, stream_id
         FROM ${analytics.table('events')} WHERE source = ${source} ORDER BY occurred_at, event_id`,
    );
    return { rows, ids: new Set(rows.map((r) => r.event_id)) };
  };
  const waitForRows = async (source: string, count: number, timeoutMs = 300_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await rowsOf(source);
      if (found.ids.size >= count || Date.now() > deadline) return found;
      await sleep(200);
    }
  };

  const it = (title: string, body: (t: ExecutionContext) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      await body(t);
    });

  it('a batch from a signed-in user is produced to the log and lands in events', async (t) => {
    const source = newSource();
    const me = await token();
    const id = randomUUID();
    const at = Date.now() - 3_600_000;
    const iso = new Date(at).toISOString().replace('Z', '+00:00');
    const res = await ingest(
      [
        event(source, {
          id,
          type: 'course.viewed',
          time: iso,
          payload: { courseId: 'c-42', note: "it's \\ ok" },
        }),
        event(source, { time: at + 1, userId: me.sub }),
        event(source, { time: at + 2, payload: {} }),
      ],
      { token: me.token },
    );
    t.is(res.status, 202, JSON.stringify(res.body));
    t.deepEqual(res.body, { accepted: 3 });
    t.true(ingestAccepted(res.body).ok, 'the answer is as documented');

    const { rows, ids } = await waitForRows(source, 3);
    t.is(ids.size, 3);
    t.true(ids.has(id), "the client's id is the event id");
    t.deepEqual(
      rows.map((r) => ({ ...r, event_id: r.event_id === id ? 'client' : 'derived' })),
      [
        {
          event_id: 'client',
          kind: 'telemetry',
          type: 'course.viewed',
          user_id: me.sub,
          source,
          occurred_at: at,
          payload: JSON.stringify({ courseId: 'c-42', note: "it's \\ ok" }),
          stream_id: '',
        },
        {
          event_id: 'derived',
          kind: 'telemetry',
          type: 'lesson.completed',
          user_id: me.sub,
          source,
          occurred_at: at + 1,
          payload: '{"courseId":"c-1"}',
          stream_id: '',
        },
        {
          event_id: 'derived',
          kind: 'telemetry',
          type: 'lesson.completed',
          user_id: me.sub,
          source,
          occurred_at: at + 2,
          payload: '{}',
          stream_id: '',
        },
      ],
    );
  });

  it('credentials: none 401, bad token 401, ingest key 202, wrong key 401 even beside a good token', async (t) => {
    const source = newSource();
    const me = await token();
    const none = await ingest([event(source)]);
    t.is(none.status, 401);
    t.is(none.body?.code, 'token_missing');
    t.is(none.headers.get('content-type')?.split(';')[0], 'application/problem+json');
    const forged = await ingest([event(source)], { token: `${me.token.slice(0, -4)}AAAA` });
    t.is(forged.status, 401);
    t.is(forged.body?.code, 'token_invalid');

    const someone = randomUUID();
    const byKey = await ingest([event(source), event(source, { userId: someone })], { key: INGEST_KEY });
    t.is(byKey.status, 202, JSON.stringify(byKey.body));
    t.deepEqual(byKey.body, { accepted: 2 });

    for (const key of ['', 'ik_wrong', INGEST_KEY.slice(0, -1), ingestKeyDigest(INGEST_KEY)]) {
      const wrong = await ingest([event(source)], { key, token: me.token });
      t.is(wrong.status, 401, key);
      t.is(wrong.body?.code, 'ingest_key_invalid', key);
    }

    const { rows } = await waitForRows(source, 2);
    t.deepEqual(rows.map((r) => r.user_id).sort(), ['', someone].sort(), 'a key names users, or none');
  });

  it("a learner may not send another user's events (403); an admin may", async (t) => {
    const source = newSource();
    const me = await token();
    const other = randomUUID();
    const refused = await ingest(
      [event(source), event(source, { userId: me.sub }), event(source, { userId: other })],
      {
        token: me.token,
      },
    );
    t.is(refused.status, 403);
    t.is(refused.body?.code, 'user_not_yours');
    t.deepEqual(refused.body?.errors, [
      { path: '/events/2/userId', message: 'must be your own user id (or left out)' },
    ]);

    const admin = await token(['admin']);
    const allowed = await ingest([event(source, { userId: other }), event(source)], { token: admin.token });
    t.is(allowed.status, 202, JSON.stringify(allowed.body));
    const { rows } = await waitForRows(source, 2);
    t.deepEqual(rows.map((r) => r.user_id).sort(), [other, admin.sub].sort());
    t.is(rows.length, 2, 'nothing of the refused batch was produced');
  });

  it('413: more than 1000 events, or more than 1 MiB; a batch of 1000 under 1 MiB is taken whole', async (t) => {
    const source = newSource();
    const me = await token();
    const many = Array.from({ length: 1001 }, (_, i) => event(source, { payload: { i } }));
    const tooMany = await ingest(many, { token: me.token });
    t.is(tooMany.status, 413);
    t.is(tooMany.body?.code, 'too_many_events');

    // 1000 events of about 1000 bytes each: past the 256 KiB other routes take, under ingest's 1 MiB.
    const padded = (n: number, pad: number) =>
      Array.from({ length: n }, (_, i) => event(source, { payload: { i, pad: 'x'.repeat(pad) } }));
    const big = JSON.stringify({ events: padded(1000, 900) });
    t.true(big.length > 900_000 && big.length < 1024 * 1024, String(big.length));
    const taken = await ingest([], { token: me.token, raw: big });
    t.is(taken.status, 202, JSON.stringify(taken.body));
    t.deepEqual(taken.body, { accepted: 1000 });
    // The path as routing matches it (any case, a trailing slash) gets the same limit; other routes keep theirs.
    const variant = await http('POST', '/API/Analytics/Ingest/', { token: me.token, raw: big });
    t.is(variant.status, 202, JSON.stringify(variant.body));
    const elsewhere = await http('PUT', '/api/profile', { token: me.token, raw: big });
    t.is(elsewhere.status, 413);
    t.is(elsewhere.body?.code, 'payload_too_large');

    const huge = JSON.stringify({ events: padded(500, 2200) });
    t.true(huge.length > 1024 * 1024, String(huge.length));
    const tooBig = await ingest([], { token: me.token, raw: huge });
    t.is(tooBig.status, 413);
    t.is(tooBig.body?.code, 'payload_too_large');

    const { ids } = await waitForRows(source, 2000);
    await sleep(1500);
    t.is(ids.size, 2000, 'two batches of 1000 taken; the refused ones produced nothing');
    t.is((await rowsOf(source)).ids.size, 2000);
  });

  it('400: every bad item is named, and nothing of the batch is produced', async (t) => {
    const source = newSource();
    const me = await token();
    const kept = randomUUID();
    const bad = await ingest(
      [
        event(source, { id: kept }),
        event(source, { type: 'Not A Type' }),
        event(source, { time: Date.now() + 2 * 86_400_000, payload: [] }),
        event(source, { time: '2026-02-30T00:00:00Z' }),
        event(source, { time: Date.now() - 31 * 86_400_000, source: 's'.repeat(51) }),
        event(source, { payload: { big: 'x'.repeat(16 * 1024) } }),
      ],
      { token: me.token },
    );
    t.is(bad.status, 400);
    t.is(bad.body?.code, 'validation_failed');
    t.deepEqual(
      (bad.body?.errors as { path: string }[]).map((e) => e.path),
      [
        '/events/1/type',
        '/events/2/time',
        '/events/2/payload',
        '/events/3/time',
        '/events/4/time',
        '/events/4/source',
        '/events/5/payload',
      ],
    );
    const notJson = await http('POST', '/api/analytics/ingest', {
      token: me.token,
      raw: 'events=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    t.is(notJson.status, 400);
    t.is(notJson.body?.code, 'unsupported_media_type');
    const malformed = await ingest([], { token: me.token, raw: '{"events": [' });
    t.is(malformed.status, 400);
    t.is(malformed.body?.code, 'malformed_json');

    // The same user's next batch goes to the same partition, after anything of the refused one.
    const after = await ingest([event(source)], { token: me.token });
    t.is(after.status, 202);
    const { ids } = await waitForRows(source, 1);
    await sleep(1500);
    t.false((await rowsOf(source)).ids.has(kept), 'the valid item of a refused batch was not produced');
    t.is(ids.size, 1);
  });

  it('a retry with the same Idempotency-Key is counted once; another key is another batch', async (t) => {
    const source = newSource();
    const me = await token();
    const batch = [event(source, { type: 'video.played' }), event(source, { type: 'video.paused' })];
    const key = { 'idempotency-key': `retry-${randomUUID()}` };
    for (let i = 0; i < 3; i++) t.is((await ingest(batch, { token: me.token, headers: key })).status, 202);
    // Another user with the same key: their own events, not collapsed into ours.
    const other = await token();
    t.is((await ingest(batch, { token: other.token, headers: key })).status, 202);
    const fresh = await ingest(batch, {
      token: me.token,
      headers: { 'idempotency-key': `retry-${randomUUID()}` },
    });
    t.is(fresh.status, 202);

    await waitForRows(source, 6);
    // Time for any further copy to arrive: there must be none with a new id.
    await sleep(1500);
    const settled = await rowsOf(source);
    t.is(settled.ids.size, 6, '3 batches of 2 distinct events (mine, theirs, mine again under a new key)');
    const analytics = (await ctx()).lectern.analytics!;
    const [counted] = await analytics.query<{ ids: number; final: number }>(
      ch`SELECT uniqExact(event_id) AS ids, (SELECT count() FROM ${analytics.table('events')} FINAL
           WHERE source = ${source}) AS final
         FROM ${analytics.table('events')} WHERE source = ${source}`,
    );
    t.deepEqual(counted, { ids: 6, final: 6 }, 'copies collapse by id');
  });

  it('ingest → reports → exports over HTTP: counted once, readable by analysts only', async (t) => {
    const source = newSource();
    const admin = await token(['admin']);
    const analyst = await token(['analyst']);
    const learner = await token();
    const [u1, u2, u3] = [randomUUID(), randomUUID(), randomUUID()];
    const dayMs = 86_400_000;
    const d1 = Math.floor(Date.now() / dayMs) * dayMs - 3 * dayMs;
    const d2 = d1 + dayMs;
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const batch = [
      {
        id: randomUUID(),
        type: 'course.viewed',
        userId: u1,
        time: d1 + 3_600_000,
        payload: { courseId: 'c-9' },
      },
      {
        id: randomUUID(),
        type: 'course.viewed',
        userId: u2,
        time: d1 + 7_200_000,
        payload: { courseId: 'c-9' },
      },
      {
        id: randomUUID(),
        type: 'course.started',
        userId: u1,
        time: d1 + 7_300_000,
        payload: { courseId: 'c-9' },
      },
      {
        id: randomUUID(),
        type: 'course.completed',
        userId: u1,
        time: d2 + 3_600_000,
        payload: { courseId: 'c-9' },
      },
      {
        id: randomUUID(),
        type: 'course.viewed',
        userId: u3,
        time: d2 + 7_200_000,
        payload: { courseId: 'c-9' },
      },
    ].map((e) => ({ ...e, source }));
    t.is((await ingest(batch, { token: admin.token })).status, 202);
    // The same batch again (a client retry): nothing may count twice.
    t.is((await ingest(batch, { token: admin.token })).status, 202);
    await waitForRows(source, 5);

    const query = `from=${day(d1)}&to=${day(d2)}&source=${source}`;
    problem(t, await http('GET', `/api/analytics/reports/dau?${query}`, { token: learner.token }), 403);
    problem(t, await http('GET', `/api/analytics/reports/dau?${query}`), 401);
    problem(t, await http('GET', `/api/analytics/reports/nope?${query}`, { token: analyst.token }), 404);
    problem(
      t,
      await http('GET', `/api/analytics/reports/dau?from=${day(d2)}&to=${day(d1)}`, { token: analyst.token }),
      400,
    );
    const dau = await http('GET', `/api/analytics/reports/dau?${query}`, { token: analyst.token });
    t.is(dau.status, 200, JSON.stringify(dau.body));
    t.deepEqual(
      (dau.body?.rows as Record<string, unknown>[]).map((r) => [r.day, r.users]),
      [
        [day(d1), 2],
        [day(d2), 2],
      ],
    );
    const funnel = await http(
      'GET',
      `/api/analytics/reports/funnel?${query}&steps=course.viewed,course.started,course.completed&window=172800`,
      { token: admin.token },
    );
    t.is(funnel.status, 200, JSON.stringify(funnel.body));
    t.deepEqual(
      (funnel.body?.rows as Record<string, unknown>[]).map((r) => r.users),
      [3, 1, 1],
    );

    const { lectern } = await ctx();
    const csv = await fetch(`${lectern.url}/api/analytics/reports/dau/export?${query}&format=csv`, {
      headers: { authorization: `Bearer ${analyst.token}` },
    });
    t.is(csv.status, 200);
    t.regex(csv.headers.get('content-type') ?? '', /^text\/csv/);
    t.regex(csv.headers.get('content-disposition') ?? '', /attachment; filename="dau-.*\.csv"/);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    t.is(lines.length, 3, lines.join(' | '));
    t.true(lines[1]!.startsWith(`${day(d1)},2`), lines[1]);
    const xlsx = await fetch(
      `${lectern.url}/api/analytics/events/export?from=${day(d1)}&to=${day(d2)}&source=${source}&format=xlsx`,
      { headers: { authorization: `Bearer ${analyst.token}` } },
    );
    t.is(xlsx.status, 200);
    t.is(
      xlsx.headers.get('content-type'),
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    );
    const bytes = Buffer.from(await xlsx.arrayBuffer());
    t.is(bytes.subarray(0, 2).toString(), 'PK', 'a zip (xlsx) file');
    const rawCsv = await fetch(
      `${lectern.url}/api/analytics/events/export?from=${day(d1)}&to=${day(d2)}&source=${source}`,
      {
        headers: { authorization: `Bearer ${analyst.token}` },
      },
    );
    t.is((await rawCsv.text()).trim().split(/\r?\n/).length, 1 + 5, 'the header and each event once');
  });

  it('the route is in readiness and the projector consumes', async (t) => {
    const res = await http('GET', '/readyz');
    t.is(res.status, 200);
    const names = (res.body?.checks as { name: string; ok: boolean }[]).filter((c) =>
      ['analytics', 'projection:analytics'].includes(c.name),
    );
    t.deepEqual(names, [
      { name: 'analytics', ok: true },
      { name: 'projection:analytics', ok: true },
    ]);
  });
};
