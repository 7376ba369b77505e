import { readFileSync } from 'node:fs';
import test from 'ava';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { apiDocument } from '@lectern/server/openapi';
import { dashboards, panelsOf, queriesOf } from './dashboards.ts';
import { staleFiles } from './generate.ts';
import { ruleGroups } from './rules.ts';
import { routeGroups } from './slo.ts';

/**
 * The names a scrape of any process can show: read from the registry the
 * composition root builds (createMetrics), not from a list kept by hand, so
 * a renamed or removed metric fails here rather than in an empty panel.
 */
const exported = async (): Promise<Set<string>> => {
  const names = new Set<string>();
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    // prom-client's types say an enum; what it returns is the exposition's word.
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
};

const FUNCTION_LIKE = /^(by|without|on|ignoring|group_left|group_right)$/;
const OPERATORS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'Inf', 'NaN', 'inf', 'nan']);

/** The metric names a PromQL expression reads (functions, labels, strings and durations left out). */
export const metricNames = (expr: string): string[] => {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$[A-Za-z_]+/g, '');
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = s[m.index - 1] ?? ' ';
    const after = s.slice(m.index + m[0].length).trimStart()[0];
    if (/[0-9.]/.test(before) || after === '(' || FUNCTION_LIKE.test(m[0]) || OPERATORS.has(m[0])) continue;
    names.push(m[0]);
  }
  return names;
};

test('metricNames finds the metrics of an expression and nothing else', (t) => {
  t.deepEqual(
    metricNames(
      'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route=~"x|y",le="1"}[5m]))) / on (x) b:rec offset 1d > 1e3 and c unless vector(0)',
    ),
    ['a_bucket', 'b:rec', 'c'],
  );
  t.deepEqual(
    metricNames(
      'label_replace(sum by (reactor) (rate(d_total[$__rate_interval])), "consumer", "$1", "reactor", "(.*)")',
    ),
    ['d_total'],
  );
});

test('the generated rules and dashboards are what the code makes', async (t) => {
  t.deepEqual(await staleFiles(), [], 'run ./dev obs-generate and commit the result');
});

test("every panel's query and every rule reads a metric the processes export or a rule records", async (t) => {
  const names = await exported();
  const recorded = new Set(
    ruleGroups().flatMap((g) => g.rules.flatMap((r) => ('record' in r ? [r.record] : []))),
  );
  t.true(names.has('lectern_http_request_duration_seconds_bucket'), 'the registry was read');
  t.true(recorded.has('lectern:slo_errors:ratio_rate1h'));

  const unknown = (expr: string) =>
    metricNames(expr).filter((n) => (n.includes(':') ? !recorded.has(n) : !names.has(n)));
  let queries = 0;
  for (const [file, d] of Object.entries(dashboards())) {
    for (const q of queriesOf(d)) {
      queries += 1;
      t.true(metricNames(q.expr).length > 0, `${file} "${q.panel}" reads no metric: ${q.expr}`);
      t.deepEqual(unknown(q.expr), [], `${file} "${q.panel}": ${q.expr}`);
    }
  }
  for (const g of ruleGroups())
    for (const r of g.rules)
      t.deepEqual(unknown(r.expr), [], `${g.name} ${'record' in r ? r.record : r.alert}`);
  t.true(queries > 40, `${queries} queries`);
});

test('dashboards: unique uids, every panel queried, one per context plus the API and the pipeline', (t) => {
  const all = Object.values(dashboards());
  t.is(new Set(all.map((d) => d.uid)).size, all.length);
  t.deepEqual(
    all.map((d) => d.uid),
    [
      'lectern-api',
      'lectern-pipeline',
      ...['identity', 'profile', 'content', 'chat', 'notifications', 'analytics'].map((c) => `lectern-${c}`),
    ],
  );
  for (const d of all)
    for (const p of panelsOf(d)) t.true((p.targets ?? []).length > 0, `${d.uid} "${p.title}"`);
});

test('route groups never overlap and cover every route of the API document', (t) => {
  // The document the server serves, made here: docs/api is generated, not committed.
  const doc = apiDocument() as { paths: Record<string, unknown> };
  // The route label is Express's path: `/api/courses/:courseId`, not `{courseId}`.
  const routes = Object.keys(doc.paths)
    .map((p) => p.replace(/\{([^}]+)\}/g, ':$1'))
    .filter((p) => !p.startsWith('/api/dev/')); // development only, absent in production
  const anchored = routeGroups.map((g) => ({ name: g.name, re: new RegExp(`^(?:${g.routes})$`) }));
  for (const route of routes) {
    const groups = anchored.filter((g) => g.re.test(route)).map((g) => g.name);
    t.is(groups.length, 1, `${route} is in ${groups.length ? groups.join(', ') : 'no group'}`);
  }
});

test("docs/operations.md states every route group's p95 target as slo.ts does", (t) => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  const said = (seconds: number | null) =>
    seconds === null ? '— (availability only)' : seconds < 1 ? `${seconds * 1000} ms` : `${seconds} s`;
  for (const g of routeGroups) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${g.name}\` |`));
    t.truthy(row, `no row for ${g.name}`);
    t.is(row?.split(' | ')[2], said(g.p95Seconds), g.name);
  }
});
