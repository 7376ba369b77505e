import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import exceljs from 'exceljs';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { analyticsSchema, eventRow, type EventRow } from '@lectern/analytics-projection-events/schema';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { AnalyticsError, type AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { requireEngine } from '@lectern/infra/testing/engines';
import { parseCsv, startExportServer, type ExportServer } from './exports/testing.ts';
import { runReport } from './reports.ts';

/*
 * The export routes over HTTP, on chDB and (with CLICKHOUSE_URL) on a
 * ClickHouse server: what a download is called and typed as, that it holds
 * exactly the report's rows or the range's events, and how it fails.
 */

const CSV = 'text/csv; charset=utf-8';
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 2, 1); // 2024-03-01

/** Text that breaks CSV quoting, spreadsheets (formulas) or XML somewhere. */
const HOSTILE = [
  '=HYPERLINK("http://evil.example","click")',
  '+1+1',
  '-2',
  '@SUM(A1:A2)',
  '\tstarts with a tab',
  'comma, inside',
  'a "quoted" word',
  'line\nbreak',
  'crlf\r\ninside',
  "O'Brien",
  'emoji 🎓 ünïcödé 中文',
  'nul\u0000 and bell\u0007',
  ' padded ',
];

/**
 * The events of the functional tests: users active over three days in
 * March, hostile text in every text column, ties in time (ordered by id),
 * domain events, copies of a third of the events (redeliveries, inserted
 * later), and events either side of the range.
 */
const fixture = (() => {
  const events: EventRow[] = [];
  let n = 0;
  const add = (e: Omit<Parameters<typeof eventRow>[0], 'event_id'> & { event_id?: string }) =>
    events.push(eventRow({ event_id: `ev-${String(n++).padStart(4, '0')}`, ...e }, 1_000));
  for (let d = 0; d < 3; d++)
    for (let u = 0; u < 12; u++) {
      if ((u + d) % 4 === 0) continue;
      const at = T0 + d * DAY + u * 3_600_000 + (u % 3) * 1_000;
      add({
        type: 'page.viewed',
        user_id: `user-${u}`,
        source: ['web', 'ios'][u % 2],
        occurred_at: at,
        payload: '{"page":1}',
      });
      if (u % 3 === 0)
        add({
          type: 'course.started',
          user_id: `user-${u}`,
          source: 'web',
          occurred_at: at + 10,
          payload: JSON.stringify({ courseId: HOSTILE[u % HOSTILE.length] }),
        });
      if (u % 6 === 0)
        add({
          type: 'course.completed',
          user_id: `user-${u}`,
          source: 'web',
          occurred_at: at + 20,
          payload: JSON.stringify({ courseId: HOSTILE[u % HOSTILE.length] }),
        });
    }
  HOSTILE.forEach((text, i) =>
    add({
      type: `hostile.${i}`,
      user_id: text,
      source: text,
      occurred_at: T0 + DAY + 7_200_000, // one time for all: ordered by id
      payload: JSON.stringify({ text }),
    }),
  );
  add({
    kind: 'domain',
    type: 'identity.UserRegistered',
    user_id: 'user-1',
    source: 'identity',
    occurred_at: T0 + 5,
    stream_id: 'user-1',
    payload: '{"userId":"user-1"}',
  });
  add({ type: 'page.viewed', user_id: 'user-1', source: 'web', occurred_at: T0 - 1, payload: '{}' });
  add({ type: 'page.viewed', user_id: 'user-1', source: 'web', occurred_at: T0 + 3 * DAY, payload: '{}' });
  const copies = events.filter((_, i) => i % 3 === 0).map((e) => ({ ...e, ingested_at: 2_000 }));
  return { events, copies };
})();

const FROM = '2024-03-01';
const TO = '2024-03-03';
const inRange = (e: EventRow) => e.occurred_at >= T0 && e.occurred_at < T0 + 3 * DAY;
const byTimeThenId = (a: EventRow, b: EventRow) =>
  a.occurred_at - b.occurred_at || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);

/* What a download must hold, computed from the fixture. */

const guard = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);
/** What XML (and so XLSX) keeps of a text: no control characters but tab and line feed; CR read back as LF. */
const viaXml = (text: string) =>
  // eslint-disable-next-line no-control-regex -- the characters XML cannot carry
  text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').replace(/\r\n?/g, '\n');
const EVENT_HEADER = ['event_id', 'kind', 'type', 'user_id', 'source', 'occurred_at', 'payload'];
const eventCsvRecord = (e: EventRow) => [
  guard(e.event_id),
  e.kind,
  guard(e.type),
  guard(e.user_id),
  guard(e.source),
  new Date(e.occurred_at).toISOString(),
  guard(e.payload),
];
const eventXlsxRow = (e: EventRow) => [
  e.event_id,
  e.kind,
  e.type,
  viaXml(e.user_id),
  viaXml(e.source),
  new Date(e.occurred_at),
  viaXml(e.payload),
];

const get = (server: ExportServer, path: string, token?: string, init: RequestInit = {}) =>
  fetch(`${server.base}${path}`, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as object) },
  });

/** Every row of every sheet of a workbook, cell values as exceljs reads them. */
const readXlsx = async (body: ArrayBuffer): Promise<{ sheets: string[]; rows: unknown[][] }> => {
  const book = new exceljs.Workbook();
  await book.xlsx.load(body);
  const rows: unknown[][] = [];
  for (const sheet of book.worksheets)
    sheet.eachRow((row) =>
      rows.push((row.values as unknown[]).slice(1).map((v) => (v === undefined ? null : v))),
    );
  return { sheets: book.worksheets.map((s) => s.name), rows };
};

type Opened = Readonly<{ store: AnalyticsStore; cleanup(): Promise<void> }>;

// chDB opens one data folder per process: every chDB store of this file shares it.
const chdbDir = await mkdtemp(join(tmpdir(), 'lectern-exports-'));
const anchor = chdbStore({ path: join(chdbDir, 'data') });
const openChdb = async (): Promise<Opened> => {
  const store = chdbStore({
    path: join(chdbDir, 'data'),
    database: `lectern_test_${randomBytes(6).toString('hex')}`,
  });
  return {
    store,
    // No DROP DATABASE: chDB removes a dropped database's files in the background,
    // and on a busy machine that raced its own rename of them (a stress run failed
    // here with a filesystem error). The folder goes whole in the last hook.
    cleanup: () => store.close(),
  };
};

const seeded = async (open: () => Promise<Opened>) => {
  const opened = await open();
  await opened.store.ensureSchema(analyticsSchema(opened.store.database));
  await opened.store.insert('events', fixture.events);
  await opened.store.insert('events', fixture.copies);
  return { ...opened, server: await startExportServer(opened.store) };
};

/** One seeded store and server per engine, shared by that engine's tests (which only read). */
const engine = (name: string, open: () => Promise<Opened>) => {
  let ready: ReturnType<typeof seeded> | undefined;
  const setup = () => (ready ??= seeded(open));
  test.after.always(async () => {
    if (!ready) return;
    const { server, cleanup } = await ready;
    await server.close();
    await cleanup();
  });
  const it = (
    title: string,
    body: (t: ExecutionContext, s: Awaited<ReturnType<typeof seeded>>) => Promise<void>,
  ) =>
    test(`${name}: ${title}`, async (t) => {
      await body(t, await setup());
    });

  it('raw events as CSV: type, file name, each event of the range once, by time then id, formulas guarded', async (t, {
    server,
  }) => {
    const res = await get(
      server,
      `/api/analytics/events/export?format=csv&from=${FROM}&to=${TO}`,
      await server.token('analyst'),
    );
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), CSV);
    t.is(res.headers.get('content-disposition'), 'attachment; filename="events-2024-03-01-2024-03-03.csv"');
    t.is(res.headers.get('cache-control'), 'no-store');
    const records = parseCsv(await res.text());
    t.deepEqual(records[0], EVENT_HEADER);
    t.deepEqual(records.slice(1), fixture.events.filter(inRange).sort(byTimeThenId).map(eventCsvRecord));
  });

  it('raw events as XLSX: type, file name, the same events with typed cells', async (t, { server }) => {
    const res = await get(
      server,
      `/api/analytics/events/export?format=xlsx&from=${FROM}&to=${TO}`,
      await server.token('admin'),
    );
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), XLSX);
    t.is(res.headers.get('content-disposition'), 'attachment; filename="events-2024-03-01-2024-03-03.xlsx"');
    const { sheets, rows } = await readXlsx(await res.arrayBuffer());
    t.deepEqual(sheets, ['events']);
    t.deepEqual(rows[0], EVENT_HEADER);
    t.deepEqual(rows.slice(1), fixture.events.filter(inRange).sort(byTimeThenId).map(eventXlsxRow));
  });

  it('raw events: filters by type, source and kind, and a day of its own', async (t, { server }) => {
    const token = await server.token('analyst');
    const cases: [string, (e: EventRow) => boolean][] = [
      ['&type=course.started,course.completed', (e) => e.type.startsWith('course.')],
      ['&source=ios&source=identity', (e) => e.source === 'ios' || e.source === 'identity'],
      ['&kind=domain', (e) => e.kind === 'domain'],
      ['&type=page.viewed&source=web', (e) => e.type === 'page.viewed' && e.source === 'web'],
    ];
    for (const [query, keep] of cases) {
      const res = await get(server, `/api/analytics/events/export?from=${FROM}&to=${TO}${query}`, token);
      t.is(res.status, 200, query);
      const expected = fixture.events.filter((e) => inRange(e) && keep(e)).sort(byTimeThenId);
      t.true(expected.length > 0, query);
      t.deepEqual(parseCsv(await res.text()).slice(1), expected.map(eventCsvRecord), query);
    }
    const day = await get(server, `/api/analytics/events/export?from=2024-02-29&to=2024-02-29`, token);
    t.deepEqual(parseCsv(await day.text()), [
      EVENT_HEADER,
      eventCsvRecord(fixture.events.find((e) => e.occurred_at === T0 - 1)!),
    ]);
    const none = await get(
      server,
      `/api/analytics/events/export?from=2025-01-01&to=2025-01-31&format=csv`,
      token,
    );
    t.is(await none.text(), `${EVENT_HEADER.join(',')}\r\n`, 'an empty range is the header alone');
  });

  const reports: [string, string][] = [
    ['dau', `from=${FROM}&to=${TO}`],
    ['wau', `from=${FROM}&to=${TO}&source=web`],
    ['mau', `from=${FROM}&to=${TO}`],
    ['retention', `from=${FROM}&to=${TO}&days=1,2`],
    ['course-completion', `from=${FROM}&to=${TO}`],
    ['funnel', `from=${FROM}&to=${TO}&steps=page.viewed,course.started,course.completed&window=60`],
  ];
  it('every report as CSV and as XLSX holds exactly its JSON rows', async (t, { server, store }) => {
    const token = await server.token('analyst');
    for (const [name, query] of reports) {
      const json = await runReport(store, name, Object.fromEntries(new URLSearchParams(query)));
      t.true(json.rows.length > 0, `${name} has rows`);
      const names = json.columns.map((c) => c.name);
      const fileName = `${name}-${FROM}-${TO}`;

      const csv = await get(server, `/api/analytics/reports/${name}/export?${query}`, token);
      t.is(csv.status, 200, name);
      t.is(csv.headers.get('content-type'), CSV);
      t.is(csv.headers.get('content-disposition'), `attachment; filename="${fileName}.csv"`);
      t.deepEqual(
        parseCsv(await csv.text()),
        [
          names,
          ...json.rows.map((r) =>
            names.map((k) => (typeof r[k] === 'number' ? String(r[k]) : guard(String(r[k])))),
          ),
        ],
        `${name} as CSV`,
      );

      const xlsx = await get(server, `/api/analytics/reports/${name}/export?format=xlsx&${query}`, token);
      t.is(xlsx.status, 200, name);
      t.is(xlsx.headers.get('content-type'), XLSX);
      t.is(xlsx.headers.get('content-disposition'), `attachment; filename="${fileName}.xlsx"`);
      const { sheets, rows } = await readXlsx(await xlsx.arrayBuffer());
      t.deepEqual(sheets, [name]);
      t.deepEqual(
        rows,
        [
          names,
          ...json.rows.map((r) =>
            json.columns.map((c) => (c.type === 'date' ? new Date(`${r[c.name]}T00:00:00Z`) : r[c.name])),
          ),
        ],
        `${name} as XLSX`,
      );
    }
  });
};

engine('chdb', openChdb);
const url = requireEngine(test, 'CLICKHOUSE_URL', 'ClickHouse');
if (url)
  engine('clickhouse', async () => {
    const database = `lectern_test_${randomBytes(6).toString('hex')}`;
    const store = clickhouseStore({ url, database });
    return {
      store,
      cleanup: async () => {
        await store.exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`);
        await store.close();
      },
    };
  });

/* Access, validation and failures: engine-independent, on chDB. */

/**
 * The store with its `stream` changed: how many streams were opened, and
 * whether each was released; `failAfter` makes a stream fail after that
 * many rows, as a connection that drops would.
 */
const observed = (store: AnalyticsStore, opts: { failAfter?: number } = {}) => {
  const seen = { opened: 0, released: 0, rows: 0 };
  const wrapped: AnalyticsStore = {
    ...store,
    stream<T>(sql: Parameters<AnalyticsStore['stream']>[0]): AsyncIterable<T> {
      return {
        async *[Symbol.asyncIterator]() {
          seen.opened += 1;
          try {
            for await (const row of store.stream<T>(sql)) {
              if (opts.failAfter !== undefined && seen.rows >= opts.failAfter)
                throw new AnalyticsError('ClickHouse streamed query failed: socket hang up');
              seen.rows += 1;
              yield row;
            }
          } finally {
            seen.released += 1;
          }
        },
      };
    },
  };
  return { store: wrapped, seen };
};

/** A store with 20 000 events on 2024-04-01 (a few MiB as CSV), for the failure tests. */
const bulk = async () => {
  const opened = await openChdb();
  await opened.store.ensureSchema(analyticsSchema(opened.store.database));
  await opened.store.exec(ch`INSERT INTO ${opened.store.table('events')}
    (event_id, kind, type, user_id, source, occurred_at, payload, stream_id, schema_version, ingested_at)
    SELECT concat('bulk-', toString(number)), 'telemetry', 'page.viewed', concat('user-', toString(number % 97)), 'web',
           ${Date.UTC(2024, 3, 1)} + number * 1000, concat('{"n":', toString(number), ',"pad":"', repeat('x', 200), '"}'),
           '', 1, 1
    FROM numbers(20000)`);
  return opened;
};
const BULK = '/api/analytics/events/export?from=2024-04-01&to=2024-04-01';

let bulkReady: ReturnType<typeof bulk> | undefined;
const bulkStore = () => (bulkReady ??= bulk());
test.after.always(async () => {
  if (bulkReady) await (await bulkReady).cleanup();
});

const withServer = async (store: AnalyticsStore, body: (server: ExportServer) => Promise<void>) => {
  const server = await startExportServer(store);
  try {
    await body(server);
  } finally {
    await server.close();
  }
};

const problem = async (t: ExecutionContext, res: Response, status: number, code: string) => {
  t.is(res.status, status);
  t.is(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  t.is(res.headers.get('content-disposition'), null, 'not a download');
  const body = (await res.json()) as { code: string; errors?: { path: string }[] };
  t.is(body.code, code);
  return body;
};

test('401 without a valid token, 403 without the admin or analyst role; both roles may export', async (t) => {
  const { store } = await bulkStore();
  const { store: seen, seen: counts } = observed(store);
  await withServer(seen, async (server) => {
    for (const path of [BULK, '/api/analytics/reports/dau/export?from=2024-04-01&to=2024-04-01']) {
      const before = counts.opened;
      await problem(t, await get(server, path), 401, 'token_missing');
      await problem(t, await get(server, path, 'not.a.token'), 401, 'token_invalid');
      for (const roles of [[], ['learner'], ['author', 'learner']])
        await problem(t, await get(server, path, await server.token(...roles)), 403, 'forbidden');
      t.is(counts.opened, before, 'no query ran for a refused request');
      for (const role of ['admin', 'analyst']) {
        const res = await get(server, path, await server.token(role));
        t.is(res.status, 200, `${role} ${path}`);
        await res.arrayBuffer();
      }
    }
  });
});

test('400 before any byte for a bad format or bad parameters, each pointed at; 404 for an unknown report', async (t) => {
  const { store } = await bulkStore();
  const { store: seen, seen: counts } = observed(store);
  await withServer(seen, async (server) => {
    const token = await server.token('analyst');
    const cases: [string, string[]][] = [
      [`${BULK}&format=pdf`, ['/format']],
      [`${BULK}&format=csv&format=xlsx`, ['/format']],
      ['/api/analytics/events/export?to=2024-04-01', ['/from']],
      ['/api/analytics/events/export?from=2024-04-02&to=2024-04-01', ['/to']],
      ['/api/analytics/events/export?from=2024-04-01&to=2025-04-30', ['/to']],
      ['/api/analytics/events/export?from=2024-02-30&to=2024-04-01', ['/from']],
      [`${BULK}&user=u1`, ['/user']],
      [`${BULK}&kind=other`, ['/kind']],
      [
        '/api/analytics/reports/dau/export?format=docx&from=2024-04-01&to=2024-04-01&steps=a,b',
        ['/format', '/steps'],
      ],
      ['/api/analytics/reports/funnel/export?from=2024-04-01&to=2024-04-01', ['/steps']],
      ['/api/analytics/reports/retention/export?from=2024-04-01', ['/to']],
    ];
    for (const [path, pointers] of cases) {
      const body = await problem(t, await get(server, path, token), 400, 'validation_failed');
      t.deepEqual(body.errors?.map((e) => e.path).sort(), pointers, path);
    }
    await problem(
      t,
      await get(server, '/api/analytics/reports/nope/export?from=2024-04-01&to=2024-04-01', token),
      404,
      'unknown_report',
    );
    t.is(counts.opened, 0, 'no query ran');
  });
});

test('an engine that cannot be reached is a 503 problem, not a download', async (t) => {
  // A real ClickHouse adapter pointed at a port where nothing listens.
  const down = clickhouseStore({ url: 'http://127.0.0.1:9/lectern', requestTimeoutMs: 2_000 });
  try {
    await withServer(down, async (server) => {
      const token = await server.token('admin');
      for (const path of [
        `${BULK}&format=csv`,
        `${BULK}&format=xlsx`,
        '/api/analytics/reports/dau/export?from=2024-04-01&to=2024-04-01',
      ])
        await problem(t, await get(server, path, token), 503, 'analytics_unavailable');
    });
  } finally {
    await down.close();
  }
});

test('a query that fails before the first chunk is sent is still a problem', async (t) => {
  const { store } = await bulkStore();
  const { store: failing, seen } = observed(store, { failAfter: 10 });
  await withServer(failing, async (server) => {
    await problem(
      t,
      await get(server, `${BULK}&format=csv`, await server.token('admin')),
      503,
      'analytics_unavailable',
    );
    t.is(seen.released, 1);
  });
});

for (const format of ['csv', 'xlsx'] as const)
  test(`a ${format} download whose query fails mid-way is cut off, never complete-looking, and logged`, async (t) => {
    const { store } = await bulkStore();
    const { store: failing, seen } = observed(store, { failAfter: 15_000 });
    await withServer(failing, async (server) => {
      const res = await get(server, `${BULK}&format=${format}`, await server.token('admin'));
      t.is(res.status, 200, 'the headers had gone out');
      t.is(res.headers.get('content-type'), format === 'csv' ? CSV : XLSX);
      const error = await t.throwsAsync(res.arrayBuffer());
      t.log(`the client saw: ${error?.message} (${String((error?.cause as Error)?.message ?? '')})`);
      t.is(seen.rows, 15_000);
      t.is(seen.released, 1);
      const failed = server.logs.find((l) => l.msg === 'export failed mid-stream; response cut');
      t.truthy(failed, JSON.stringify(server.logs));
      t.is(failed?.level, 'error');
      t.is(failed?.obj.export, `events-2024-04-01-2024-04-01.${format}`);
    });
  });

for (const format of ['csv', 'xlsx'] as const)
  test(`a client that leaves a ${format} download stops the query`, async (t) => {
    const { store } = await bulkStore();
    const { store: seen, seen: counts } = observed(store);
    await withServer(seen, async (server) => {
      const abort = new AbortController();
      const res = await get(server, `${BULK}&format=${format}`, await server.token('admin'), {
        signal: abort.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      abort.abort();
      const deadline = Date.now() + 10_000;
      while (counts.released === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      t.is(counts.released, 1, 'the query was released');
      t.true(counts.rows < 20_000, `read ${counts.rows} of 20000 rows`);
      t.truthy(server.logs.find((l) => l.msg === 'export abandoned: the client went away'));
    });
  });

test('HEAD says what the download would be without running it', async (t) => {
  const { store } = await bulkStore();
  const { store: seen, seen: counts } = observed(store);
  await withServer(seen, async (server) => {
    const res = await get(
      server,
      `/api/analytics/reports/wau/export?format=xlsx&from=2024-04-01&to=2024-04-30`,
      await server.token('admin'),
      { method: 'HEAD' },
    );
    t.is(res.status, 200);
    t.is(res.headers.get('content-type'), XLSX);
    t.is(res.headers.get('content-disposition'), 'attachment; filename="wau-2024-04-01-2024-04-30.xlsx"');
    t.is(counts.opened, 0);
  });
});

// Registered last, so that it runs after every other store of the folder is closed.
test.after.always(async () => {
  await anchor.close();
  // chDB removes dropped databases in the background: retry while it does.
  await rm(chdbDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});
