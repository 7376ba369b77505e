import type * as schema from '@lectern/schemas/analytics/pdf-reports';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type JobEvent = Extract<
  schema.PdfReportDomainEvent,
  {
    type:
      | 'analytics.PdfReportRequested'
      | 'analytics.PdfReportRendered'
      | 'analytics.PdfReportFailed'
      | 'analytics.PdfReportRequeued';
  }
>;
type ScheduleEvent = Extract<
  schema.PdfReportDomainEvent,
  { type: 'analytics.PdfReportScheduled' | 'analytics.PdfReportScheduleCancelled' }
>;

/**
 * What a job's history holds besides its status: the dead letters whose
 * redrive queued it again (each does so once), and so how many rounds it
 * has had; each round records its outcome once.
 */
type Rounds = Readonly<{ requeuedFor: readonly string[] }>;

/** A PDF report job: queued once, then rendered or failed, once per round; a failed one is queued again by a redrive. */
export type PdfJob =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'queued'; request: schema.PdfReportRequested }> & Rounds)
  | (Readonly<{
      status: 'ready';
      request: schema.PdfReportRequested;
      rendered: schema.PdfReportRendered;
    }> &
      Rounds)
  | (Readonly<{ status: 'failed'; request: schema.PdfReportRequested; reason: string }> & Rounds);

export type PdfJobCommand =
  | (Readonly<{ type: 'RequestPdfReport' }> & schema.PdfReportRequested)
  | (Readonly<{ type: 'RecordPdfReport' }> & Omit<schema.PdfReportRendered, 'jobId'>)
  | Readonly<{ type: 'RecordPdfReportFailure'; reason: string; failedAt: string }>
  /** The reports worker, handed a failed job's request back by `lectern dlq redrive` of `letter`. */
  | Readonly<{ type: 'RequeuePdfReport'; letter: string; requeuedAt: string }>;

const rounds = (s: Rounds): Rounds => ({ requeuedFor: s.requeuedFor });

const noJob = () => new Problem('not_found', 'pdf_report_not_found', 'No such PDF report.');

/**
 * One `pdfreport-<jobId>` stream per job. Its id comes from the command (a
 * retried request is the same job) or from (schedule, slot): asking again
 * decides nothing, so however many schedulers race for a slot, one job.
 */
export const pdfJobDecider: Decider<PdfJob, PdfJobCommand, JobEvent> = {
  initialState: () => ({ status: 'none' }),
  decide: (cmd, s) => {
    switch (cmd.type) {
      case 'RequestPdfReport': {
        if (s.status !== 'none') return [];
        const { type: _type, ...data } = cmd;
        return [{ type: 'analytics.PdfReportRequested', data }];
      }
      case 'RecordPdfReport': {
        if (s.status === 'none') throw noJob();
        if (s.status !== 'queued') return [];
        const { type: _type, ...rest } = cmd;
        return [{ type: 'analytics.PdfReportRendered', data: { jobId: s.request.jobId, ...rest } }];
      }
      case 'RecordPdfReportFailure': {
        if (s.status === 'none') throw noJob();
        if (s.status !== 'queued') return [];
        return [
          {
            type: 'analytics.PdfReportFailed',
            data: { jobId: s.request.jobId, reason: cmd.reason, failedAt: cmd.failedAt },
          },
        ];
      }
      case 'RequeuePdfReport': {
        if (s.status === 'none') throw noJob();
        // Only a failed job, and once per dead letter: the same letter again finds it done.
        if (s.status !== 'failed' || s.requeuedFor.includes(cmd.letter)) return [];
        return [
          {
            type: 'analytics.PdfReportRequeued',
            data: { jobId: s.request.jobId, letter: cmd.letter, requeuedAt: cmd.requeuedAt },
          },
        ];
      }
      default: {
        const unhandled: never = cmd;
        throw new Error(`unknown command ${String(unhandled)}`);
      }
    }
  },
  evolve: (s, e) => {
    switch (e.type) {
      case 'analytics.PdfReportRequested':
        return { status: 'queued', request: e.data, requeuedFor: [] };
      case 'analytics.PdfReportRendered':
        return s.status === 'none'
          ? s
          : { ...rounds(s), status: 'ready', request: s.request, rendered: e.data };
      case 'analytics.PdfReportFailed':
        return s.status === 'none'
          ? s
          : { ...rounds(s), status: 'failed', request: s.request, reason: e.data.reason };
      case 'analytics.PdfReportRequeued':
        return s.status === 'none'
          ? s
          : { status: 'queued', request: s.request, requeuedFor: [...s.requeuedFor, e.data.letter] };
      default:
        return unknownEvent(e, s);
    }
  },
};

export type PdfSchedule =
  | Readonly<{ status: 'none' }>
  | Readonly<{ status: 'active' | 'cancelled'; schedule: schema.PdfReportScheduled }>;

export type PdfScheduleCommand =
  | (Readonly<{ type: 'SchedulePdfReport' }> & schema.PdfReportScheduled)
  | Readonly<{ type: 'CancelPdfSchedule'; cancelledBy: string; cancelledAt: string }>;

/** One `pdfreportschedule-<scheduleId>` stream per schedule: created once, cancelled once. */
export const pdfScheduleDecider: Decider<PdfSchedule, PdfScheduleCommand, ScheduleEvent> = {
  initialState: () => ({ status: 'none' }),
  decide: (cmd, s) => {
    switch (cmd.type) {
      case 'SchedulePdfReport': {
        if (s.status !== 'none') return [];
        const { type: _type, ...data } = cmd;
        return [{ type: 'analytics.PdfReportScheduled', data }];
      }
      case 'CancelPdfSchedule': {
        if (s.status === 'none')
          throw new Problem('not_found', 'pdf_schedule_not_found', 'No such PDF report schedule.');
        if (s.status === 'cancelled') return [];
        const { cancelledBy, cancelledAt } = cmd;
        return [
          {
            type: 'analytics.PdfReportScheduleCancelled',
            data: { scheduleId: s.schedule.scheduleId, cancelledBy, cancelledAt },
          },
        ];
      }
      default: {
        const unhandled: never = cmd;
        throw new Error(`unknown command ${String(unhandled)}`);
      }
    }
  },
  evolve: (s, e) => {
    switch (e.type) {
      case 'analytics.PdfReportScheduled':
        return { status: 'active', schedule: e.data };
      case 'analytics.PdfReportScheduleCancelled':
        return s.status === 'none' ? s : { status: 'cancelled', schedule: s.schedule };
      default:
        return unknownEvent(e, s);
    }
  },
};
