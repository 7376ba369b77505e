import test from 'ava';
import { AnalyticsError } from '@lectern/infra/ports/analytics-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { Problem } from '@lectern/infra/runtime/errors';
import { jsonSchemaOf, openApiDocument } from '@lectern/schemas';
import { analyticsReportNames, analyticsReportsApi } from '@lectern/schemas/analytics/reports-api';
import {
  addDays,
  analyticsReports,
  daysFrom,
  mondayOf,
  monthsFrom,
  reportNamed,
  unavailableProblem,
  weeksFrom,
  type Report,
} from './reports.ts';

const parse = (name: keyof typeof analyticsReports, query: Record<string, unknown>) =>
  (analyticsReports[name] as Report<unknown>).params(query);

const issues = (name: keyof typeof analyticsReports, query: Record<string, unknown>) => {
  const r = parse(name, query);
  return r.ok ? [] : r.issues;
};

const range = { from: '2026-03-01', to: '2026-03-31' };

test('every report named in the API has a definition, and no other', (t) => {
  t.deepEqual(Object.keys(analyticsReports).sort(), [...analyticsReportNames].sort());
  for (const [name, report] of Object.entries(analyticsReports)) t.is(report.name, name);
});

test('parameters come out typed, with the defaults filled in', (t) => {
  t.deepEqual(parse('dau', range), { ok: true, value: range });
  t.deepEqual(parse('wau', { ...range, source: ' web , ios ', kind: 'domain', type: ['a.b', 'c.d,e.f'] }), {
    ok: true,
    value: { ...range, source: ['web', 'ios'], kind: 'domain', type: ['a.b', 'c.d', 'e.f'] },
  });
  t.deepEqual(parse('retention', range), { ok: true, value: { ...range, days: [1, 7, 14, 30] } });
  t.deepEqual(parse('retention', { ...range, days: '30,1' }), {
    ok: true,
    value: { ...range, days: [30, 1] },
  });
  t.deepEqual(parse('funnel', { ...range, steps: 'a,b,c' }), {
    ok: true,
    value: { ...range, steps: ['a', 'b', 'c'], window: 86_400 },
  });
  t.deepEqual(parse('course-completion', { ...range, course: "c-'1" }), {
    ok: true,
    value: { ...range, course: ["c-'1"] },
  });
});

test('the range must be two calendar days, in order, at most 366 days apart counting both', (t) => {
  t.deepEqual(issues('dau', {}), [
    { path: '/from', message: 'is required' },
    { path: '/to', message: 'is required' },
  ]);
  t.deepEqual(issues('dau', { from: '2024-02-30', to: '2024-13-01' }), [
    { path: '/from', message: 'must be a day written YYYY-MM-DD' },
    { path: '/to', message: 'must be a day written YYYY-MM-DD' },
  ]);
  t.deepEqual(issues('dau', { from: '2024-02-29', to: '1999-12-31' }), [
    { path: '/to', message: 'must be from 2000-01-01 to 2099-12-31' },
  ]);
  t.deepEqual(issues('mau', { from: '2024-03-02', to: '2024-03-01' }), [
    { path: '/to', message: 'must not be before from' },
  ]);
  t.deepEqual(issues('dau', { from: '2024-01-01', to: '2024-12-31' }), [], '366 days of a leap year');
  t.deepEqual(issues('dau', { from: '2023-01-01', to: '2024-01-02' }), [
    { path: '/to', message: 'must be at most 366 days after from, counting both' },
  ]);
  t.deepEqual(issues('dau', { from: ['2024-01-01', '2024-01-02'], to: '2024-01-03' }), [
    { path: '/from', message: 'must be given once' },
  ]);
});

test('a parameter a report does not take is refused, not ignored', (t) => {
  t.deepEqual(issues('dau', { ...range, days: '1', sauce: 'web' }), [
    { path: '/days', message: 'is not a parameter of this report' },
    { path: '/sauce', message: 'is not a parameter of this report' },
  ]);
  t.deepEqual(issues('retention', { ...range, source: 'web' }), [
    { path: '/source', message: 'is not a parameter of this report' },
  ]);
  t.deepEqual(issues('dau', { ...range, kind: 'everything' }), [
    { path: '/kind', message: 'must be one of: telemetry, domain' },
  ]);
  t.deepEqual(issues('dau', { ...range, source: 'web,,ios,web' }), [
    { path: '/source/1', message: 'must not be empty' },
    { path: '/source/3', message: 'is given twice' },
  ]);
  t.deepEqual(issues('dau', { ...range, type: Array.from({ length: 21 }, (_, i) => `t${i}`).join(',') }), [
    { path: '/type', message: 'must have at most 20 values' },
  ]);
});

test('funnel steps and window, and retention days, are checked', (t) => {
  t.deepEqual(issues('funnel', range), [{ path: '/steps', message: 'is required' }]);
  t.deepEqual(issues('funnel', { ...range, steps: 'a' }), [
    { path: '/steps', message: 'must have at least 2 values' },
  ]);
  t.deepEqual(issues('funnel', { ...range, steps: 'a,b,a' }), [
    { path: '/steps/2', message: 'is given twice' },
  ]);
  t.deepEqual(issues('funnel', { ...range, steps: 'a,b,c,d,e,f,g,h,i,j,k' }), [
    { path: '/steps', message: 'must have at most 10 values' },
  ]);
  for (const window of ['0', '-5', '1.5', 'soon', '7776001'])
    t.is(issues('funnel', { ...range, steps: 'a,b', window })[0]?.path, '/window', window);
  t.deepEqual(issues('funnel', { ...range, steps: 'a,b', window: '7776000' }), []);
  t.deepEqual(issues('retention', { ...range, days: '0,366,x,7' }), [
    { path: '/days/0', message: 'must be a whole number from 1 to 365' },
    { path: '/days/1', message: 'must be a whole number from 1 to 365' },
    { path: '/days/2', message: 'must be a whole number from 1 to 365' },
  ]);
  t.deepEqual(issues('retention', { ...range, days: '7,07' }), [
    { path: '/days', message: 'must not repeat a day' },
  ]);
});

test('weeks start on Monday and months on the first, across year ends and leap days', (t) => {
  t.is(mondayOf('2024-03-31'), '2024-03-25', 'a Sunday');
  t.is(mondayOf('2024-03-25'), '2024-03-25', 'a Monday');
  t.is(mondayOf('2025-01-01'), '2024-12-30');
  t.deepEqual(weeksFrom('2024-12-31', '2025-01-13'), ['2024-12-30', '2025-01-06', '2025-01-13']);
  t.deepEqual(monthsFrom('2023-12-31', '2024-02-01'), ['2023-12-01', '2024-01-01', '2024-02-01']);
  t.deepEqual(daysFrom('2024-02-28', '2024-03-01'), ['2024-02-28', '2024-02-29', '2024-03-01']);
  t.is(addDays('2024-12-31', 365), '2025-12-31');
});

test('an unknown report is a 404, whatever the name looks like', (t) => {
  for (const name of ['nope', '__proto__', 'constructor', 'toString', 'DAU', '']) {
    const error = t.throws(() => reportNamed(name), { instanceOf: Problem }, name);
    t.is(error?.kind, 'not_found');
    t.is(error?.code, 'unknown_report');
  }
  t.is(reportNamed('funnel'), analyticsReports.funnel);
});

test('values reach the SQL only as quoted literals', async (t) => {
  // A real adapter that never connects: building SQL does no I/O.
  const store = clickhouseStore({ url: 'http://127.0.0.1:9/lectern' });
  try {
    const hostile = "web' OR 1=1 --";
    const dau = analyticsReports.dau.sql(store, { ...range, source: [hostile], type: ['x\\'] }).text;
    t.true(dau.includes(`source IN ('web\\' OR 1=1 --')`), dau);
    t.true(dau.includes(`type IN ('x\\\\')`), dau);
    const funnel = analyticsReports.funnel.sql(store, { ...range, steps: [hostile, 'b'], window: 60 }).text;
    t.false(funnel.includes(`'web' OR`), funnel);
  } finally {
    await store.close();
  }
});

test('an engine that cannot answer is a 503; a wrong query stays a bug', (t) => {
  const down = unavailableProblem(new AnalyticsError('connect ECONNREFUSED'));
  t.true(down instanceof Problem && down.kind === 'unavailable' && down.code === 'analytics_unavailable');
  const memory = unavailableProblem(new AnalyticsError('Memory limit exceeded', { clickhouseCode: 241 }));
  t.true(memory instanceof Problem && memory.kind === 'unavailable');
  const syntax = new AnalyticsError('Syntax error', { clickhouseCode: 62 });
  t.is(unavailableProblem(syntax), syntax);
  const bug = new TypeError('oops');
  t.is(unavailableProblem(bug), bug);
});

test("each report's operation documents exactly the parameters that report takes", (t) => {
  const doc = openApiDocument({ title: 't', version: '1' }, analyticsReportsApi, {});
  for (const report of Object.values(analyticsReports)) {
    const op = doc.paths[`/api/analytics/reports/${report.name}`]?.get;
    t.truthy(op, report.name);
    const documented = op!.parameters!.filter((p) => p.in === 'query').map((p) => p.name);
    // Probe the report with every name any report reads (and one none does): it takes a name
    // exactly when its operation lists it, so the document never offers what the report refuses.
    const takes = [
      'from',
      'to',
      'source',
      'type',
      'kind',
      'days',
      'course',
      'steps',
      'window',
      'limit',
    ].filter(
      (key) =>
        !issues(report.name as never, { [key]: 'x' }).some((i) => i.message.startsWith('is not a parameter')),
    );
    t.deepEqual([...documented].sort(), takes.sort(), report.name);
    const required = op!.parameters!.filter((p) => p.required).map((p) => p.name);
    t.true(
      ['from', 'to'].every((k) => required.includes(k)),
      `${report.name} requires the range`,
    );
  }
  t.deepEqual(Object.keys(doc.paths).length, analyticsReportNames.length);
  t.deepEqual(jsonSchemaOf(analyticsReportsApi[0]!.query!.from!).format, 'date');
});
