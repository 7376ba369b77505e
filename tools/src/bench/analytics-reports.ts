import { createHash } from 'node:crypto';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { utcDay } from '@lectern/analytics-projection-events/schema';
import { ch, type ChSql } from '@lectern/infra/analytics/sql';
import { analyticsReports, type ReportSource } from '@lectern/analytics-queries/reports';
import type { AnalyticsReportName } from '@lectern/schemas/analytics/reports-api';
import {
  DAY_MS,
  emptyTotals,
  generateEvents,
  type DataPlan,
  type GeneratedTotals,
} from './analytics-data.ts';
import { perSecond, progress, round, sleep, summarize, type LatencySummary } from './stats.ts';

/** The reports timed: every report the analytics context serves. */
export const REPORT_NAMES = ['dau', 'wau', 'mau', 'retention', 'course-completion', 'funnel'] as const;
export type ReportName = (typeof REPORT_NAMES)[number] & AnalyticsReportName;

/** One query the bench times: a report, read from raw `events` or from a rollup. */
export type ReportCase = Readonly<{ report: ReportName; source: ReportSource; sql: ChSql }>;

/** The period the reports cover: the whole generated range, as UTC days. */
export type ReportRange = Readonly<{ from: string; to: string }>;

export const rangeOf = (plan: DataPlan): ReportRange => ({
  from: utcDay(plan.startMs),
  to: utcDay(plan.startMs + (plan.days - 1) * DAY_MS),
});

/** The sign-up funnel the generator makes, as the funnel report's steps. */
export const SIGNUP_FUNNEL = ['signup.viewed', 'signup.submitted', 'signup.verified'] as const;

/**
 * The report queries, from the reports' own definitions
 * (`@lectern/analytics-queries`), with the parameters a client would send
 * in the query string (validated by the reports' own validators): every
 * report over the whole generated range, retention with its default days,
 * the funnel over the sign-up steps within a day. A report whose rollup SQL
 * is its raw SQL has no rollup, and is timed once.
 */
export const reportCases = (store: AnalyticsStore, range: ReportRange): ReportCase[] => {
  const query: Readonly<Record<ReportName, Readonly<Record<string, string | readonly string[]>>>> = {
    dau: range,
    wau: range,
    mau: range,
    retention: range,
    'course-completion': range,
    funnel: { ...range, steps: [...SIGNUP_FUNNEL], window: '86400' },
  };
  return REPORT_NAMES.flatMap((name) => {
    const report = analyticsReports[name];
    const params = report.params(query[name]);
    if (!params.ok) throw new Error(`the bench's parameters of ${name}: ${JSON.stringify(params.issues)}`);
    const raw = report.sql(store, params.value, { source: 'raw' });
    const rollup = report.sql(store, params.value, { source: 'rollup' });
    return [
      { report: name, source: 'raw' as const, sql: raw },
      ...(rollup.text === raw.text ? [] : [{ report: name, source: 'rollup' as const, sql: rollup }]),
    ];
  });
};

export type LoadResult = Readonly<{
  rows: number;
  events: number;
  duplicates: number;
  users: number;
  batchRows: number;
  /** Time inside `store.insert` only. */
  insertSeconds: number;
  rowsPerSecond: number;
  /** Generating the rows too (the generator runs in this process, between inserts). */
  wallSeconds: number;
  wallRowsPerSecond: number;
  /** Seconds waited after the load for background merges to finish, and the parts left then. */
  settleSeconds: number;
  activeParts: number | null;
}>;

/**
 * Loads the plan's rows by direct `store.insert`, batch by batch as the
 * generator yields them, then waits (bounded) until the engine's background
 * merges are done, so that the queries timed next do not share the machine
 * with a merge started by the load.
 */
export const load = async (
  store: AnalyticsStore,
  plan: DataPlan,
  opts: { settleTimeoutMs: number; label: string },
): Promise<LoadResult & { totals: GeneratedTotals }> => {
  const totals = emptyTotals();
  const t0 = performance.now();
  let inserting = 0;
  let lastReport = t0;
  for (const batch of generateEvents(plan, totals)) {
    const t = performance.now();
    await store.insert('events', batch);
    inserting += performance.now() - t;
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      progress(`analytics ${opts.label}: ${totals.rows} rows loaded`);
    }
  }
  const wall = performance.now() - t0;
  const s0 = performance.now();
  const merging = async (): Promise<number> => {
    const [row] = await store.query<{ n: number }>(
      ch`SELECT count() AS n FROM system.merges WHERE database = ${store.database}`,
    );
    return row?.n ?? 0;
  };
  while ((await merging()) > 0 && performance.now() - s0 < opts.settleTimeoutMs) await sleep(500);
  const [parts] = await store
    .query<{ n: number }>(
      ch`SELECT count() AS n FROM system.parts WHERE database = ${store.database} AND table = 'events' AND active`,
    )
    .catch(() => [{ n: null }]);
  return {
    totals,
    rows: totals.rows,
    events: totals.events,
    duplicates: totals.duplicates,
    users: totals.users,
    batchRows: plan.batchRows,
    insertSeconds: round(inserting / 1000, 2),
    rowsPerSecond: perSecond(totals.rows, inserting),
    wallSeconds: round(wall / 1000, 2),
    wallRowsPerSecond: perSecond(totals.rows, wall),
    settleSeconds: round((performance.now() - s0) / 1000, 1),
    activeParts: parts?.n ?? null,
  };
};

export type ReportTiming = Readonly<{
  report: ReportName;
  source: ReportSource;
  /** Wall time of `store.query` (engine, transfer and parsing), one sample per run after the warm-up. */
  latencyMs: LatencySummary;
  resultRows: number;
  /** SHA-256 of the result as JSON, to compare sources and engines. */
  resultDigest: string;
}>;

export const digestOf = (rows: readonly unknown[]): string =>
  createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16);

/** Times every case: `warmup` runs not counted, then `runs` samples, cases interleaved run by run. */
export const timeReports = async (
  store: AnalyticsStore,
  cases: readonly ReportCase[],
  opts: { warmup: number; runs: number },
): Promise<ReportTiming[]> => {
  const samples = cases.map(() => [] as number[]);
  const results: unknown[][] = cases.map(() => []);
  for (let run = 0; run < opts.warmup + opts.runs; run++) {
    for (const [i, c] of cases.entries()) {
      const t = performance.now();
      const rows = await store.query(c.sql);
      const ms = performance.now() - t;
      if (run >= opts.warmup) samples[i]!.push(ms);
      results[i] = rows;
    }
  }
  return cases.map((c, i) => ({
    report: c.report,
    source: c.source,
    latencyMs: summarize(samples[i]!),
    resultRows: results[i]!.length,
    resultDigest: digestOf(results[i]!),
  }));
};

/** The ClickHouse server's `version()`. */
export const clickhouseVersion = async (url: string): Promise<string> => {
  const store = clickhouseStore({ url });
  try {
    const [row] = await store.query<{ v: string }>(ch`SELECT version() AS v`);
    return row?.v ?? 'unknown';
  } finally {
    await store.close();
  }
};
