import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { PdfReportRequested, PdfReportScheduled } from '@lectern/schemas/analytics/pdf-reports';
import { pdfJobDecider, pdfScheduleDecider } from './pdf-reports.ts';

const jobId = '5e6f7081-92a3-44b4-85c6-d7e8f9a0b1c2';
const at = '2026-12-01T06:00:00.000Z';
const request: PdfReportRequested = {
  jobId,
  definition: {
    title: 'T',
    from: '2026-11-01',
    to: '2026-11-30',
    reports: [{ name: 'dau', params: {} }],
    maxPages: 50,
  },
  requestedBy: 'ada',
  scheduleId: null,
  slot: null,
  requestedAt: at,
};
const requested = { type: 'analytics.PdfReportRequested', data: request } as const;
const rendered = {
  type: 'analytics.PdfReportRendered',
  data: { jobId, key: `reports/${jobId}.pdf`, bytes: 10, pages: 2, watermark: null, renderedAt: at },
} as const;
const record = {
  type: 'RecordPdfReport',
  key: `reports/${jobId}.pdf`,
  bytes: 10,
  pages: 2,
  watermark: null,
  renderedAt: at,
} as const;

test('a job is requested once, and rendered or failed once', (t) => {
  spec(pdfJobDecider)
    .given([])
    .when({ type: 'RequestPdfReport', ...request })
    .then(t, [requested]);
  spec(pdfJobDecider)
    .given([requested])
    .when({ type: 'RequestPdfReport', ...request })
    .then(t, []);
  spec(pdfJobDecider).given([requested]).when(record).then(t, [rendered]);
  spec(pdfJobDecider).given([requested, rendered]).when(record).then(t, []);
  spec(pdfJobDecider)
    .given([requested, rendered])
    .when({ type: 'RecordPdfReportFailure', reason: 'late', failedAt: at })
    .then(t, []);
  spec(pdfJobDecider)
    .given([requested])
    .when({ type: 'RecordPdfReportFailure', reason: 'engine down', failedAt: at })
    .then(t, [{ type: 'analytics.PdfReportFailed', data: { jobId, reason: 'engine down', failedAt: at } }]);
  spec(pdfJobDecider).given([]).when(record).thenFails(t, 'pdf_report_not_found');
});

test('a failed job is queued again by the redrive of its dead letter, once per letter', (t) => {
  const failed = {
    type: 'analytics.PdfReportFailed',
    data: { jobId, reason: 'engine down', failedAt: at },
  } as const;
  const letter = 'lectern.dlq.worker.reports@3';
  const requeue = { type: 'RequeuePdfReport', letter, requeuedAt: at } as const;
  const requeued = { type: 'analytics.PdfReportRequeued', data: { jobId, letter, requeuedAt: at } } as const;
  spec(pdfJobDecider).given([requested, failed]).when(requeue).then(t, [requeued]);
  t.like(spec(pdfJobDecider).given([requested, failed, requeued]).state, {
    status: 'queued',
    requeuedFor: [letter],
  });
  // The same letter again, a job not failed, a job that is not: nothing, or refused.
  spec(pdfJobDecider).given([requested, failed, requeued]).when(requeue).then(t, []);
  spec(pdfJobDecider).given([requested, failed, requeued, failed]).when(requeue).then(t, []);
  spec(pdfJobDecider).given([requested]).when(requeue).then(t, []);
  spec(pdfJobDecider).given([requested, rendered]).when(requeue).then(t, []);
  spec(pdfJobDecider).given([]).when(requeue).thenFails(t, 'pdf_report_not_found');
  // Queued again, it is rendered (or fails) once more; another letter queues it again after a second failure.
  spec(pdfJobDecider).given([requested, failed, requeued]).when(record).then(t, [rendered]);
  spec(pdfJobDecider)
    .given([requested, failed, requeued, failed])
    .when({ ...requeue, letter: 'lectern.dlq.worker.reports@4' })
    .then(t, [{ ...requeued, data: { ...requeued.data, letter: 'lectern.dlq.worker.reports@4' } }]);
});

test('a schedule is made once and cancelled once', (t) => {
  const schedule: PdfReportScheduled = {
    scheduleId: jobId,
    title: 'Weekly',
    lastDays: 7,
    reports: [{ name: 'wau', params: {} }],
    maxPages: 50,
    cadence: { every: 'week', weekday: 1, dayOfMonth: null, hour: 6, minute: 0 },
    createdBy: 'ada',
    createdAt: at,
  };
  const scheduled = { type: 'analytics.PdfReportScheduled', data: schedule } as const;
  const cancel = { type: 'CancelPdfSchedule', cancelledBy: 'ada', cancelledAt: at } as const;
  spec(pdfScheduleDecider)
    .given([])
    .when({ type: 'SchedulePdfReport', ...schedule })
    .then(t, [scheduled]);
  spec(pdfScheduleDecider)
    .given([scheduled])
    .when({ type: 'SchedulePdfReport', ...schedule })
    .then(t, []);
  const cancelled = {
    type: 'analytics.PdfReportScheduleCancelled',
    data: { scheduleId: jobId, cancelledBy: 'ada', cancelledAt: at },
  } as const;
  spec(pdfScheduleDecider).given([scheduled]).when(cancel).then(t, [cancelled]);
  spec(pdfScheduleDecider).given([scheduled, cancelled]).when(cancel).then(t, []);
  spec(pdfScheduleDecider).given([]).when(cancel).thenFails(t, 'pdf_schedule_not_found');
});
