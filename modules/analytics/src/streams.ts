import { pdfJobDecider, pdfScheduleDecider } from '@lectern/analytics-commands';
import { aggregateStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import { pdfReportEvents } from '@lectern/schemas/analytics/pdf-reports';

/** Analytics' aggregates (the PDF reports; telemetry goes straight to the log), as the audit tools read them. */
export const analyticsStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'pdfreport',
    description: 'a PDF report job: queued, rendered or failed, requeued',
    decider: pdfJobDecider,
    catalogue: pdfReportEvents,
    types: {
      'analytics.PdfReportRequested': true,
      'analytics.PdfReportRendered': true,
      'analytics.PdfReportFailed': true,
      'analytics.PdfReportRequeued': true,
    },
  }),
  aggregateStream({
    category: 'pdfreportschedule',
    description: 'a schedule of PDF reports',
    decider: pdfScheduleDecider,
    catalogue: pdfReportEvents,
    types: { 'analytics.PdfReportScheduled': true, 'analytics.PdfReportScheduleCancelled': true },
  }),
];
