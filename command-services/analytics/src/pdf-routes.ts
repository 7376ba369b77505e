import { Router, type Request } from 'express';
import * as schema from '@lectern/schemas/analytics/pdf-reports';
import { uuid } from '@lectern/schemas/validation';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { fold } from '@lectern/infra/runtime/decider';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { pdfJobDecider, pdfScheduleDecider } from './domain/pdf-reports.ts';

export type PdfReportDeps = Readonly<{
  store: EventStore;
  blobs: BlobStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
}>;

const ROLES = ['admin', 'analyst'] as const;

const validated = <T>(
  r: { ok: true; value: T } | { ok: false; issues: readonly { path: string; message: string }[] },
) => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

const idParam = (req: Request, name: string): string => validated(uuid()(req.params[name], `/${name}`));

/**
 * PDF dashboards (issue 11): request one (202 with its job), read the job
 * (when ready, a short-lived presigned GET of the PDF), and schedule them.
 * Admins and analysts, as the reports themselves.
 */
export const pdfReportRoutes = (deps: PdfReportDeps): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole(...ROLES)];
  const common = (req: Request) => {
    // A revision the client read (If-Match), as every command takes; a malformed one is 400.
    const expectedRevision = ifMatchRevision(req);
    return {
      store: deps.store,
      catalogue: schema.pdfReportEvents,
      commandId: req.ctx.commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: eventMetadata(req.ctx),
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    };
  };

  router.post('/api/analytics/reports/pdf', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...ROLES);
    const definition = validated(schema.pdfReportRequest(jsonBody(req)));
    const jobId = deterministicUuid(`pdfreport/${req.ctx.commandId}`);
    const outcome = await handleCommand({
      ...common(req),
      streamId: schema.pdfReportStreamId(jobId),
      decider: pdfJobDecider,
      command: {
        type: 'RequestPdfReport',
        jobId,
        definition,
        requestedBy: req.ctx.actor!.userId,
        scheduleId: null,
        slot: null,
        requestedAt: deps.clock.now().toISOString(),
      },
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(202).location(`/api/analytics/reports/pdf/${jobId}`).json({ jobId, status: 'queued' });
  });

  router.get('/api/analytics/reports/pdf/:jobId', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...ROLES);
    const jobId = idParam(req, 'jobId');
    const job = fold(pdfJobDecider, await deps.store.readStream(schema.pdfReportStreamId(jobId)));
    if (job.status === 'none') throw new Problem('not_found', 'pdf_report_not_found', 'No such PDF report.');
    const { definition } = job.request;
    const download =
      job.status === 'ready'
        ? await deps.blobs.presignDownload(job.rendered.key, {
            expiresInSeconds: schema.PDF_LIMITS.downloadSeconds,
          })
        : null;
    res.setHeader('Cache-Control', 'private, no-store');
    res.json({
      jobId,
      status: job.status,
      title: definition.title,
      from: definition.from,
      to: definition.to,
      reports: definition.reports.map((r) => r.name),
      scheduleId: job.request.scheduleId,
      slot: job.request.slot,
      requestedAt: job.request.requestedAt,
      pages: job.status === 'ready' ? job.rendered.pages : null,
      bytes: job.status === 'ready' ? job.rendered.bytes : null,
      watermark: job.status === 'ready' ? job.rendered.watermark : null,
      reason: job.status === 'failed' ? job.reason : null,
      url: download?.url ?? null,
      urlExpiresAt: download?.expiresAt.toISOString() ?? null,
    });
  });

  router.post('/api/analytics/reports/pdf/schedules', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...ROLES);
    const body = validated(schema.pdfScheduleRequest(jsonBody(req)));
    const scheduleId = deterministicUuid(`pdfschedule/${req.ctx.commandId}`);
    const outcome = await handleCommand({
      ...common(req),
      streamId: schema.pdfScheduleStreamId(scheduleId),
      decider: pdfScheduleDecider,
      command: {
        type: 'SchedulePdfReport',
        scheduleId,
        ...body,
        createdBy: req.ctx.actor!.userId!,
        createdAt: deps.clock.now().toISOString(),
      },
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res
      .status(201)
      .location(`/api/analytics/reports/pdf/schedules/${scheduleId}`)
      .json({ scheduleId, status: 'active' });
  });

  router.delete('/api/analytics/reports/pdf/schedules/:scheduleId', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...ROLES);
    const scheduleId = idParam(req, 'scheduleId');
    const outcome = await handleCommand({
      ...common(req),
      streamId: schema.pdfScheduleStreamId(scheduleId),
      decider: pdfScheduleDecider,
      command: {
        type: 'CancelPdfSchedule',
        cancelledBy: req.ctx.actor!.userId!,
        cancelledAt: deps.clock.now().toISOString(),
      },
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ scheduleId, status: 'cancelled' });
  });

  return router;
};
