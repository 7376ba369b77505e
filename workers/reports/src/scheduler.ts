import { latestSlot, type PdfReportScheduled } from '@lectern/schemas/analytics/pdf-reports';
import type { Logger } from '@lectern/infra/runtime/logger';
import { periodic } from '@lectern/infra/runtime/periodic';
import type { ReportJobs } from './ports.ts';

export type SchedulerDeps = Readonly<{
  /** The schedules not cancelled (the `pdf_report_schedules` read model). */
  schedules: () => Promise<readonly PdfReportScheduled[]>;
  jobs: ReportJobs;
  logger: Logger;
  now?: () => number;
  /** How often it looks; default 30 s. A slot is asked for within this of its time. */
  everyMs?: number;
}>;

/**
 * Asks for each schedule's latest slot, in every process with the
 * `workers` role. Exactly once per slot however many run: a slot's job id
 * is derived from (schedule, slot), and a job's stream is started once (the
 * second asker's append loses the race on the stream's revision and then
 * finds the job there). A slot missed while no worker ran is asked for late;
 * older missed slots are not (a report of a range long gone is rarely
 * wanted: ask for one by hand).
 */
export const pdfScheduler = (deps: SchedulerDeps) => {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ worker: 'pdf-scheduler' });

  const tick = async (): Promise<number> => {
    let created = 0;
    for (const s of await deps.schedules()) {
      const slot = latestSlot(s.cadence, now(), Date.parse(s.createdAt));
      if (slot === null) continue;
      const r = await deps.jobs.requestSlot(s, slot);
      if (r.created) {
        created++;
        log.info(
          { scheduleId: s.scheduleId, slot: new Date(slot).toISOString(), jobId: r.jobId },
          'slot asked for',
        );
      }
    }
    return created;
  };

  return {
    /** One look at every schedule; how many slots it found without their job (and asked for). */
    tick,
    ...periodic(tick, deps.everyMs ?? 30_000, (error) =>
      log.warn({ err: error }, 'schedules not looked at; next time'),
    ),
  };
};
