import * as schema from '@lectern/schemas/analytics/pdf-reports';
import type { EventMetadata, RecordedEvent } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { causedBy } from '@lectern/infra/runtime/context';
import { fold } from '@lectern/infra/runtime/decider';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { pdfJobDecider, type PdfJob, type PdfJobCommand } from './domain/pdf-reports.ts';

/** A scheduler's request has no cause but its slot: a correlation id of the job's own. */
const metadataOf = (cause: RecordedEvent | null, jobId: string): EventMetadata =>
  cause
    ? causedBy(cause)
    : { correlationId: jobId, causationId: null, actor: null, requestId: null, traceparent: null };

/**
 * The jobs' side of the reports worker and the scheduler: what they record,
 * as commands on the job's stream through its decider. Command ids derive
 * from the job, so a record repeated after a crash decides nothing new.
 */
export const pdfReportLedger = (deps: { store: EventStore; clock: Clock }) => {
  const run = (jobId: string, commandId: string, command: PdfJobCommand, cause: RecordedEvent | null) =>
    handleCommand({
      store: deps.store,
      streamId: schema.pdfReportStreamId(jobId),
      decider: pdfJobDecider,
      catalogue: schema.pdfReportEvents,
      command,
      commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: metadataOf(cause, jobId),
    });
  const job = async (jobId: string): Promise<PdfJob> =>
    fold(pdfJobDecider, await deps.store.readStream(schema.pdfReportStreamId(jobId)));
  /** A round's outcome is its own command: the first round's ids as they always were, then `/<round>`. */
  const roundId = async (jobId: string, what: string) => {
    const s = await job(jobId);
    const round = s.status === 'none' ? 0 : s.requeuedFor.length;
    return `pdfreport/${jobId}/${what}${round ? `/${round}` : ''}`;
  };
  return {
    job,
    /**
     * A schedule's slot: its job id and its event are the slot's own, so
     * however many ask, the stream holds one request. `created` is true when
     * this call found no request there (a racing twin may say so too; the
     * stream still holds one).
     */
    async requestSlot(
      s: schema.PdfReportScheduled,
      slot: number,
    ): Promise<{ jobId: string; created: boolean }> {
      const slotIso = new Date(slot).toISOString();
      const jobId = deterministicUuid(`pdfschedule/${s.scheduleId}/${slotIso}`);
      const { from, to } = schema.slotRange(slot, s.lastDays);
      const outcome = await run(
        jobId,
        `pdfreport/${jobId}/requested`,
        {
          type: 'RequestPdfReport',
          jobId,
          definition: { title: s.title, from, to, reports: s.reports, maxPages: s.maxPages },
          requestedBy: null,
          scheduleId: s.scheduleId,
          slot: slotIso,
          // The slot's time, not the asker's: every replica decides the very same event.
          requestedAt: slotIso,
        },
        null,
      );
      return { jobId, created: outcome.events.length > 0 };
    },
    async rendered(cause: RecordedEvent, jobId: string, r: Omit<schema.PdfReportRendered, 'jobId'>) {
      await run(jobId, await roundId(jobId, 'rendered'), { type: 'RecordPdfReport', ...r }, cause);
    },
    async failed(cause: RecordedEvent, jobId: string, reason: string) {
      await run(
        jobId,
        await roundId(jobId, 'failed'),
        { type: 'RecordPdfReportFailure', reason, failedAt: deps.clock.now().toISOString() },
        cause,
      );
    },
    /** Queues a failed job again for the redrive of `letter` (once per letter). */
    async requeue(cause: RecordedEvent, jobId: string, letter: string) {
      await run(
        jobId,
        `pdfreport/${jobId}/requeue/${letter}`,
        { type: 'RequeuePdfReport', letter, requeuedAt: deps.clock.now().toISOString() },
        cause,
      );
    },
  };
};

export type PdfReportLedger = ReturnType<typeof pdfReportLedger>;
