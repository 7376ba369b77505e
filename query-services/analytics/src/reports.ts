import { AnalyticsError, type AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { ch, ident, join, type ChSql } from '@lectern/infra/analytics/sql';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import type { Validator } from '@lectern/schemas';
import {
  analyticsReportNames,
  reportParameters,
  reportParams,
  REPORT_LIMITS,
  type AnalyticsReportName,
} from '@lectern/schemas/analytics/reports-api';

/**
 * The analytics reports: one definition each, shared by the report route
 * (JSON) and the exports (CSV, XLSX), so a report means the same wherever
 * it is read. docs/analytics.md defines each for analysts.
 *
 * Every report is one SELECT that ClickHouse 18.16 and chDB (26.x) both run
 * and answer identically, over a range of UTC days. None counts an event
 * twice: the log delivers at least once and `events` collapses copies only
 * when its parts merge, so users are counted with `uniqExact` or by grouping
 * by user, and rollups hold distinct facts or minima.
 */

export type ReportColumn = Readonly<{ name: string; type: 'date' | 'string' | 'integer' | 'number' }>;

/**
 * Where a report reads from: `raw` scans `events`; `rollup` reads a
 * pre-aggregated table (`user_days`, `user_first_seen`) where one can answer
 * the question asked, and `events` otherwise. Both give the same rows.
 */
export type ReportSource = 'raw' | 'rollup';

export type Report<P> = Readonly<{
  name: string;
  description: string;
  /** Reads the query-string values (strings, or arrays of them for repeated names). */
  params: Validator<P>;
  /** The SELECT's columns, in order: each row has exactly these keys. */
  columns: readonly ReportColumn[];
  /** The SELECT; from rollups where one serves, unless `opts.source` is `raw`. */
  sql(store: AnalyticsStore, params: P, opts?: { source?: ReportSource }): ChSql;
}>;

type Range = Readonly<{ from: string; to: string }>;

export type ActiveUsersParams = Range &
  Readonly<{ source?: readonly string[]; type?: readonly string[]; kind?: 'telemetry' | 'domain' }>;
export type RetentionParams = Range & Readonly<{ days: readonly number[] }>;
export type CourseCompletionParams = Range & Readonly<{ course?: readonly string[] }>;
export type FunnelParams = Range &
  Readonly<{ steps: readonly string[]; window: number; source?: readonly string[] }>;

/**
 * The event types course completion reads. Telemetry today; the domain
 * events of course progress join these lists when the content context
 * emits them. Each must carry the course as `courseId` in its payload.
 */
export const COURSE_STARTED_TYPES: readonly string[] = ['course.started'];
export const COURSE_COMPLETED_TYPES: readonly string[] = ['course.completed'];

/* Calendar arithmetic on UTC days (`YYYY-MM-DD`), done here so that the SQL gets literals. */

const DAY_MS = 86_400_000;
const msOf = (day: string): number => Date.parse(`${day}T00:00:00Z`);
const dayOf = (t: number): string => new Date(t).toISOString().slice(0, 10);

/** `day` plus `n` days. */
export const addDays = (day: string, n: number): string => dayOf(msOf(day) + n * DAY_MS);
/** The Monday of `day`'s week, as ClickHouse's `toMonday`. */
export const mondayOf = (day: string): string => addDays(day, -((new Date(msOf(day)).getUTCDay() + 6) % 7));
/** The first of `day`'s month, as ClickHouse's `toStartOfMonth`. */
export const monthOf = (day: string): string => `${day.slice(0, 7)}-01`;

/** Every day from `from` to `to`, both included. */
export const daysFrom = (from: string, to: string): string[] => {
  const out: string[] = [];
  for (let t = msOf(from); t <= msOf(to); t += DAY_MS) out.push(dayOf(t));
  return out;
};
/** The Mondays of the weeks that overlap `from`…`to`. */
export const weeksFrom = (from: string, to: string): string[] => {
  const out: string[] = [];
  for (let d = mondayOf(from); d <= to; d = addDays(d, 7)) out.push(d);
  return out;
};
/** The first of the month after `day`'s. */
export const nextMonth = (day: string): string =>
  dayOf(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(5, 7)), 1));
/** The firsts of the months that overlap `from`…`to`. */
export const monthsFrom = (from: string, to: string): string[] => {
  const out: string[] = [];
  for (let d = monthOf(from); d <= to; d = nextMonth(d)) out.push(d);
  return out;
};

const date = (d: string): ChSql => ch`toDate(${d})`;

/** The events a report counts: those of a user, from the sources, of the types and kind asked for. */
const eventFilter = (
  p: Readonly<{ source?: readonly string[]; type?: readonly string[]; kind?: string }>,
) => {
  const parts: ChSql[] = [ch`user_id != ''`];
  if (p.source) parts.push(ch`source IN (${p.source})`);
  if (p.type) parts.push(ch`type IN (${p.type})`);
  if (p.kind) parts.push(ch`kind = ${p.kind}`);
  return join(parts, ' AND ');
};

type Buckets = Readonly<{ list: readonly string[]; first: string; last: string }>;

/**
 * Distinct active users per bucket (day, week or month), with a row for
 * every bucket of the range, zero where nobody was active. The zeros come
 * from a literal list of buckets, added (`UNION ALL`, then summed) rather
 * than joined: 18.16 and 26.x differ in join details, never in sums.
 *
 * `user_days` serves when no filter is asked for: one row per user and day
 * (more until its parts merge, hence `uniqExact` there too), so a week
 * counts a user once however many days they were active.
 */
const activeUsers = (
  name: 'dau' | 'wau' | 'mau',
  column: 'day' | 'week' | 'month',
  description: string,
  bucketOf: (eventDate: ChSql) => ChSql,
  buckets: (p: Range) => Buckets,
): Report<ActiveUsersParams> => ({
  name,
  description,
  params: reportParams<ActiveUsersParams>(reportParameters[name].fields),
  columns: [
    { name: column, type: 'date' },
    { name: 'users', type: 'integer' },
  ],
  sql(store, p, opts = {}) {
    const { list, first, last } = buckets(p);
    const rollup = opts.source !== 'raw' && !p.source && !p.type && !p.kind;
    return ch`SELECT b AS ${ident(column)}, sum(n) AS users FROM (
        SELECT toDate(arrayJoin([${list}])) AS b, toUInt64(0) AS n
        UNION ALL
        SELECT ${bucketOf(ch`event_date`)} AS b, uniqExact(user_id) AS n
        FROM ${store.table(rollup ? 'user_days' : 'events')}
        WHERE event_date BETWEEN ${date(first)} AND ${date(last)} AND ${eventFilter(rollup ? {} : p)}
        GROUP BY b
      )
      GROUP BY b
      ORDER BY b`;
  },
});

const dau = activeUsers(
  'dau',
  'day',
  'Daily active users: distinct users with any event on each UTC day of the range.',
  (d) => d,
  ({ from, to }) => ({ list: daysFrom(from, to), first: from, last: to }),
);

const wau = activeUsers(
  'wau',
  'week',
  'Weekly active users: distinct users with any event in each week (Monday to Sunday, UTC) that overlaps ' +
    'the range; weeks are counted whole.',
  (d) => ch`toMonday(${d})`,
  ({ from, to }) => {
    const list = weeksFrom(from, to);
    return { list, first: list[0]!, last: addDays(list[list.length - 1]!, 6) };
  },
);

const mau = activeUsers(
  'mau',
  'month',
  'Monthly active users: distinct users with any event in each calendar month (UTC) that overlaps the ' +
    'range; months are counted whole.',
  (d) => ch`toStartOfMonth(${d})`,
  ({ from, to }) => {
    const list = monthsFrom(from, to);
    return { list, first: list[0]!, last: addDays(nextMonth(list[list.length - 1]!), -1) };
  },
);

/**
 * Day-N retention. A user's cohort is the UTC day they were first seen
 * (their first event ever, with a user id); cohorts from `from` to `to` are
 * reported. For each cohort and each N of `days`: how many of its users were
 * active (any event) on exactly cohort day + N. Every cohort day and N has a
 * row, zero where there is nobody. Days after the data (N past today) read 0.
 *
 * From the rollups, `user_first_seen` gives the cohorts without reading
 * history, and `user_days` in the window, joined to them by user, the days
 * each was active (a join rather than `IN (subquery)`: chDB turns an IN set
 * on a key column into a slow index lookup; and one rather than arrays per
 * user, which cost more). From `events`, one pass groups every user's events
 * up to the last day needed.
 */
const retention: Report<RetentionParams> = {
  name: 'retention',
  description:
    'Day-N retention cohorts: users by the UTC day they were first seen, and how many of them were active ' +
    'again exactly N days later, for each N of `days`.',
  params: reportParams<RetentionParams>(reportParameters.retention.fields, {
    defaults: { days: REPORT_LIMITS.defaultRetentionDays },
  }),
  columns: [
    { name: 'cohort_day', type: 'date' },
    { name: 'cohort_users', type: 'integer' },
    { name: 'day', type: 'integer' },
    { name: 'retained_users', type: 'integer' },
    { name: 'rate', type: 'number' },
  ],
  sql(store, p, opts = {}) {
    const last = addDays(p.to, Math.max(...p.days));
    const inCohorts = ch`BETWEEN ${date(p.from)} AND ${date(p.to)}`;
    const zeros = ch`SELECT toDate(arrayJoin([${daysFrom(p.from, p.to)}])) AS cohort_day,
                            toUInt16(arrayJoin([${p.days}])) AS n, toUInt64(0) AS c, toUInt64(0) AS r`;
    let counted: ChSql;
    if (opts.source === 'raw') {
      // One pass over the events up to the last day needed: each user's first day (all history) and
      // the distinct days they were active on since `from`.
      counted = ch`SELECT first AS cohort_day, toUInt16(after) AS n, toUInt64(count()) AS c,
                          toUInt64(countIf(has(active, first + after))) AS r
        FROM (
          SELECT user_id, min(event_date) AS first,
                 groupUniqArrayIf(event_date, event_date >= ${date(p.from)}) AS active
          FROM ${store.table('events')}
          WHERE user_id != '' AND event_date <= ${date(last)}
          GROUP BY user_id
          HAVING first ${inCohorts}
        )
        ARRAY JOIN [${p.days}] AS after
        GROUP BY cohort_day, after`;
    } else {
      // Cohort sizes from the first-seen rollup; the retained from the user-days in the window,
      // each given its user's cohort day by an inner join on the (small) cohort side.
      const cohorts = ch`SELECT user_id, minMerge(first_day) AS first
        FROM ${store.table('user_first_seen')}
        GROUP BY user_id
        HAVING first ${inCohorts}`;
      counted = ch`SELECT first AS cohort_day, toUInt16(after) AS n, toUInt64(count()) AS c, toUInt64(0) AS r
        FROM (${cohorts})
        ARRAY JOIN [${p.days}] AS after
        GROUP BY cohort_day, after
        UNION ALL
        SELECT first AS cohort_day, toUInt16(event_date - first) AS n, toUInt64(0) AS c,
               toUInt64(uniqExact(user_id)) AS r
        FROM (
          SELECT user_id, event_date FROM ${store.table('user_days')}
          WHERE event_date BETWEEN ${date(addDays(p.from, Math.min(...p.days)))} AND ${date(last)}
        ) AS active
        ALL INNER JOIN (${cohorts}) AS cohorts USING user_id
        WHERE event_date - first IN (${p.days})
        GROUP BY cohort_day, n`;
    }
    return ch`SELECT cohort_day, sum(c) AS cohort_users, n AS day, sum(r) AS retained_users,
             if(cohort_users = 0, 0, retained_users / cohort_users) AS rate
      FROM (
        ${zeros}
        UNION ALL
        ${counted}
      )
      GROUP BY cohort_day, n
      ORDER BY cohort_day, n`;
  },
};

/**
 * Course completion, per course: `started` counts the users whose first
 * start of it (`COURSE_STARTED_TYPES`) fell in the range; `completed` counts
 * those of them whose first completion (`COURSE_COMPLETED_TYPES`) was on or
 * before `to`. Restarts do not start a user again; a completion without a
 * start counts for nobody. Only courses with a start in the range have a row.
 *
 * Reads `events` only: its sort key starts with kind and type, so only the course events
 * are read. A rollup of first days per course and learner was measured: it
 * saved about a sixth of this report's time (learners rarely start a
 * course twice, so it hardly shrinks) and made every insert a quarter
 * slower (the view parses every payload), so there is none.
 */
const courseCompletion: Report<CourseCompletionParams> = {
  name: 'course-completion',
  description:
    'Per course: users whose first start of it fell in the range, and how many of them completed it by the ' +
    'end of the range.',
  params: reportParams<CourseCompletionParams>(reportParameters['course-completion'].fields),
  columns: [
    { name: 'course_id', type: 'string' },
    { name: 'started', type: 'integer' },
    { name: 'completed', type: 'integer' },
    { name: 'completion_rate', type: 'number' },
  ],
  sql(store, p) {
    const started = ch`type IN (${COURSE_STARTED_TYPES})`;
    const completed = ch`type IN (${COURSE_COMPLETED_TYPES})`;
    const course = ch`visitParamExtractString(payload, 'courseId')`;
    // One row per course and learner: the first start, and whether a completion came by `to`.
    return ch`SELECT course_id, toUInt64(count()) AS started, toUInt64(countIf(done)) AS completed,
             completed / started AS completion_rate
      FROM (
        SELECT ${course} AS course_id, user_id,
               minIf(event_date, ${started}) AS first_start, countIf(${started}) AS starts,
               countIf(${completed} AND event_date <= ${date(p.to)}) > 0 AS done
        FROM ${store.table('events')}
        WHERE type IN (${[...COURSE_STARTED_TYPES, ...COURSE_COMPLETED_TYPES]}) AND user_id != ''
          AND ${course} != '' ${p.course ? ch`AND ${course} IN (${p.course})` : ch``}
        GROUP BY course_id, user_id
      )
      WHERE starts > 0 AND first_start BETWEEN ${date(p.from)} AND ${date(p.to)}
      GROUP BY course_id
      ORDER BY course_id`;
  },
};

/**
 * A funnel: for each step, the users who did the steps up to it in order,
 * the later ones within `window` seconds of the first. ClickHouse's
 * `windowFunnel`, made deterministic: 18.16 compares times in whole
 * seconds (UInt32) and orders events of the same second as they happen to
 * be read, while newer servers order them by step. So the time handed to it
 * is `seconds since from × steps + step index`: unique per second and step,
 * in step order within a second, and below 2^31 for any range we accept
 * (366 days × 10 steps). The window is widened to match (`× steps + steps −
 * 1`), so a step counts when it is at most `window` whole seconds after the
 * first step's second.
 *
 * Only events in the range count, so a chain must lie within it. A user
 * counts once per step, however many times they went through the funnel.
 */
const funnel: Report<FunnelParams> = {
  name: 'funnel',
  description:
    'Ordered steps within a window: for each step, the users who did every step up to it in order, each ' +
    'within `window` seconds of their first step. Times are compared in whole seconds; within one second, ' +
    'steps count in funnel order.',
  params: reportParams<FunnelParams>(reportParameters.funnel.fields, {
    required: reportParameters.funnel.required ?? [],
    defaults: { window: REPORT_LIMITS.defaultWindowSeconds },
  }),
  columns: [
    { name: 'step', type: 'integer' },
    { name: 'type', type: 'string' },
    { name: 'users', type: 'integer' },
  ],
  sql(store, p) {
    const k = p.steps.length;
    const fromSeconds = msOf(p.from) / 1000;
    const time = ch`toUInt32((intDiv(occurred_at, 1000) - ${fromSeconds}) * ${k} + indexOf([${p.steps}], type) - 1)`;
    const conditions = join(p.steps.map((s) => ch`type = ${s}`));
    const window = p.window * k + k - 1;
    const stepNumbers = p.steps.map((_, i) => i + 1);
    return ch`SELECT step, arrayElement([${p.steps}], step) AS type, sum(n) AS users FROM (
        SELECT toUInt8(arrayJoin([${stepNumbers}])) AS step, toUInt64(0) AS n
        UNION ALL
        SELECT toUInt8(reached) AS step, toUInt64(count()) AS n
        FROM (
          SELECT user_id, windowFunnel(${window})(${time}, ${conditions}) AS level
          FROM ${store.table('events')}
          WHERE event_date BETWEEN ${date(p.from)} AND ${date(p.to)}
            AND type IN (${p.steps}) AND ${eventFilter({ source: p.source })}
          GROUP BY user_id
        )
        ARRAY JOIN arrayMap(i -> i + 1, range(level)) AS reached
        GROUP BY step
      )
      GROUP BY step
      ORDER BY step`;
  },
};

/** Every report, by the name in its URL. */
export const analyticsReports: Readonly<Record<AnalyticsReportName, Report<any>>> = {
  dau,
  wau,
  mau,
  retention,
  'course-completion': courseCompletion,
  funnel,
};

/** The report of that name, or a 404 problem. */
export const reportNamed = (name: string): Report<any> => {
  if (!(analyticsReportNames as readonly string[]).includes(name))
    throw new Problem('not_found', 'unknown_report', `There is no report named ${JSON.stringify(name)}.`, {
      extra: { reports: [...analyticsReportNames] },
    });
  return analyticsReports[name as AnalyticsReportName];
};

// ClickHouse's codes for a server that is busy or short of memory rather
// than wrong: the request may succeed later. Anything else with a code is a
// bug in the SQL and stays a 500.
const TRANSIENT_CODES = new Set([159, 160, 202, 209, 210, 241]);

/** Turns an engine that cannot answer now into a 503; other errors pass through. */
export const unavailableProblem = (error: unknown): unknown =>
  error instanceof AnalyticsError &&
  (error.clickhouseCode === undefined || TRANSIENT_CODES.has(error.clickhouseCode))
    ? new Problem('unavailable', 'analytics_unavailable', 'The analytics database did not answer; try again.')
    : error;

export type ReportResult = Readonly<{
  report: string;
  params: Readonly<Record<string, unknown>>;
  columns: readonly ReportColumn[];
  rows: Readonly<Record<string, string | number>>[];
}>;

/**
 * Runs a report by name on query-string values: 404 `unknown_report` for a
 * name no report has, 400 `validation_failed` (with a pointer per problem)
 * for bad parameters, 503 `analytics_unavailable` when the engine cannot
 * answer.
 *
 * @example const { columns, rows } = await runReport(store, 'dau', { from: '2026-03-01', to: '2026-03-31' });
 */
export const runReport = async (
  store: AnalyticsStore,
  name: string,
  rawQuery: Readonly<Record<string, unknown>>,
  opts: { source?: ReportSource } = {},
): Promise<ReportResult> => {
  const report = reportNamed(name);
  const params = report.params(rawQuery);
  if (!params.ok) throw validationProblem(params.issues, `The parameters of report ${name} are not valid.`);
  try {
    const rows = await store.query<Record<string, string | number>>(report.sql(store, params.value, opts));
    return { report: report.name, params: params.value, columns: report.columns, rows };
  } catch (error) {
    throw unavailableProblem(error);
  }
};

/**
 * The data's watermark: when the newest event the analytics store holds was
 * received (ISO time), or null when it holds none. A PDF records it, so its
 * numbers can be told apart from a later run's.
 */
export const dataWatermark = async (store: AnalyticsStore): Promise<string | null> => {
  try {
    const [row] = await store.query<{ w: string | number }>(
      ch`SELECT max(ingested_at) AS w FROM ${store.table('events')}`,
    );
    const w = Number(row?.w ?? 0);
    return w > 0 ? new Date(w).toISOString() : null;
  } catch (error) {
    throw unavailableProblem(error);
  }
};
