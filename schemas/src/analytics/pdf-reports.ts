import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import type { Result } from '../validation.ts';
import {
  arrayOf,
  describe,
  integer,
  isoTime as isoTimeOf,
  jsonSchemaOf,
  nullable,
  object,
  oneOf,
  record,
  string,
  uuid as uuidOf,
  withSchema,
  type Validator,
} from '../validation.ts';
import {
  analyticsReportNames,
  daysBetween,
  REPORT_LIMITS,
  reportDay,
  reportParameters,
  reportParams,
  reportQuery,
  type AnalyticsReportName,
} from './reports-api.ts';

/*
 * PDF dashboards: a definition names analytics reports over a range; a
 * request of one is a job (`pdfreport-<jobId>`) the reports worker renders
 * and stores; a schedule (`pdfreportschedule-<scheduleId>`) asks for one
 * per slot (weekly on Monday 06:00 UTC, say), exactly once per slot
 * however many workers run: the slot's job id is derived from (schedule,
 * slot), and a job stream is only ever started once.
 */

export const PDF_LIMITS = {
  titleLength: 120,
  maxReports: analyticsReportNames.length,
  /** The page cap of a document: past it, the rows left out point to the CSV export. */
  maxPages: 200,
  defaultPages: 50,
  /** How long the presigned GET of a finished PDF is good for. */
  downloadSeconds: 5 * 60,
} as const;

/** One report of a definition, its parameters as the report's own URL takes them (`from` and `to` aside). */
export type PdfReportPart = Readonly<{ name: AnalyticsReportName; params: Readonly<Record<string, string>> }>;

/** What a job renders: a title, a range of UTC days, reports. */
export type PdfReportDefinition = Readonly<{
  title: string;
  from: string;
  to: string;
  reports: readonly PdfReportPart[];
  maxPages: number;
}>;

/** When a schedule's slots fall, in UTC: every day, every week on a weekday (1 = Monday), every month on a day. */
export type Cadence = Readonly<{
  every: 'day' | 'week' | 'month';
  /** ISO weekday, 1 = Monday … 7 = Sunday (`week` only). */
  weekday: number | null;
  /** 1–28 (`month` only). */
  dayOfMonth: number | null;
  hour: number;
  minute: number;
}>;

export type PdfReportRequested = Readonly<{
  jobId: string;
  definition: PdfReportDefinition;
  /** Who asked; null for a schedule's slot. */
  requestedBy: string | null;
  scheduleId: string | null;
  /** The slot a schedule's job is for. */
  slot: string | null;
  requestedAt: string;
}>;
export type PdfReportRendered = Readonly<{
  jobId: string;
  /** Its key in the storage. */
  key: string;
  bytes: number;
  pages: number;
  /** The newest event the analytics store held when the reports ran: what the numbers include. */
  watermark: string | null;
  renderedAt: string;
}>;
export type PdfReportFailed = Readonly<{ jobId: string; reason: string; failedAt: string }>;
/** A failed job queued again: its dead letter (`<topic>@<offset>`) was redriven. */
export type PdfReportRequeued = Readonly<{ jobId: string; letter: string; requeuedAt: string }>;
export type PdfReportScheduled = Readonly<{
  scheduleId: string;
  title: string;
  /** Each slot's report covers this many whole days before the slot's day. */
  lastDays: number;
  reports: readonly PdfReportPart[];
  maxPages: number;
  cadence: Cadence;
  createdBy: string;
  createdAt: string;
}>;
export type PdfReportScheduleCancelled = Readonly<{
  scheduleId: string;
  cancelledBy: string;
  cancelledAt: string;
}>;

export type PdfReportDomainEvent =
  | DomainEvent<'analytics.PdfReportRequested', PdfReportRequested>
  | DomainEvent<'analytics.PdfReportRendered', PdfReportRendered>
  | DomainEvent<'analytics.PdfReportFailed', PdfReportFailed>
  | DomainEvent<'analytics.PdfReportRequeued', PdfReportRequeued>
  | DomainEvent<'analytics.PdfReportScheduled', PdfReportScheduled>
  | DomainEvent<'analytics.PdfReportScheduleCancelled', PdfReportScheduleCancelled>;
export type PdfReportEvent = RecordedEventOf<PdfReportDomainEvent>;

export const pdfReportStreamId = (jobId: string): string => `pdfreport-${jobId}`;
export const pdfScheduleStreamId = (scheduleId: string): string => `pdfreportschedule-${scheduleId}`;

const uuid = uuidOf();
const isoTime = isoTimeOf();
const title = describe(string({ min: 1, max: PDF_LIMITS.titleLength }), {
  description: 'The title on the first page.',
  example: 'Learning this week',
});
const maxPages = describe(integer({ min: 1, max: PDF_LIMITS.maxPages }), {
  description: `The page cap; default ${PDF_LIMITS.defaultPages}. Rows past it are named, with the CSV export that has them all.`,
});

/** A parameter as its URL would carry it: text, or a number (`window: 3600`) written as the URL writes it. */
const paramValue: Validator<string> = withSchema(
  (input, path = '') =>
    typeof input === 'number' && Number.isFinite(input)
      ? { ok: true, value: String(input) }
      : string({ max: 4000 })(input, path),
  { anyOf: [{ type: 'string', maxLength: 4000 }, { type: 'number' }] },
);

const partsShape = arrayOf(
  object({
    name: oneOf(analyticsReportNames),
    params: describe(record(paramValue, { max: 10 }), {
      description:
        "The report's own query parameters besides `from` and `to`, as its URL takes them (`steps: 'a,b,c'` for the funnel).",
    }),
  }),
  { max: PDF_LIMITS.maxReports },
);

/** The JSON Schema of what a request and a schedule share. */
const commonProperties = {
  title: jsonSchemaOf(title),
  reports: {
    type: 'array',
    minItems: 1,
    maxItems: PDF_LIMITS.maxReports,
    // Each report with the parameters its own URL takes (its own, no others; the required ones required).
    items: {
      oneOf: analyticsReportNames.map((name) => {
        const { fields, required = [] } = reportParameters[name];
        const own = fields.filter((f) => f !== 'from' && f !== 'to');
        return {
          type: 'object',
          required: ['name', 'params'],
          additionalProperties: false,
          properties: {
            name: { const: name },
            params: {
              type: 'object',
              additionalProperties: false,
              required: [...required],
              properties: Object.fromEntries(own.map((f) => [f, jsonSchemaOf(reportQuery[f])])),
            },
          },
        };
      }),
    },
  },
  maxPages: { type: 'integer', minimum: 1, maximum: PDF_LIMITS.maxPages },
} as const;

/** Each part checked as its report checks its query string, over `from`–`to`; each report once. */
const checkParts = (
  parts: readonly PdfReportPart[],
  from: string,
  to: string,
  path: string,
): Result<readonly PdfReportPart[]> => {
  if (parts.length === 0) return { ok: false, issues: [{ path, message: 'must name at least one report' }] };
  const issues = parts.flatMap((p, i) => {
    if (parts.findIndex((q) => q.name === p.name) !== i)
      return [{ path: `${path}/${i}/name`, message: 'names a report given already' }];
    const { fields, required } = reportParameters[p.name];
    const checked = reportParams(fields, required ? { required } : {})({ ...p.params, from, to });
    return checked.ok
      ? []
      : checked.issues.map((x) => ({
          ...x,
          path: `${path}/${i}/params${x.path.replace(/^\/(from|to)$/, '')}`,
        }));
  });
  return issues.length ? { ok: false, issues } : { ok: true, value: parts };
};

const firstDay = reportDay('The first UTC day of every report.');
const lastDay = reportDay('The last UTC day, included.');

/** `POST /api/analytics/reports/pdf`. */
export const pdfReportRequest: Validator<PdfReportDefinition> = withSchema(
  (input, path = '') => {
    const shape = object(
      {
        title,
        from: firstDay,
        to: lastDay,
        reports: partsShape,
        maxPages,
      },
      { optional: ['maxPages'] },
    )(input, path);
    if (!shape.ok) return shape;
    const { from, to } = shape.value;
    if (from > to) return { ok: false, issues: [{ path: `${path}/to`, message: 'must not be before from' }] };
    if (daysBetween(from, to) > REPORT_LIMITS.maxRangeDays)
      return {
        ok: false,
        issues: [
          { path: `${path}/to`, message: `must be at most ${REPORT_LIMITS.maxRangeDays} days after from` },
        ],
      };
    const parts = checkParts(shape.value.reports as PdfReportPart[], from, to, `${path}/reports`);
    if (!parts.ok) return parts;
    return {
      ok: true,
      value: {
        ...shape.value,
        reports: parts.value,
        maxPages: shape.value.maxPages ?? PDF_LIMITS.defaultPages,
      },
    };
  },
  {
    type: 'object',
    required: ['title', 'from', 'to', 'reports'],
    additionalProperties: false,
    properties: {
      from: jsonSchemaOf(firstDay),
      to: jsonSchemaOf(lastDay),
      ...commonProperties,
    },
    description:
      "The reports to render, each with its own parameters, over one range (at most 366 days); a report's parameters are checked as its URL checks them.",
  },
);

const cadenceShape = object(
  {
    every: oneOf(['day', 'week', 'month'] as const),
    weekday: nullable(integer({ min: 1, max: 7 })),
    dayOfMonth: nullable(integer({ min: 1, max: 28 })),
    hour: integer({ min: 0, max: 23 }),
    minute: integer({ min: 0, max: 59 }),
  },
  { optional: ['weekday', 'dayOfMonth', 'minute'] },
);

/** `POST /api/analytics/reports/pdf/schedules`. */
export const pdfScheduleRequest: Validator<
  Omit<PdfReportScheduled, 'scheduleId' | 'createdBy' | 'createdAt'>
> = withSchema(
  (input, path = '') => {
    const shape = object(
      {
        title,
        lastDays: describe(integer({ min: 1, max: REPORT_LIMITS.maxRangeDays }), {
          description: "Each slot's report covers this many whole days before the slot's day.",
        }),
        reports: partsShape,
        maxPages,
        cadence: cadenceShape,
      },
      { optional: ['maxPages'] },
    )(input, path);
    if (!shape.ok) return shape;
    const c = shape.value.cadence;
    const cadence: Cadence = {
      every: c.every,
      weekday: c.weekday ?? null,
      dayOfMonth: c.dayOfMonth ?? null,
      hour: c.hour,
      minute: c.minute ?? 0,
    };
    if ((cadence.every === 'week') !== (cadence.weekday !== null))
      return {
        ok: false,
        issues: [{ path: `${path}/cadence/weekday`, message: 'is needed by, and only by, a weekly cadence' }],
      };
    if ((cadence.every === 'month') !== (cadence.dayOfMonth !== null))
      return {
        ok: false,
        issues: [
          { path: `${path}/cadence/dayOfMonth`, message: 'is needed by, and only by, a monthly cadence' },
        ],
      };
    // Checked over a range of its length; the slot's own range is the same length.
    const to = '2026-01-31';
    const from = new Date(Date.parse(`${to}T00:00:00Z`) - (shape.value.lastDays - 1) * 86_400_000)
      .toISOString()
      .slice(0, 10);
    const parts = checkParts(shape.value.reports as PdfReportPart[], from, to, `${path}/reports`);
    if (!parts.ok) return parts;
    return {
      ok: true,
      value: {
        title: shape.value.title,
        lastDays: shape.value.lastDays,
        reports: parts.value,
        maxPages: shape.value.maxPages ?? PDF_LIMITS.defaultPages,
        cadence,
      },
    };
  },
  {
    type: 'object',
    required: ['title', 'lastDays', 'reports', 'cadence'],
    additionalProperties: false,
    properties: {
      lastDays: { type: 'integer', minimum: 1, maximum: REPORT_LIMITS.maxRangeDays },
      ...commonProperties,
      cadence: {
        // The weekday for a weekly cadence only, the day of the month for a monthly one only.
        oneOf: (['day', 'week', 'month'] as const).map((every) => ({
          type: 'object',
          required: [
            'every',
            'hour',
            ...(every === 'week' ? ['weekday'] : every === 'month' ? ['dayOfMonth'] : []),
          ],
          additionalProperties: false,
          properties: {
            every: { const: every },
            weekday: every === 'week' ? { type: 'integer', minimum: 1, maximum: 7 } : { type: 'null' },
            dayOfMonth: every === 'month' ? { type: 'integer', minimum: 1, maximum: 28 } : { type: 'null' },
            hour: { type: 'integer', minimum: 0, maximum: 23 },
            minute: { type: 'integer', minimum: 0, maximum: 59 },
          },
        })),
      },
    },
    description:
      'A report made once per slot: every day, every week on `weekday` (1 = Monday), or every month on `dayOfMonth`, at `hour`:`minute` UTC, over the `lastDays` days before the slot.',
  },
);

const DAY_MS = 86_400_000;

/**
 * The latest slot of a cadence at or before `now` (UTC), or null when there
 * is none at or after `notBefore` (a schedule makes no report for slots
 * before it existed). Pure: the scheduler and its tests share it.
 *
 * @example latestSlot({ every: 'week', weekday: 1, dayOfMonth: null, hour: 6, minute: 0 }, Date.parse('2026-12-03T10:00Z'), 0)
 *   // → Date.parse('2026-11-30T06:00:00Z') (a Monday)
 */
export const latestSlot = (cadence: Cadence, now: number, notBefore: number): number | null => {
  const d = new Date(now);
  const today = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  const at = (day: number) => day + cadence.hour * 3_600_000 + cadence.minute * 60_000;
  let slot: number;
  if (cadence.every === 'day') slot = at(today) <= now ? at(today) : at(today - DAY_MS);
  else if (cadence.every === 'week') {
    const weekday = ((d.getUTCDay() + 6) % 7) + 1;
    const back = (weekday - cadence.weekday! + 7) % 7;
    slot = at(today - back * DAY_MS);
    if (slot > now) slot -= 7 * DAY_MS;
  } else {
    const month = (y: number, m: number) => at(Date.UTC(y, m, cadence.dayOfMonth!));
    slot = month(d.getUTCFullYear(), d.getUTCMonth());
    if (slot > now) slot = month(d.getUTCFullYear(), d.getUTCMonth() - 1);
  }
  return slot >= notBefore ? slot : null;
};

/** The range a schedule's slot reports on: the `lastDays` whole UTC days before the slot's day. */
export const slotRange = (slot: number, lastDays: number): Readonly<{ from: string; to: string }> => {
  const day = Math.floor(slot / DAY_MS) * DAY_MS;
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { from: iso(day - lastDays * DAY_MS), to: iso(day - DAY_MS) };
};

const parts = arrayOf(object({ name: oneOf(analyticsReportNames), params: record(string({ max: 4000 })) }));
const definition = object({
  title: string({ min: 1, max: PDF_LIMITS.titleLength }),
  from: string(),
  to: string(),
  reports: parts,
  maxPages: integer({ min: 1, max: PDF_LIMITS.maxPages }),
});
const cadence = object({
  every: oneOf(['day', 'week', 'month'] as const),
  weekday: nullable(integer({ min: 1, max: 7 })),
  dayOfMonth: nullable(integer({ min: 1, max: 28 })),
  hour: integer({ min: 0, max: 23 }),
  minute: integer({ min: 0, max: 59 }),
});
const v1 = (validate: Validator<unknown>) => [{ version: 1, validate }] as const;

/** The catalogue of PDF report events (schema version 1 each). */
export const pdfReportEvents: CatalogueOf<PdfReportDomainEvent> = {
  'analytics.PdfReportRequested': v1(
    object({
      jobId: uuid,
      definition,
      requestedBy: nullable(string({ min: 1, max: 200 })),
      scheduleId: nullable(uuid),
      slot: nullable(isoTime),
      requestedAt: isoTime,
    }),
  ),
  'analytics.PdfReportRendered': v1(
    object({
      jobId: uuid,
      key: string({ min: 1, max: 512 }),
      bytes: integer({ min: 1 }),
      pages: integer({ min: 1 }),
      watermark: nullable(isoTime),
      renderedAt: isoTime,
    }),
  ),
  'analytics.PdfReportFailed': v1(
    object({ jobId: uuid, reason: string({ min: 1, max: 2000 }), failedAt: isoTime }),
  ),
  'analytics.PdfReportRequeued': v1(
    object({ jobId: uuid, letter: string({ min: 1, max: 400 }), requeuedAt: isoTime }),
  ),
  'analytics.PdfReportScheduled': v1(
    object({
      scheduleId: uuid,
      title: string({ min: 1, max: PDF_LIMITS.titleLength }),
      lastDays: integer({ min: 1, max: REPORT_LIMITS.maxRangeDays }),
      reports: parts,
      maxPages: integer({ min: 1, max: PDF_LIMITS.maxPages }),
      cadence,
      createdBy: string({ min: 1, max: 200 }),
      createdAt: isoTime,
    }),
  ),
  'analytics.PdfReportScheduleCancelled': v1(
    object({ scheduleId: uuid, cancelledBy: string({ min: 1, max: 200 }), cancelledAt: isoTime }),
  ),
};

export const isPdfReportEvent = eventGuard<PdfReportDomainEvent>(pdfReportEvents);
