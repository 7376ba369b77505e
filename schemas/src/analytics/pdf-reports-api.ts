import { commandHeaders, commandResponseHeaders, type ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  record,
  string,
  uuid,
} from '../validation.ts';
import { pdfReportRequest, pdfScheduleRequest, PDF_LIMITS } from './pdf-reports.ts';
import { analyticsReportNames } from './reports-api.ts';

const roles = { roles: ['admin', 'analyst'] } as const;

const job = describe(
  object({
    jobId: uuid(),
    status: oneOf(['queued', 'ready', 'failed'] as const),
    title: string(),
    from: string(),
    to: string(),
    reports: arrayOf(oneOf(analyticsReportNames)),
    scheduleId: nullable(uuid()),
    slot: nullable(isoTime()),
    requestedAt: isoTime(),
    pages: nullable(integer({ min: 1 })),
    bytes: nullable(integer({ min: 1 })),
    watermark: describe(nullable(isoTime()), {
      description: 'When the newest event the numbers include was received (null: the store held none).',
    }),
    reason: nullable(string()),
    url: describe(nullable(string()), {
      description: `When ready: a presigned GET of the PDF, good for ${PDF_LIMITS.downloadSeconds / 60} minutes.`,
    }),
    urlExpiresAt: nullable(isoTime()),
  }),
  { title: 'PdfReportJob' },
);

const scheduleDoc = object({
  scheduleId: uuid(),
  title: string(),
  lastDays: integer({ min: 1 }),
  reports: arrayOf(object({ name: oneOf(analyticsReportNames), params: record(string()) })),
  maxPages: integer({ min: 1 }),
  cadence: object({
    every: oneOf(['day', 'week', 'month'] as const),
    weekday: nullable(integer({ min: 1, max: 7 })),
    dayOfMonth: nullable(integer({ min: 1, max: 28 })),
    hour: integer({ min: 0, max: 23 }),
    minute: integer({ min: 0, max: 59 }),
  }),
  createdBy: string(),
  createdAt: isoTime(),
  cancelledAt: nullable(isoTime()),
});

const badDefinition = {
  status: 400,
  description:
    "`validation_failed`: the definition is malformed, names a report twice, or a report's parameters are not ones its URL takes; `errors[]` points at each.",
};

/** The PDF dashboards' operations (issue 11). */
export const pdfReportsApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/analytics/reports/pdf',
    operationId: 'requestPdfReport',
    summary: 'Ask for a PDF of analytics reports',
    description:
      'A job: the reports worker runs each report over the range, renders a PDF (title page, a vector chart and a table per report, page numbers, the query, its parameters and the data watermark in its metadata, a page cap pointing to the CSV export beyond it) and stores it. `GET` the job for its status and, when ready, a short-lived link. With `Idempotency-Key` a retry is the same job.',
    tags: ['analytics-pdf'],
    security: roles,
    headers: commandHeaders,
    body: pdfReportRequest,
    responses: {
      202: {
        description: 'Queued; `Location` is the job.',
        body: object({ jobId: uuid(), status: oneOf(['queued'] as const) }),
        headers: commandResponseHeaders,
      },
    },
    errors: [badDefinition, 412],
  },
  {
    method: 'get',
    path: '/api/analytics/reports/pdf/:jobId',
    operationId: 'getPdfReport',
    summary: 'A PDF report job',
    description:
      'Its status (`queued`, `ready`, `failed` with the reason) and, when ready, a presigned GET of the PDF.',
    tags: ['analytics-pdf'],
    security: roles,
    params: { jobId: describe(uuid(), { description: 'The job, as `POST` answered it.' }) },
    responses: { 200: { description: 'The job.', body: job } },
    errors: [{ status: 404, description: 'No such job (`pdf_report_not_found`).' }],
  },
  {
    method: 'post',
    path: '/api/analytics/reports/pdf/schedules',
    operationId: 'schedulePdfReport',
    summary: 'Make a PDF report on a schedule',
    description:
      'One job per slot (every day, every week on a weekday, every month on a day, at an hour UTC), over the `lastDays` days before it; exactly once per slot however many workers run.',
    tags: ['analytics-pdf'],
    security: roles,
    headers: commandHeaders,
    body: pdfScheduleRequest,
    responses: {
      201: {
        description: 'Scheduled; the first report comes at the next slot.',
        body: object({ scheduleId: uuid(), status: oneOf(['active'] as const) }),
        headers: commandResponseHeaders,
      },
    },
    errors: [badDefinition, 412],
  },
  {
    method: 'get',
    path: '/api/analytics/reports/pdf/schedules',
    operationId: 'listPdfSchedules',
    summary: 'The PDF report schedules',
    description: 'Every schedule, newest first; a cancelled one says when.',
    tags: ['analytics-pdf'],
    security: roles,
    responses: { 200: { description: 'The schedules.', body: object({ items: arrayOf(scheduleDoc) }) } },
  },
  {
    method: 'delete',
    path: '/api/analytics/reports/pdf/schedules/:scheduleId',
    operationId: 'cancelPdfSchedule',
    summary: 'Stop a PDF report schedule',
    description:
      'No slot after this makes a report; the reports already made stay. Cancelling again changes nothing.',
    tags: ['analytics-pdf'],
    security: roles,
    headers: commandHeaders,
    params: { scheduleId: describe(uuid(), { description: 'The schedule.' }) },
    responses: {
      200: {
        description: 'Cancelled.',
        body: object({ scheduleId: uuid(), status: oneOf(['cancelled'] as const) }),
        headers: commandResponseHeaders,
      },
    },
    errors: [{ status: 404, description: 'No such schedule (`pdf_schedule_not_found`).' }, 412],
  },
];

export const pdfReportsTags: Readonly<Record<string, string>> = {
  'analytics-pdf': 'PDF dashboards of the analytics reports, on demand and on a schedule.',
};
