import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import {
  analyticsSchema,
  ANALYTICS_TABLES,
  rollupBackfill,
  type EventRow,
} from '@lectern/analytics-projection-events/schema';
import { ch, ident } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { requireEngine } from '@lectern/infra/testing/engines';
import {
  expectedCourseCompletion,
  expectedDau,
  expectedFunnel,
  expectedMau,
  expectedRetention,
  expectedWau,
  FUNNEL_STEPS,
  generateFixture,
} from './fixtures.ts';
import { analyticsReports, type Report, type ReportSource } from './reports.ts';

/*
 * Every report on both engines, from raw events and from the rollups, held
 * to the answers computed in JavaScript from the generated events, and to
 * each other. The data holds copies of a fifth of its events in later
 * inserts, so a report that counted rows rather than users or ids would be
 * off.
 */

const fixture = generateFixture();

type Case = Readonly<{
  title: string;
  report: keyof typeof analyticsReports;
  /** As a query string carries them: the report's own validator reads them. */
  query: Readonly<Record<string, string | string[]>>;
  expected: (events: readonly EventRow[], params: any) => unknown[];
  /** Whether the rollup form reads a rollup (and which), or `events` like raw. */
  rollup: string | null;
}>;

const cases: readonly Case[] = [
  {
    title: 'dau over the data and the empty days around it',
    report: 'dau',
    query: { from: '2024-01-10', to: '2024-05-20' },
    expected: expectedDau,
    rollup: 'user_days',
  },
  {
    title: 'dau of telemetry from two sources',
    report: 'dau',
    query: { from: '2024-02-01', to: '2024-03-15', source: 'web,ios', kind: 'telemetry' },
    expected: expectedDau,
    rollup: null,
  },
  {
    title: 'dau of one type, the parameter repeated',
    report: 'dau',
    query: { from: '2024-02-01', to: '2024-02-29', type: ['lesson.completed', 'course.started'] },
    expected: expectedDau,
    rollup: null,
  },
  {
    title: 'dau of domain events',
    report: 'dau',
    query: { from: '2024-01-15', to: '2024-05-13', kind: 'domain' },
    expected: expectedDau,
    rollup: null,
  },
  {
    title: 'wau from a Wednesday to a Wednesday, weeks whole',
    report: 'wau',
    query: { from: '2024-01-17', to: '2024-04-03' },
    expected: expectedWau,
    rollup: 'user_days',
  },
  {
    title: 'wau from one source',
    report: 'wau',
    query: { from: '2024-01-15', to: '2024-05-13', source: 'android' },
    expected: expectedWau,
    rollup: null,
  },
  {
    title: 'mau over five months, counted whole',
    report: 'mau',
    query: { from: '2024-01-20', to: '2024-05-02' },
    expected: expectedMau,
    rollup: 'user_days',
  },
  {
    title: 'retention with the default days',
    report: 'retention',
    query: { from: '2024-01-15', to: '2024-03-31' },
    expected: expectedRetention,
    rollup: 'user_first_seen',
  },
  {
    title: 'retention with days of its own, some past the data',
    report: 'retention',
    query: { from: '2024-02-10', to: '2024-05-13', days: '60,1,2,3' },
    expected: expectedRetention,
    rollup: 'user_first_seen',
  },
  {
    title: 'course completion over the whole data',
    report: 'course-completion',
    query: { from: '2024-01-15', to: '2024-05-13' },
    expected: expectedCourseCompletion,
    rollup: null,
  },
  {
    title: 'course completion of starts in March, completions by its end',
    report: 'course-completion',
    query: { from: '2024-03-01', to: '2024-03-31' },
    expected: expectedCourseCompletion,
    rollup: null,
  },
  {
    title: 'course completion of two courses, one with a quote in its id',
    report: 'course-completion',
    query: { from: '2024-01-15', to: '2024-04-30', course: "c-'4,c-1" },
    expected: expectedCourseCompletion,
    rollup: null,
  },
  {
    title: 'funnel of three steps within an hour',
    report: 'funnel',
    query: { from: '2024-01-15', to: '2024-05-13', steps: FUNNEL_STEPS.join(','), window: '3600' },
    expected: expectedFunnel,
    rollup: null,
  },
  {
    title: 'funnel within one second (steps in the same second count in order)',
    report: 'funnel',
    query: { from: '2024-01-15', to: '2024-05-13', steps: FUNNEL_STEPS.join(','), window: '1' },
    expected: expectedFunnel,
    rollup: null,
  },
  {
    title: 'funnel with the default window, from one source, over part of the data',
    report: 'funnel',
    query: { from: '2024-02-01', to: '2024-03-31', steps: FUNNEL_STEPS.join(','), source: 'web' },
    expected: expectedFunnel,
    rollup: null,
  },
  {
    title: 'funnel of steps in the reverse order, and one nobody took',
    report: 'funnel',
    query: {
      from: '2024-01-15',
      to: '2024-05-13',
      steps: `${FUNNEL_STEPS[1]},${FUNNEL_STEPS[0]},nothing.happened`,
      window: '90000',
    },
    expected: expectedFunnel,
    rollup: null,
  },
];

const paramsOf = (c: Case): any => {
  const r = (analyticsReports[c.report] as Report<unknown>).params(c.query);
  if (!r.ok) throw new Error(`${c.title}: ${JSON.stringify(r.issues)}`);
  return r.value;
};

const run = async (store: AnalyticsStore, c: Case, source: ReportSource) =>
  store.query(analyticsReports[c.report].sql(store, paramsOf(c), { source }));

/** Loads the fixture as the projector would: the events, then the copies, in separate inserts. */
const load = async (store: AnalyticsStore) => {
  await store.ensureSchema(analyticsSchema(store.database));
  for (const rows of fixture.inserts) await store.insert('events', rows);
};

type Engine = Readonly<{ name: string; open: () => AnalyticsStore }>;

const engines: Engine[] = [];

// chDB opens one data folder per process: one folder, a database per store.
const dir = await mkdtemp(join(tmpdir(), 'lectern-reports-'));
const anchor = chdbStore({ path: join(dir, 'chdb') });
engines.push({
  name: 'chdb',
  open: () => chdbStore({ path: join(dir, 'chdb'), database: `reports_${randomBytes(6).toString('hex')}` }),
});
const url = requireEngine(test, 'CLICKHOUSE_URL', 'ClickHouse reports');
if (url)
  engines.push({
    name: 'clickhouse',
    open: () => clickhouseStore({ url, database: `reports_${randomBytes(6).toString('hex')}` }),
  });

const opened: AnalyticsStore[] = [];
const open = (engine: Engine): AnalyticsStore => {
  const store = engine.open();
  opened.push(store);
  return store;
};
test.after.always(async () => {
  for (const store of opened) {
    await store.exec(ch`DROP DATABASE IF EXISTS ${ident(store.database)}`).catch(() => {});
    await store.close();
  }
  await anchor.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

/** One loaded database per engine, shared by the read-only tests below. */
const loaded = new Map<string, Promise<AnalyticsStore>>();
const loadedStore = (engine: Engine): Promise<AnalyticsStore> => {
  let store = loaded.get(engine.name);
  if (!store) {
    store = (async () => {
      const s = open(engine);
      await load(s);
      return s;
    })();
    loaded.set(engine.name, store);
  }
  return store;
};

test('the fixture holds copies, and every report has something to count', (t) => {
  const ids = new Set(fixture.inserts.flat().map((e) => e.event_id));
  t.is(ids.size, fixture.events.length);
  t.true(fixture.inserts.flat().length > fixture.events.length * 1.15, 'about a fifth are inserted twice');
  for (const c of cases) {
    const rows = c.expected(fixture.events, paramsOf(c)) as Record<string, number>[];
    const counts = rows.flatMap((r) => Object.values(r).filter((v) => typeof v === 'number'));
    t.true(
      counts.some((n) => n > 0),
      `${c.title}: nothing to count`,
    );
  }
  const funnel = expectedFunnel(fixture.events, paramsOf(cases.find((c) => c.report === 'funnel')!));
  t.true(funnel[0]!.users > funnel[1]!.users && funnel[1]!.users > funnel[2]!.users && funnel[2]!.users > 0);
});

for (const engine of engines) {
  for (const c of cases) {
    test(`${engine.name}: ${c.report}: ${c.title}, from events and from the rollups`, async (t) => {
      const store = await loadedStore(engine);
      const expected = c.expected(fixture.events, paramsOf(c));
      const raw = await run(store, c, 'raw');
      t.deepEqual(raw, expected, 'raw');
      t.deepEqual(
        Object.keys(raw[0] ?? {}),
        analyticsReports[c.report].columns.map((col) => col.name),
        'the columns, in order',
      );
      t.deepEqual(await run(store, c, 'rollup'), expected, 'rollup');
      // The rollup form reads the rollup it is meant to, and the raw form never does.
      const sql = (source: ReportSource) =>
        analyticsReports[c.report].sql(store, paramsOf(c), { source }).text;
      if (c.rollup) t.true(sql('rollup').includes(`\`${c.rollup}\``), `reads ${c.rollup}`);
      else t.is(sql('rollup'), sql('raw'), 'no rollup serves these parameters');
      for (const table of ANALYTICS_TABLES.filter((n) => n !== 'events'))
        t.false(sql('raw').includes(`\`${table}\``), `raw reads no ${table}`);
    });
  }

  test(`${engine.name}: every report answers the same after the copies are merged away`, async (t) => {
    const store = open(engine);
    await load(store);
    const [before] = await store.query<{ rows: number; ids: number }>(
      ch`SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${store.table('events')}`,
    );
    t.true(before!.rows > before!.ids, 'copies are visible before merging');
    for (const table of ANALYTICS_TABLES) await store.exec(ch`OPTIMIZE TABLE ${store.table(table)} FINAL`);
    const [after] = await store.query<{ rows: number }>(
      ch`SELECT count() AS rows FROM ${store.table('events')}`,
    );
    t.is(after!.rows, fixture.events.length, 'merged into one row per event');
    for (const c of cases)
      for (const source of ['raw', 'rollup'] as const)
        t.deepEqual(
          await run(store, c, source),
          c.expected(fixture.events, paramsOf(c)),
          `${c.title} ${source}`,
        );
  });

  test(`${engine.name}: rollups filled by the backfill answer as the views do, however often it runs`, async (t) => {
    const store = open(engine);
    await load(store);
    const rollups = ANALYTICS_TABLES.filter((n) => n !== 'events');
    const check = async (t: ExecutionContext, what: string) => {
      for (const c of cases.filter((c) => c.rollup))
        t.deepEqual(
          await run(store, c, 'rollup'),
          c.expected(fixture.events, paramsOf(c)),
          `${what}: ${c.title}`,
        );
    };
    for (const table of rollups) await store.exec(ch`TRUNCATE TABLE ${store.table(table)}`);
    const dau = cases[0]!;
    t.notDeepEqual(await run(store, dau, 'rollup'), dau.expected(fixture.events, paramsOf(dau)), 'emptied');
    for (const statement of rollupBackfill(store.database)) await store.exec(statement);
    await check(t, 'backfilled once');
    // Again, as an operator might while events arrive: copies in the rollups change nothing.
    for (const statement of rollupBackfill(store.database)) await store.exec(statement);
    await store.insert('events', fixture.inserts[1]!);
    await check(t, 'backfilled twice');
  });
}

if (url)
  test('chdb and clickhouse give identical rows for every report, raw and from rollups', async (t) => {
    const [chdb, server] = await Promise.all(engines.map(loadedStore));
    for (const c of cases)
      for (const source of ['raw', 'rollup'] as const)
        t.deepEqual(await run(chdb!, c, source), await run(server!, c, source), `${c.title} ${source}`);
  });
