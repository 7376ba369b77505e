import type { RecordedEvent } from '@lectern/schemas';
import type { PdfReportRendered, PdfReportScheduled } from '@lectern/schemas/analytics/pdf-reports';

/** A job as the worker needs to see it before it starts. */
export type JobForWorker =
  | Readonly<{ status: 'none' }>
  | Readonly<{
      status: 'queued' | 'ready' | 'failed';
      /** The dead letters whose redrive queued the job again. */
      requeuedFor: readonly string[];
    }>;

/**
 * How the reports worker and the scheduler record what they did, as events
 * of the job through the analytics context's decider; the analytics module
 * hands it over (workers import no command service). Idempotent by the job.
 */
export type ReportJobs = Readonly<{
  job(jobId: string): Promise<JobForWorker>;
  requestSlot(schedule: PdfReportScheduled, slot: number): Promise<{ jobId: string; created: boolean }>;
  rendered(cause: RecordedEvent, jobId: string, r: Omit<PdfReportRendered, 'jobId'>): Promise<void>;
  failed(cause: RecordedEvent, jobId: string, reason: string): Promise<void>;
  /** Queues a failed job again: its dead letter `letter` was redriven (once per letter). */
  requeue(cause: RecordedEvent, jobId: string, letter: string): Promise<void>;
}>;

export type ReportColumn = Readonly<{ name: string; type: 'date' | 'string' | 'integer' | 'number' }>;

/** The analytics reports, as the analytics module runs them for the worker (ClickHouse or chDB). */
export type ReportRunner = Readonly<{
  run(
    name: string,
    params: Readonly<Record<string, string>>,
  ): Promise<
    Readonly<{
      params: Readonly<Record<string, unknown>>;
      columns: readonly ReportColumn[];
      rows: Record<string, string | number>[];
    }>
  >;
  /** When the newest event the analytics store holds was received; null when it holds none. */
  watermark(): Promise<string | null>;
}>;
