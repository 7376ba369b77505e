import { requiredParam, type ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  describe,
  object,
  oneOf,
  record,
  string,
  textProblem,
  withSchema,
  type Issue,
  type Result,
  type Validator,
} from '../validation.ts';

/*
 * The analytics reports' HTTP surface (query-services/analytics): the query
 * parameters as the route reads them from a query string, and what it
 * answers. The reports themselves (their SQL) live with the route; the
 * parameter validators live here so that the route and the OpenAPI document
 * run the same functions.
 */

/** Every report, by the name in its URL. */
export const analyticsReportNames = [
  'dau',
  'wau',
  'mau',
  'retention',
  'course-completion',
  'funnel',
] as const;
export type AnalyticsReportName = (typeof analyticsReportNames)[number];

export const REPORT_LIMITS = {
  /** Days from `from` to `to`, both included; a longer range is 400. */
  maxRangeDays: 366,
  /** The calendar the reports accept (ClickHouse's `Date` runs 1970–2105; `to` plus a retention day must fit). */
  earliestDay: '2000-01-01',
  latestDay: '2099-12-31',
  /** Values of one list filter (`source`, `type`, `course`). */
  maxListValues: 20,
  /** Characters of one value of a list filter. */
  maxValueLength: 200,
  /** Funnel steps. */
  minSteps: 2,
  maxSteps: 10,
  /** Funnel window, in seconds (90 days). */
  maxWindowSeconds: 90 * 86_400,
  defaultWindowSeconds: 86_400,
  /** Retention days (`days=1,7,14,30`). */
  maxRetentionDays: 10,
  maxRetentionDay: 365,
  defaultRetentionDays: [1, 7, 14, 30] as readonly number[],
} as const;

const fail = (path: string, message: string): Result<never> => ({ ok: false, issues: [{ path, message }] });

/** One value from a query string: express gives a string, or an array when the name is repeated. */
const single = (input: unknown, path: string): Result<string> => {
  if (typeof input === 'string') {
    const bad = textProblem(input);
    return bad ? fail(path, bad) : { ok: true, value: input };
  }
  if (Array.isArray(input)) return fail(path, 'must be given once');
  return fail(path, 'must be a string');
};

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** True when `text` is a day of the calendar written `YYYY-MM-DD` (no February 30). */
export const isCalendarDay = (text: string): boolean => {
  const m = DAY.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
};

/** A UTC day as `YYYY-MM-DD`, within the calendar the reports accept. */
export const reportDay = (what: string): Validator<string> =>
  withSchema(
    (input, path = '') => {
      const s = single(input, path);
      if (!s.ok) return s;
      const value = s.value.trim();
      if (!isCalendarDay(value)) return fail(path, 'must be a day written YYYY-MM-DD');
      if (value < REPORT_LIMITS.earliestDay || value > REPORT_LIMITS.latestDay)
        return fail(path, `must be from ${REPORT_LIMITS.earliestDay} to ${REPORT_LIMITS.latestDay}`);
      return { ok: true, value };
    },
    {
      type: 'string',
      format: 'date',
      // The calendar the reports accept, 2000-01-01 to 2099-12-31, as far as a pattern can say it.
      pattern: '^20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$',
      description: what,
      examples: ['2026-03-01'],
    },
  );

/** One value of a comma-separated list, as a pattern: not blank, no U+0000. */
const LIST_VALUE = '[^,\\u0000]*[^\\s,\\u0000][^,\\u0000]*';

/**
 * A list of strings from a query string: comma-separated (`a,b`), the name
 * repeated (`x=a&x=b`), or both. Blanks around values are dropped; values
 * are distinct, in the order given.
 */
export const reportList = (
  what: string,
  opts: Readonly<{ min?: number; max?: number; pattern?: RegExp; example?: string }> = {},
): Validator<string[]> => {
  const min = opts.min ?? 1;
  const max = opts.max ?? REPORT_LIMITS.maxListValues;
  return withSchema(
    (input, path = '') => {
      const parts = typeof input === 'string' ? [input] : Array.isArray(input) ? input : null;
      if (!parts || parts.some((p) => typeof p !== 'string')) return fail(path, 'must be a list of strings');
      const values = (parts as string[]).flatMap((p) => p.split(',')).map((v) => v.trim());
      const issues: Issue[] = [];
      values.forEach((v, i) => {
        const bad = textProblem(v);
        if (bad) issues.push({ path: `${path}/${i}`, message: bad });
        else if (v === '') issues.push({ path: `${path}/${i}`, message: 'must not be empty' });
        else if ([...v].length > REPORT_LIMITS.maxValueLength)
          issues.push({
            path: `${path}/${i}`,
            message: `must be at most ${REPORT_LIMITS.maxValueLength} characters`,
          });
        else if (opts.pattern && !opts.pattern.test(v))
          issues.push({ path: `${path}/${i}`, message: 'has an invalid format' });
        else if (values.indexOf(v) !== i) issues.push({ path: `${path}/${i}`, message: 'is given twice' });
      });
      if (issues.length) return { ok: false, issues };
      if (values.length < min) return fail(path, `must have at least ${min} values`);
      if (values.length > max) return fail(path, `must have at most ${max} values`);
      return { ok: true, value: values };
    },
    {
      type: 'string',
      // Each value non-blank and free of U+0000, and how many; that they are distinct is said in words.
      pattern: `^${LIST_VALUE}(?:,${LIST_VALUE}){${min - 1},${max - 1}}$`,
      description:
        `${what} Comma-separated (or the parameter repeated); ${min === max ? min : `${min} to ${max}`} ` +
        `distinct values of at most ${REPORT_LIMITS.maxValueLength} characters.`,
      ...(opts.example ? { examples: [opts.example] } : {}),
    },
  );
};

/** A whole number from a query string. */
const reportInteger = (what: string, min: number, max: number, example: number): Validator<number> =>
  withSchema(
    (input, path = '') => {
      const s = single(input, path);
      if (!s.ok) return s;
      const text = s.value.trim();
      if (!/^\d{1,15}$/.test(text)) return fail(path, 'must be a whole number');
      const value = Number(text);
      if (value < min || value > max) return fail(path, `must be from ${min} to ${max}`);
      return { ok: true, value };
    },
    { type: 'integer', minimum: min, maximum: max, description: what, examples: [example] },
  );

/** One of a few words from a query string. */
const reportChoice = <const T extends readonly string[]>(what: string, values: T): Validator<T[number]> => {
  const inner = oneOf(values);
  return withSchema(
    (input, path = '') => {
      const s = single(input, path);
      return s.ok ? inner(s.value.trim(), path) : s;
    },
    { type: 'string', enum: [...values], description: what },
  );
};

/** 1 to 365 as a pattern. */
const RETENTION_DAY = '(?:[1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-5])';

/** Whole days after a cohort's first day (`days=1,7,14,30`). */
const retentionDays: Validator<number[]> = (() => {
  const list = reportList('', { max: REPORT_LIMITS.maxRetentionDays });
  return withSchema(
    (input, path = '') => {
      const r = list(input, path);
      if (!r.ok) return r;
      const issues: Issue[] = [];
      const days = r.value.map((v, i) => {
        const n = /^\d{1,3}$/.test(v) ? Number(v) : NaN;
        if (!(n >= 1 && n <= REPORT_LIMITS.maxRetentionDay))
          issues.push({
            path: `${path}/${i}`,
            message: `must be a whole number from 1 to ${REPORT_LIMITS.maxRetentionDay}`,
          });
        return n;
      });
      if (issues.length) return { ok: false, issues };
      if (new Set(days).size !== days.length) return fail(path, 'must not repeat a day');
      return { ok: true, value: days };
    },
    {
      type: 'string',
      pattern: `^\\s*${RETENTION_DAY}\\s*(?:,\\s*${RETENTION_DAY}\\s*){0,${REPORT_LIMITS.maxRetentionDays - 1}}$`,
      description:
        `retention: the days after a cohort's first day to report, comma-separated, at most ` +
        `${REPORT_LIMITS.maxRetentionDays}, each 1 to ${REPORT_LIMITS.maxRetentionDay}; default ` +
        `${REPORT_LIMITS.defaultRetentionDays.join(',')}. A user counts for day N when active on exactly that day.`,
      examples: ['1,7,14,30'],
    },
  );
})();

/**
 * The query parameters the reports read, each a validator of the raw
 * query-string value. Which report takes which is said in each description
 * and enforced by the report: a parameter a report does not take is 400.
 */
export const reportQuery = {
  from: reportDay(
    'Every report: the first UTC day of the range, `YYYY-MM-DD`. Weeks and months are counted whole: ' +
      '`wau` starts on the Monday of this day, `mau` on the first of its month.',
  ),
  to: reportDay(
    `Every report: the last UTC day of the range, included; at most ${REPORT_LIMITS.maxRangeDays} days ` +
      'after `from` counting both.',
  ),
  source: reportList('dau, wau, mau, funnel: only events from these sources (`web`, `ios`, a context).', {
    example: 'web,ios',
  }),
  type: reportList('dau, wau, mau: only events of these types.', { example: 'lesson.completed' }),
  kind: reportChoice('dau, wau, mau: only client telemetry, or only domain events.', [
    'telemetry',
    'domain',
  ] as const),
  days: retentionDays,
  course: reportList('course-completion: only these courses (`payload.courseId`).', { example: 'c-101' }),
  steps: reportList('funnel (required): the event types of the steps, in order, each type once.', {
    min: REPORT_LIMITS.minSteps,
    max: REPORT_LIMITS.maxSteps,
    example: 'course.viewed,course.started,course.completed',
  }),
  window: reportInteger(
    `funnel: seconds from a user's first step within which every later step must happen; default ` +
      `${REPORT_LIMITS.defaultWindowSeconds} (a day), at most ${REPORT_LIMITS.maxWindowSeconds} (90 days).`,
    1,
    REPORT_LIMITS.maxWindowSeconds,
    3600,
  ),
} as const;

export type ReportQueryName = keyof typeof reportQuery;

/**
 * The parameters each report takes, and which of them it requires besides
 * `from` and `to`: the reports validate with these lists, and the document
 * describes each report's operation from them, so a report never lists a
 * parameter it refuses.
 */
export const reportParameters: Readonly<
  Record<
    AnalyticsReportName,
    Readonly<{ fields: readonly ReportQueryName[]; required?: readonly ReportQueryName[] }>
  >
> = {
  dau: { fields: ['from', 'to', 'source', 'type', 'kind'] },
  wau: { fields: ['from', 'to', 'source', 'type', 'kind'] },
  mau: { fields: ['from', 'to', 'source', 'type', 'kind'] },
  retention: { fields: ['from', 'to', 'days'] },
  'course-completion': { fields: ['from', 'to', 'course'] },
  funnel: { fields: ['from', 'to', 'steps', 'window', 'source'], required: ['steps'] },
};

/** A report's query parameters as the document lists them: its own only, the required ones marked. */
export const reportQueryOf = (name: AnalyticsReportName): Record<string, Validator<unknown>> => {
  const { fields, required = [] } = reportParameters[name];
  return Object.fromEntries(
    fields.map((f) => {
      const v: Validator<unknown> = reportQuery[f];
      // A copy, so that marking it required does not mark the shared validator.
      return [f, f === 'from' || f === 'to' || required.includes(f) ? requiredParam(describe(v, {})) : v];
    }),
  );
};

/** `course-completion` → `CourseCompletion`, for operation ids. */
export const pascalName = (name: string): string =>
  name.replace(/(^|-)([a-z])/g, (_, _dash: string, c: string) => c.toUpperCase());

/** The days from `from` to `to`, both included. */
export const daysBetween = (from: string, to: string): number =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;

/**
 * A validator of query parameters over a day range: each key must be one of
 * `fields` in `table` (others are 400 `is not a parameter of this <what>`),
 * `from`, `to` and `required` must be there, `defaults` fill the rest, and the
 * range must be in order and at most `maxRangeDays` days. Every problem is
 * reported at once, with a pointer. `P` is the type the caller reads the
 * result as; the fields given must produce it. Reports and exports share it.
 *
 * @example rangeParams<EventsExportParams>(eventsExportQuery, Object.keys(eventsExportQuery), { what: 'export' })
 */
export const rangeParams = <P extends Readonly<{ from: string; to: string }>>(
  table: Readonly<Record<string, Validator<unknown>>>,
  fields: readonly string[],
  opts: Readonly<{ what: string; required?: readonly string[]; defaults?: Partial<P> }>,
): Validator<P> =>
  withSchema(
    (input, path = '') => {
      if (typeof input !== 'object' || input === null || Array.isArray(input))
        return fail(path, 'must be an object');
      const issues: Issue[] = [];
      const value: Record<string, unknown> = { ...opts.defaults };
      for (const [key, raw] of Object.entries(input)) {
        const validator = Object.hasOwn(table, key) && fields.includes(key) ? table[key] : undefined;
        if (!validator) {
          issues.push({ path: `${path}/${key}`, message: `is not a parameter of this ${opts.what}` });
          continue;
        }
        const r = validator(raw, `${path}/${key}`);
        if (r.ok) value[key] = r.value;
        else issues.push(...r.issues);
      }
      for (const key of ['from', 'to', ...(opts.required ?? [])])
        if (!(key in input)) issues.push({ path: `${path}/${key}`, message: 'is required' });
      if (!issues.length) {
        const { from, to } = value as { from: string; to: string };
        if (from > to) issues.push({ path: `${path}/to`, message: 'must not be before from' });
        else if (daysBetween(from, to) > REPORT_LIMITS.maxRangeDays)
          issues.push({
            path: `${path}/to`,
            message: `must be at most ${REPORT_LIMITS.maxRangeDays} days after from, counting both`,
          });
      }
      return issues.length ? { ok: false, issues } : { ok: true, value: value as P };
    },
    { type: 'object' },
  );

/**
 * The validator of one report's parameters: the fields it takes, which of
 * them are required besides `from` and `to`, and defaults for the rest.
 *
 * @example reportParams<FunnelParams>(['from', 'to', 'steps', 'window'], { required: ['steps'], defaults: { window: 86400 } })
 */
export const reportParams = <P extends Readonly<{ from: string; to: string }>>(
  fields: readonly ReportQueryName[],
  opts: Readonly<{ required?: readonly ReportQueryName[]; defaults?: Partial<P> }> = {},
): Validator<P> => rangeParams<P>(reportQuery, fields, { ...opts, what: 'report' });

/* What the route answers. */

const columnType = oneOf(['date', 'string', 'integer', 'number'] as const);

export const reportColumnSchema = describe(
  object({
    name: string(),
    type: describe(columnType, {
      description:
        '`date`: a UTC day as `YYYY-MM-DD`; `string`; `integer`: a whole number (exact); `number`: a fraction.',
    }),
  }),
  { title: 'ReportColumn', description: 'One column of a report: its key in every row, and its type.' },
);

/** A cell: a date or text as a string, a count or a fraction as a number. */
const cell: Validator<string | number> = withSchema(
  (input, path = '') =>
    typeof input === 'string' || (typeof input === 'number' && Number.isFinite(input))
      ? { ok: true, value: input }
      : fail(path, 'must be a string or a number'),
  { type: ['string', 'number'] },
);

/** Anything JSON: the report's parameters as it read them. */
const anyJson: Validator<unknown> = withSchema((input) => ({ ok: true, value: input }), {});

export const analyticsReportResult = describe(
  object({
    report: oneOf(analyticsReportNames),
    params: describe(record(anyJson), {
      description: 'The parameters as the report read them, defaults included (lists as arrays).',
    }),
    columns: arrayOf(reportColumnSchema),
    rows: describe(arrayOf(record(cell)), {
      description: 'One object per row, keyed by the column names, in the order the report sorts them.',
    }),
  }),
  {
    title: 'AnalyticsReport',
    description: 'A report over a range of UTC days: what it read, its columns, and its rows.',
  },
);

/** Tags of the report operations. */
export const analyticsReportsTags: Readonly<Record<string, string>> = {
  'analytics-reports':
    'Product analytics reports over ClickHouse: active users, retention cohorts, course completion and ' +
    'funnels. Admins and analysts only.',
};

/** What each report counts (docs/analytics.md defines each exactly). */
export const reportSummaries: Readonly<Record<AnalyticsReportName, string>> = {
  dau: 'Distinct active users per UTC day.',
  wau: 'Distinct active users per week (from Monday).',
  mau: 'Distinct active users per calendar month.',
  retention: 'Users by the day they were first seen, and how many were active again N days later.',
  'course-completion': 'Per course, learners who started it in the range and how many of them completed it.',
  funnel: 'Users who did the steps in order within the window.',
};

/** One operation per report: each lists only the parameters that report takes. */
export const analyticsReportsApi: readonly ApiOperation[] = analyticsReportNames.map(
  (name): ApiOperation => ({
    method: 'get',
    path: `/api/analytics/reports/${name}`,
    operationId: `getAnalyticsReport${pascalName(name)}`,
    summary: `Run the ${name} report`,
    description:
      `${reportSummaries[name]} Runs over a range of UTC days and answers the rows; events sent more than ` +
      'once count once. A parameter not listed here is 400. docs/analytics.md defines the report exactly.',
    tags: ['analytics-reports'],
    security: { roles: ['admin', 'analyst'] },
    query: reportQueryOf(name),
    responses: { 200: { description: 'The report.', body: analyticsReportResult } },
    errors: [
      {
        status: 400,
        description:
          '`validation_failed`: a parameter is missing, malformed, not taken by this report, or the range is ' +
          `reversed or longer than ${REPORT_LIMITS.maxRangeDays} days; \`errors[]\` points at each.`,
      },
      {
        status: 503,
        description: 'The analytics database did not answer (`analytics_unavailable`); try again later.',
      },
    ],
  }),
);
