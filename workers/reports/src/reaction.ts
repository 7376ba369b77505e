import type { RecordedEvent } from '@lectern/schemas';
import type { PdfReportPart, PdfReportRequested } from '@lectern/schemas/analytics/pdf-reports';
import { reportSummaries } from '@lectern/schemas/analytics/reports-api';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { Problem, statusOf } from '@lectern/infra/runtime/errors';
import type { Logger } from '@lectern/infra/runtime/logger';
import { PermanentFailure, type Reaction } from '@lectern/infra/runtime/reactor';
import { clip } from '@lectern/infra/runtime/text';
import type { ReportDocument, ReportSection } from './pdf/document.ts';
import { renderInThread } from './pdf/thread.ts';
import type { ReportJobs, ReportRunner } from './ports.ts';

export type ReportsDeps = Readonly<{
  blobs: BlobStore;
  jobs: ReportJobs;
  runner: ReportRunner;
  logger: Logger;
  clock: Readonly<{ now(): Date }>;
  /** The longest a render may take before it is stopped (and tried again); default 2 minutes. */
  renderTimeoutMs?: number;
}>;

/** How each report reads in a PDF: its heading, and the chart drawn from its rows. */
const presentation: Readonly<
  Record<PdfReportPart['name'], Readonly<{ title: string; chart: ReportSection['chart'] }>>
> = {
  dau: { title: 'Daily active users', chart: { kind: 'line', x: 'day', series: ['users'] } },
  wau: { title: 'Weekly active users', chart: { kind: 'line', x: 'week', series: ['users'] } },
  mau: { title: 'Monthly active users', chart: { kind: 'bar', x: 'month', series: ['users'] } },
  // Rows are (cohort, day N): a table reads better than one chart of every cohort.
  retention: { title: 'Retention', chart: null },
  'course-completion': {
    title: 'Course completion',
    chart: { kind: 'bar', x: 'course_id', series: ['started', 'completed'] },
  },
  funnel: { title: 'Funnel', chart: { kind: 'bar', x: 'type', series: ['users'] } },
};

/** The CSV export that holds every row of a report, for rows past the page cap. */
export const csvPathOf = (name: string, params: Readonly<Record<string, string>>): string =>
  `/api/analytics/reports/${name}/export?${new URLSearchParams({ ...params, format: 'csv' }).toString()}`;

/** Pages in a PDF: pdfkit writes each page as an object of `/Type /Page`, outside any compressed stream. */
export const pagesOf = (pdf: Buffer): number =>
  pdf.toString('latin1').match(/\/Type \/Page\b(?!s)/g)?.length ?? 0;

/**
 * The reports worker (issue 11): a `analytics.PdfReportRequested` (asked for
 * over HTTP or by a schedule's slot) becomes a PDF in object storage.
 *
 * Each report of the definition is run against the analytics store (the
 * same SQL as its JSON route), the data's watermark read, and the document
 * rendered in a worker thread (the event loop keeps serving); the PDF goes
 * to `reports/<jobId>.pdf` and the job records its key, pages, size and
 * watermark. A report the engine cannot answer now is tried again (backoff,
 * by the reactor); a definition a report refuses fails the job at once;
 * the last try's failure is recorded on the job.
 */
export const reportsReaction = (deps: ReportsDeps): Reaction => ({
  name: 'reports',
  contexts: ['analytics'],
  eventTypes: ['analytics.PdfReportRequested'],
  async handle(event: RecordedEvent, attempt) {
    const request = event.data as PdfReportRequested;
    const { jobId, definition } = request;
    const log = deps.logger.child({
      jobId,
      causeEventId: event.id,
      correlationId: event.metadata.correlationId,
    });
    const job = await deps.jobs.job(jobId);
    // A failed job is over, unless `lectern dlq redrive` handed its request back: then it is queued
    // again (once per dead letter) and rendered afresh under the same id.
    const letter = attempt.redriven;
    if (job.status === 'failed' && letter && !job.requeuedFor.includes(letter)) {
      await deps.jobs.requeue(event, jobId, letter);
      log.info({ letter }, 'failed PDF report queued again by a redrive');
    } else if (job.status !== 'queued') return { outcome: 'recorded', ref: jobId };
    try {
      const watermark = await deps.runner.watermark();
      const sections: ReportSection[] = [];
      for (const part of definition.reports) {
        const params = { ...part.params, from: definition.from, to: definition.to };
        const result = await deps.runner.run(part.name, params).catch((error: unknown) => {
          // The definition was checked when it was asked for; a report refusing it now cannot change its mind.
          if (error instanceof Problem && statusOf[error.kind] < 500)
            throw new PermanentFailure(error.message);
          throw error;
        });
        sections.push({
          report: part.name,
          title: presentation[part.name].title,
          description: reportSummaries[part.name],
          params: result.params as Record<string, unknown>,
          columns: result.columns.map((c) => ({ ...c })),
          rows: result.rows,
          chart: presentation[part.name].chart,
          csvPath: csvPathOf(part.name, params),
        });
      }
      const doc: ReportDocument = {
        title: definition.title,
        subtitle: request.scheduleId ? `Scheduled report, slot ${request.slot}` : null,
        range: { from: definition.from, to: definition.to },
        filters: Object.fromEntries(
          definition.reports.flatMap((r) =>
            Object.entries(r.params).map(([k, v]) => [`${r.name} ${k}`, v.split(',')] as const),
          ),
        ),
        generatedAt: deps.clock.now().toISOString(),
        watermark: watermark ?? 'no events yet',
        query: JSON.stringify(definition),
        sections,
        maxPages: definition.maxPages,
      };
      const pdf = await renderInThread(doc, {
        signal: attempt.signal,
        timeoutMs: deps.renderTimeoutMs ?? 120_000,
      });
      await attempt.keepAlive();
      const key = `reports/${jobId}.pdf`;
      const put = await deps.blobs.presignUpload({
        key,
        contentType: 'application/pdf',
        size: pdf.length,
        maxSize: 256 * 1024 * 1024,
        expiresInSeconds: 600,
      });
      const res = await fetch(put.url, {
        method: 'PUT',
        headers: put.headers,
        body: pdf,
        signal: attempt.signal,
      });
      if (!res.ok) throw new Error(`storing ${key}: ${res.status} ${clip(await res.text(), 200)}`);
      const pages = pagesOf(pdf);
      await deps.jobs.rendered(event, jobId, {
        key,
        bytes: pdf.length,
        pages,
        watermark,
        renderedAt: deps.clock.now().toISOString(),
      });
      log.info({ pages, bytes: pdf.length, reports: sections.map((s) => s.report) }, 'PDF report rendered');
      return { outcome: 'rendered', ref: key };
    } catch (error) {
      if (error instanceof PermanentFailure || attempt.final) {
        await deps.jobs.failed(
          event,
          jobId,
          clip((error as Error)?.message ?? String(error), 2000) || 'unknown',
        );
        log.warn({ err: error }, 'PDF report failed');
      }
      throw error;
    }
  },
});
