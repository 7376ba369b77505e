import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyticsSchema } from '@lectern/analytics-projection-events/schema';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { dataPlan, type DataPlan } from './analytics-data.ts';
import { ingestSection, type IngestPlan } from './analytics-ingest.ts';
import {
  load,
  rangeOf,
  REPORT_NAMES,
  reportCases,
  timeReports,
  type ReportTiming,
} from './analytics-reports.ts';
import { benchId, packageVersion, type Engines } from './engines.ts';
import { progress } from './stats.ts';
import type { TargetCheck } from './targets.ts';

export type AnalyticsPlan = Readonly<{
  /** What to run (BENCH_ANALYTICS=reports or =ingest picks one; default both). */
  parts: readonly ('reports' | 'ingest')[];
  reports: Readonly<{ rows: number; warmup: number; runs: number; settleTimeoutMs: number }>;
  ingest: IngestPlan;
}>;

/** Targets of issue 4, printed beside the figures (the product's old bars in brackets). */
export const ANALYTICS_TARGETS = {
  rawReportMs: 150,
  rollupReportMs: 50,
  oldReportBarMs: 2000,
  ingestPerSecond: 100_000,
  oldIngestBarPerSecond: 5000,
} as const;

type Failure = { error: string };
const failure = (label: string, error: unknown): Failure => {
  progress(`analytics ${label} failed: ${(error as Error).stack ?? String(error)}`);
  return { error: `${(error as Error).name}: ${(error as Error).message}` };
};

type EngineReports = Readonly<{
  engine: 'chdb' | 'clickhouse';
  version: string | null;
  load: Omit<Awaited<ReturnType<typeof load>>, 'totals'>;
  reports: readonly (ReportTiming & { target: string; met: boolean })[];
}>;

const withTargets = (timings: readonly ReportTiming[]) =>
  timings.map((t) => {
    const limit = t.source === 'raw' ? ANALYTICS_TARGETS.rawReportMs : ANALYTICS_TARGETS.rollupReportMs;
    return { ...t, target: `p50 <= ${limit} ms`, met: t.latencyMs.p50 <= limit };
  });

/** Loads the plan into `store` (fresh, empty) and times every report on it. */
const reportsOn = async (
  store: AnalyticsStore,
  data: DataPlan,
  plan: AnalyticsPlan['reports'],
): Promise<EngineReports> => {
  const label = store.engine;
  await store.ensureSchema(analyticsSchema(store.database));
  const [v] = await store.query<{ v: string }>(ch`SELECT version() AS v`);
  progress(`analytics ${label}: loading ${data.targetRows} rows (${data.users} users, ${data.days} days)`);
  const { totals: _totals, ...loaded } = await load(store, data, {
    settleTimeoutMs: plan.settleTimeoutMs,
    label,
  });
  progress(
    `analytics ${label}: ${loaded.rows} rows at ${loaded.rowsPerSecond}/s (insert) / ${loaded.wallRowsPerSecond}/s (with generation); ${loaded.activeParts} parts`,
  );
  const timings = await timeReports(store, reportCases(store, rangeOf(data)), plan);
  for (const t of timings)
    progress(
      `analytics ${label} ${t.report} (${t.source}): p50 ${t.latencyMs.p50} ms, p90 ${t.latencyMs.p90} ms, max ${t.latencyMs.max} ms`,
    );
  return { engine: store.engine, version: v?.v ?? null, load: loaded, reports: withTargets(timings) };
};

/** chDB in this process, on a temporary folder removed afterwards. */
const chdbReports = async (data: DataPlan, plan: AnalyticsPlan['reports']): Promise<EngineReports> => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-bench-chdb-'));
  const store = chdbStore({ path: join(dir, 'chdb'), database: 'lectern' });
  try {
    return await reportsOn(store, data, plan);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
};

/** The ClickHouse server CLICKHOUSE_URL names, in a `bench_<random>` database dropped afterwards. */
const clickhouseReports = async (
  url: string,
  data: DataPlan,
  plan: AnalyticsPlan['reports'],
): Promise<EngineReports> => {
  const database = benchId();
  const store = clickhouseStore({ url, database });
  try {
    return await reportsOn(store, data, plan);
  } finally {
    await store
      .exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`)
      .catch((e: unknown) => progress(`could not drop ClickHouse database ${database}: ${String(e)}`));
    await store.close();
  }
};

/** Whether the same report gave the same rows: rollup vs raw on each engine, and engine vs engine. */
const agreement = (results: readonly (EngineReports | Failure)[]) => {
  const ok = results.filter((r): r is EngineReports => 'reports' in r);
  const digest = (r: EngineReports, report: string, source: string) =>
    r.reports.find((x) => x.report === report && x.source === source)?.resultDigest;
  const out: Record<string, unknown> = {};
  for (const r of ok)
    out[`${r.engine}RollupEqualsRaw`] = Object.fromEntries(
      r.reports
        .filter((x) => x.source === 'rollup')
        .map((x) => [x.report, x.resultDigest === digest(r, x.report, 'raw')]),
    );
  const [a, b] = ok;
  if (a && b)
    out.sameResultsOnBothEngines = Object.fromEntries(
      a.reports.map((x) => [`${x.report}.${x.source}`, x.resultDigest === digest(b, x.report, x.source)]),
    );
  return out;
};

/**
 * `npm run bench -- analytics`:
 * 1. Reports: the generated data (analytics-data.ts) loaded by direct
 *    `store.insert` into chDB (this process, a temporary folder) and into the
 *    ClickHouse server (CLICKHOUSE_URL, a database of its own), then every
 *    report of `@lectern/analytics-queries` (DAU, WAU, MAU, retention,
 *    course completion, the sign-up funnel) timed from raw `events` and from
 *    its rollup where it has one.
 * 2. Ingest: HTTP → log → ClickHouse, see analytics-ingest.ts.
 */
export const analyticsSection = async (
  engines: Engines,
  clickhouseUrl: string | null,
  plan: AnalyticsPlan,
) => {
  const data = dataPlan(plan.reports.rows);
  const result: Record<string, unknown> = {};
  if (plan.parts.includes('reports'))
    result.reports = await reportsSection(clickhouseUrl, data, plan.reports);
  if (plan.parts.includes('ingest'))
    result.ingest = await ingestSection(engines, clickhouseUrl, plan.ingest).catch((e: unknown) =>
      failure('ingest', e),
    );
  return result;
};

const reportsSection = async (
  clickhouseUrl: string | null,
  data: DataPlan,
  plan: AnalyticsPlan['reports'],
) => {
  const chdb = await chdbReports(data, plan).catch((e: unknown) => failure('chdb reports', e));
  const clickhouse = clickhouseUrl
    ? await clickhouseReports(clickhouseUrl, data, plan).catch((e: unknown) =>
        failure('clickhouse reports', e),
      )
    : { skipped: 'CLICKHOUSE_URL not set' };
  return {
    method:
      `deterministic data (analytics-data.ts, seed ${data.seed}): ${data.users} users over ${data.days} days from ${rangeOf(data).from}, ` +
      `sign-up funnel, course sessions, ${data.duplicateRate * 100} % copies; loaded with store.insert in batches of ${data.batchRows}, ` +
      `then background merges awaited (at most ${plan.settleTimeoutMs / 1000} s); each report over the whole range, ` +
      `${plan.warmup} warm-up + ${plan.runs} timed runs, reports interleaved; latency = wall time of store.query in this process ` +
      `(chDB in process; ClickHouse over HTTP on loopback)`,
    targets: {
      raw: `p50 <= ${ANALYTICS_TARGETS.rawReportMs} ms (old bar ${ANALYTICS_TARGETS.oldReportBarMs} ms)`,
      rollup: `p50 <= ${ANALYTICS_TARGETS.rollupReportMs} ms`,
    },
    chdbPackage: await packageVersion('chdb'),
    chdb,
    clickhouse,
    agreement: agreement([chdb, ...('reports' in clickhouse ? [clickhouse] : [])]),
  };
};

const at = (root: unknown, path: readonly (string | number)[]): unknown =>
  path.reduce<unknown>(
    (node, key) =>
      node && typeof node === 'object' ? (node as Record<string | number, unknown>)[key] : undefined,
    root,
  );

/** The analytics figures against their targets, for the document's `targets` list. */
export const analyticsTargets = (section: unknown): TargetCheck[] => {
  const checks: TargetCheck[] = [];
  for (const engine of ['chdb', 'clickhouse'] as const) {
    const measured = at(section, ['reports', engine, 'reports']);
    // What was measured; where nothing was, the raw reports stand as unmeasured.
    const reports: readonly { report: string; source: string; latencyMs: { p50: number } | null }[] =
      Array.isArray(measured)
        ? (measured as ReportTiming[])
        : REPORT_NAMES.map((report) => ({ report, source: 'raw', latencyMs: null }));
    for (const r of reports) {
      const limit = r.source === 'raw' ? ANALYTICS_TARGETS.rawReportMs : ANALYTICS_TARGETS.rollupReportMs;
      const actual = r.latencyMs?.p50 ?? null;
      checks.push({
        name: `analytics ${r.report} from ${r.source === 'raw' ? 'raw events' : 'rollup'}, ${engine}, p50`,
        target: `<= ${limit}`,
        actual,
        unit: 'ms',
        met: actual === null ? null : actual <= limit,
      });
    }
  }
  // The target is about HTTP → log → ClickHouse; the embedded figures stand without one.
  for (const [key, label] of [
    ['acceptedPerSecond', 'accepted over HTTP'],
    ['endToEndPerSecond', 'HTTP → Kafka → ClickHouse, end to end'],
  ] as const) {
    const v = at(section, ['ingest', 'clickhouse', key]);
    const actual = typeof v === 'number' ? v : null;
    checks.push({
      name: `analytics ingest, ${label} (PostgreSQL + Kafka + ClickHouse)`,
      target: `>= ${ANALYTICS_TARGETS.ingestPerSecond}`,
      actual,
      unit: 'events/s',
      met: actual === null ? null : actual >= ANALYTICS_TARGETS.ingestPerSecond,
    });
  }
  return checks;
};
