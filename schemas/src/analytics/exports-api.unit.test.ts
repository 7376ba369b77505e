import test from 'ava';
import { openApiDocument } from '../openapi.ts';
import { jsonSchemaOf } from '../validation.ts';
import { analyticsReportNames, reportQuery } from './reports-api.ts';
import {
  analyticsExportsApi,
  analyticsExportsTags,
  eventsExportParams,
  exportFileName,
  reportExportQuery,
} from './exports-api.ts';

const pointers = (r: ReturnType<typeof eventsExportParams>) =>
  r.ok ? [] : r.issues.map((i) => i.path).sort();

test('the events export takes a range, lists and a kind, and csv by default', (t) => {
  t.deepEqual(eventsExportParams({ from: '2026-03-01', to: '2026-03-07' }), {
    ok: true,
    value: { format: 'csv', from: '2026-03-01', to: '2026-03-07' },
  });
  t.deepEqual(
    eventsExportParams({
      format: 'xlsx',
      from: '2026-03-01',
      to: '2026-03-01',
      type: ['a.b,c.D', 'e'],
      source: ' web , ios ',
      kind: 'domain',
    }),
    {
      ok: true,
      value: {
        format: 'xlsx',
        from: '2026-03-01',
        to: '2026-03-01',
        type: ['a.b', 'c.D', 'e'],
        source: ['web', 'ios'],
        kind: 'domain',
      },
    },
  );
});

test('every problem of an events export is reported at once, each at its pointer', (t) => {
  t.deepEqual(pointers(eventsExportParams({})), ['/from', '/to']);
  t.deepEqual(pointers(eventsExportParams({ from: '2026-03-02', to: '2026-03-01' })), ['/to']);
  t.deepEqual(pointers(eventsExportParams({ from: '2026-01-01', to: '2027-01-02' })), ['/to']);
  t.deepEqual(
    pointers(eventsExportParams({ format: 'pdf', from: '2026-02-30', to: 'x', user: 'u', kind: 'both' })),
    ['/format', '/from', '/kind', '/to', '/user'],
  );
  t.deepEqual(
    pointers(eventsExportParams({ format: ['csv', 'xlsx'], from: '2026-03-01', to: '2026-03-01' })),
    ['/format'],
  );
  t.deepEqual(pointers(eventsExportParams({ from: '2026-03-01', to: '2026-03-01', toString: 'x' })), [
    '/toString',
  ]);
});

test("a report export's format is split from the report's own parameters", (t) => {
  t.deepEqual(reportExportQuery({ from: 'a', to: 'b' }), {
    format: { ok: true, value: 'csv' },
    params: { from: 'a', to: 'b' },
  });
  t.deepEqual(reportExportQuery({ format: 'xlsx', steps: 'x,y' }), {
    format: { ok: true, value: 'xlsx' },
    params: { steps: 'x,y' },
  });
  t.false(reportExportQuery({ format: 'XLSX' }).format.ok);
});

test('file names keep letters, digits, dots, dashes and underscores only', (t) => {
  t.is(exportFileName(['dau', '2026-03-01', '2026-03-31'], 'csv'), 'dau-2026-03-01-2026-03-31.csv');
  t.is(
    exportFileName(['course-completion', '2026-03-01', '2026-03-31'], 'xlsx'),
    'course-completion-2026-03-01-2026-03-31.xlsx',
  );
  t.is(exportFileName(['a"b', 'c\r\nd', '../e'], 'csv'), 'a_b-c_d-.._e.csv');
  t.is(exportFileName(['', '..'], 'csv'), 'export.csv');
  t.true(exportFileName(['x'.repeat(500)], 'csv').length <= 124);
});

test('the document describes both downloads: their media types, roles, errors and own parameters', (t) => {
  const doc = openApiDocument({ title: 't', version: '1' }, analyticsExportsApi, analyticsExportsTags);
  const report = doc.paths['/api/analytics/reports/funnel/export']?.get;
  const events = doc.paths['/api/analytics/events/export']?.get;
  for (const op of [report, events]) {
    t.truthy(op);
    t.deepEqual(Object.keys(op!.responses['200']!.content!).sort(), [
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'text/csv',
    ]);
    t.truthy(op!.responses['200']!.headers?.['Content-Disposition']);
    t.deepEqual(op!['x-roles'], ['admin', 'analyst']);
    t.true(op!.parameters!.some((p) => p.name === 'format' && p.in === 'query'));
  }
  t.deepEqual(Object.keys(report!.responses).sort(), ['200', '400', '401', '403', '503']);
  t.deepEqual(Object.keys(events!.responses).sort(), ['200', '400', '401', '403', '503']);
  const params = (op: typeof report) => op!.parameters!.map((p) => [p.name, p.required]);
  // Each report lists only what it takes; what it requires is marked.
  t.deepEqual(params(report), [
    ['format', false],
    ['from', true],
    ['to', true],
    ['steps', true],
    ['window', false],
    ['source', false],
  ]);
  t.deepEqual(params(events), [
    ['format', false],
    ['from', true],
    ['to', true],
    ['type', false],
    ['source', false],
    ['kind', false],
  ]);
  for (const name of analyticsReportNames)
    t.truthy(doc.paths[`/api/analytics/reports/${name}/export`]?.get, name);
  t.deepEqual(
    doc.tags.map((x) => x.name),
    ['analytics-exports'],
  );
});

test('the documented patterns of the report lists take what the validators take (distinctness aside)', (t) => {
  const samples: Record<'days' | 'steps' | 'source', string[]> = {
    days: [
      '1',
      '1,7,14,30',
      ' 1 , 7 ',
      '1,2,3,4,5,6,7,8,9,10',
      '1,2,3,4,5,6,7,8,9,10,11',
      '0',
      '366',
      '365',
      'a',
      '1,,2',
      '',
    ],
    steps: ['a', 'a,b', 'a,b,c,d,e,f,g,h,i,j', 'a,b,c,d,e,f,g,h,i,j,k', 'a,,b', ' ,a', 'a\u0000,b'],
    source: ['web', 'web,ios', '', ',', ' web ', 'x\u0000'],
  };
  for (const [name, values] of Object.entries(samples) as [keyof typeof samples, string[]][]) {
    const pattern = new RegExp(jsonSchemaOf(reportQuery[name]).pattern as string);
    for (const v of values) t.is(pattern.test(v), reportQuery[name](v).ok, `${name}=${JSON.stringify(v)}`);
  }
});
