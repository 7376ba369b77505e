import { requiredParam, type ApiError, type ApiOperation } from '../openapi.ts';
import { describe, oneOf, textProblem, withSchema, type Result, type Validator } from '../validation.ts';
import {
  analyticsReportNames,
  pascalName,
  rangeParams,
  reportDay,
  reportList,
  reportQueryOf,
  REPORT_LIMITS,
} from './reports-api.ts';

/*
 * The analytics exports' HTTP surface (query-services/analytics): a report,
 * or the raw events of a range, as a CSV or XLSX download streamed from
 * ClickHouse. The validators live here so that the route and the OpenAPI
 * document run the same functions.
 */

export const EXPORT_FORMATS = ['csv', 'xlsx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What each format is sent as. */
export const EXPORT_MEDIA_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

const fail = (path: string, message: string): Result<never> => ({ ok: false, issues: [{ path, message }] });

/** One value from a query string: express gives a string, or an array when the name is repeated. */
const single = (input: unknown, path: string): Result<string> => {
  if (typeof input === 'string') {
    const bad = textProblem(input);
    return bad ? fail(path, bad) : { ok: true, value: input.trim() };
  }
  if (Array.isArray(input)) return fail(path, 'must be given once');
  return fail(path, 'must be a string');
};

const choice = <const T extends readonly string[]>(what: string, values: T): Validator<T[number]> => {
  const inner = oneOf(values);
  return withSchema(
    (input, path = '') => {
      const s = single(input, path);
      return s.ok ? inner(s.value, path) : s;
    },
    { type: 'string', enum: [...values], description: what },
  );
};

/** `format`: the file type of an export. */
export const exportFormat: Validator<ExportFormat> = describe(
  choice('`csv` (the default): RFC 4180, UTF-8; or `xlsx`: an Excel workbook.', EXPORT_FORMATS),
  { default: 'csv' },
);

/** The query parameters of the raw events export, each a validator of the raw query-string value. */
export const eventsExportQuery = {
  format: exportFormat,
  from: reportDay('The first UTC day of the range, `YYYY-MM-DD`.'),
  to: reportDay(
    `The last UTC day of the range, included; at most ${REPORT_LIMITS.maxRangeDays} days after \`from\` ` +
      'counting both.',
  ),
  type: reportList('Only events of these types (`lesson.completed`, `identity.UserRegistered`).', {
    example: 'course.started,course.completed',
  }),
  source: reportList('Only events from these sources (`web`, `ios`, a context).', { example: 'web,ios' }),
  kind: choice('Only client telemetry, or only domain events.', ['telemetry', 'domain'] as const),
} as const;

export type EventsExportParams = Readonly<{
  format: ExportFormat;
  from: string;
  to: string;
  type?: readonly string[];
  source?: readonly string[];
  kind?: 'telemetry' | 'domain';
}>;

/**
 * The raw events export's parameters: `from` and `to` required, the range
 * in order and at most `maxRangeDays` days, no parameter it does not take.
 * Every problem is reported at once, with a pointer.
 *
 * @example eventsExportParams({ format: 'xlsx', from: '2026-03-01', to: '2026-03-07', source: 'web,ios' })
 */
export const eventsExportParams: Validator<EventsExportParams> = rangeParams<EventsExportParams>(
  eventsExportQuery,
  Object.keys(eventsExportQuery),
  { what: 'export', defaults: { format: 'csv' } },
);

/**
 * A report export's query split in two: its `format`, and the rest, which
 * is the report's own parameters (for the report's validator).
 */
export const reportExportQuery = (
  query: Readonly<Record<string, unknown>>,
): Readonly<{ format: Result<ExportFormat>; params: Readonly<Record<string, unknown>> }> => {
  const { format, ...params } = query;
  return {
    format: format === undefined ? { ok: true, value: 'csv' } : exportFormat(format, '/format'),
    params,
  };
};

/**
 * The name of a download, `<what>-<from>-<to>.<format>`, safe in a
 * `Content-Disposition` header and on any file system: only letters,
 * digits, `.`, `_` and `-` survive; anything else becomes `_`.
 *
 * @example exportFileName(['dau', '2026-03-01', '2026-03-31'], 'csv') // 'dau-2026-03-01-2026-03-31.csv'
 */
export const exportFileName = (parts: readonly string[], format: ExportFormat): string => {
  const base = parts
    .map((p) => p.replace(/[^A-Za-z0-9._-]+/g, '_'))
    .filter((p) => p !== '')
    .join('-')
    .replace(/^[.-]+/, '')
    .slice(0, 120);
  return `${base || 'export'}.${format}`;
};

/** Tags of the export operations. */
export const analyticsExportsTags: Readonly<Record<string, string>> = {
  'analytics-exports':
    'Reports and raw events as CSV or XLSX downloads, streamed from ClickHouse in constant memory. Admins ' +
    'and analysts only.',
};

const download = (what: string) => ({
  description:
    `${what} The body is streamed as the rows arrive: a download that stops early ends without the ` +
    'final chunk (the connection is cut), so a truncated file is never mistaken for a complete one.',
  headers: {
    'Content-Disposition':
      '`attachment; filename="<name>-<from>-<to>.<format>"`: the report (or `events`) and the range.',
  },
  content: {
    'text/csv': {
      type: 'string',
      description:
        'UTF-8 (`charset=utf-8`, no byte-order mark), RFC 4180: a header row, then one record per row, CRLF line ends. ' +
        "A text cell starting with `=`, `+`, `-`, `@`, tab or carriage return is written with a leading `'` " +
        'so that a spreadsheet shows it as text instead of running it as a formula.',
    },
    [EXPORT_MEDIA_TYPES.xlsx]: {
      type: 'string',
      format: 'binary',
      description:
        'An Excel workbook: a frozen header row, numbers as numbers, days and times as dates (UTC). A sheet ' +
        'holds at most 1 048 576 rows; longer exports continue on further sheets.',
    },
  },
});

const errors = (what: string): readonly ApiError[] => [
  {
    status: 400,
    description:
      `\`validation_failed\`: \`format\` is not \`csv\` or \`xlsx\`, or ${what}; \`errors[]\` points at ` +
      'each problem. Nothing is streamed.',
  },
  {
    status: 503,
    description:
      'The analytics database did not answer (`analytics_unavailable`) before the first byte; try again later.',
  },
];

export const analyticsExportsApi: readonly ApiOperation[] = [
  ...analyticsReportNames.map((name): ApiOperation => ({
    method: 'get',
    path: `/api/analytics/reports/${name}/export`,
    operationId: `exportAnalyticsReport${pascalName(name)}`,
    summary: `Download the ${name} report as CSV or XLSX`,
    description:
      `Runs the ${name} report, with the same parameters and the same rows as ` +
      `\`GET /api/analytics/reports/${name}\`, and streams its rows as a file: one column per report ` +
      "column, in the report's order.",
    tags: ['analytics-exports'],
    security: { roles: ['admin', 'analyst'] },
    query: { format: exportFormat, ...reportQueryOf(name) },
    responses: { 200: download('The report as a file.') },
    errors: errors('a report parameter is missing, malformed or not taken by this report'),
  })),
  {
    method: 'get',
    path: '/api/analytics/events/export',
    operationId: 'exportAnalyticsEvents',
    summary: 'Download the raw events of a range as CSV or XLSX',
    description:
      'Every analytics event (client telemetry and domain events) that happened in the range of UTC days, ' +
      'each once however often it was delivered, ordered by time then id. Columns: `event_id`, `kind`, ' +
      '`type`, `user_id`, `source`, `occurred_at` (ISO 8601, UTC) and `payload` (JSON text).',
    tags: ['analytics-exports'],
    security: { roles: ['admin', 'analyst'] },
    query: {
      ...eventsExportQuery,
      from: requiredParam(describe(eventsExportQuery.from, {})),
      to: requiredParam(describe(eventsExportQuery.to, {})),
    },
    responses: { 200: download('The events as a file.') },
    errors: errors(
      `\`from\` or \`to\` is missing or malformed, the range is reversed or longer than ${REPORT_LIMITS.maxRangeDays} days, or a parameter is not one of this export`,
    ),
  },
];
