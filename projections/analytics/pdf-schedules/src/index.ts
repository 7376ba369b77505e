import { isPdfReportEvent, type PdfReportScheduled } from '@lectern/schemas/analytics/pdf-reports';
import { documentProjection, liveTable } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'pdf_report_schedules';

/** A schedule as the scheduler and the list read it. */
export type PdfScheduleDoc = PdfReportScheduled & Readonly<{ cancelledAt: string | null }>;

/**
 * `pdf_report_schedules`: every PDF report schedule, one document each, a
 * cancelled one kept with its time (the list shows it; the scheduler skips it).
 */
export const pdfSchedulesProjection = documentProjection<PdfScheduleDoc>({
  name: 'pdf_report_schedules',
  version: 1,
  contexts: ['analytics'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['analytics.PdfReportScheduled', 'analytics.PdfReportScheduleCancelled'],
  table: TABLE,
  key: (e) => (isPdfReportEvent(e) && 'scheduleId' in e.data ? e.data.scheduleId : null),
  evolve: (doc, e) => {
    if (!isPdfReportEvent(e)) return doc;
    switch (e.type) {
      case 'analytics.PdfReportScheduled':
        return { ...e.data, cancelledAt: null };
      case 'analytics.PdfReportScheduleCancelled':
        return doc && { ...doc, cancelledAt: e.data.cancelledAt };
      default:
        return doc;
    }
  },
});

/** Every schedule, newest first (at most `limit`). */
export const listPdfSchedules = async (sql: SqlExecutor, limit = 500): Promise<PdfScheduleDoc[]> =>
  (
    await sql.query<{ doc: PdfScheduleDoc }>(
      `select doc from ${liveTable(TABLE)} order by doc->>'createdAt' desc, id limit $1`,
      [limit],
    )
  ).map((r) => r.doc);

/** The schedules not cancelled: the scheduler's work list. */
export const activePdfSchedules = async (sql: SqlExecutor): Promise<PdfScheduleDoc[]> =>
  (
    await sql.query<{ doc: PdfScheduleDoc }>(
      `select doc from ${liveTable(TABLE)} where doc->>'cancelledAt' is null order by id`,
    )
  ).map((r) => r.doc);
