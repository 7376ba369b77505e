import { Router } from 'express';
import { analyticsIngestRoutes, pdfReportLedger, pdfReportRoutes } from '@lectern/analytics-commands';
import {
  analyticsReportRoutes,
  dataWatermark,
  pdfScheduleQueryRoutes,
  runReport,
} from '@lectern/analytics-queries';
import { activePdfSchedules, pdfSchedulesProjection } from '@lectern/analytics-projection-pdf-schedules';
import { pdfScheduler, reportsReaction } from '@lectern/reports-worker';
import { analyticsExportRoutes } from '@lectern/analytics-queries/export-routes';
import { analyticsProjector, analyticsSchema, rebuildAnalytics } from '@lectern/analytics-projection-events';
import { topicOf } from '@lectern/schemas';
import { analyticsIngestApi, analyticsTags } from '@lectern/schemas/analytics/api';
import { analyticsExportsApi, analyticsExportsTags } from '@lectern/schemas/analytics/exports-api';
import { ingestTopic } from '@lectern/schemas/analytics/ingest';
import { INGEST_LIMITS, INGEST_PATH } from '@lectern/schemas/analytics/limits';
import { analyticsReportsApi, analyticsReportsTags } from '@lectern/schemas/analytics/reports-api';
import { pdfReportsApi, pdfReportsTags } from '@lectern/schemas/analytics/pdf-reports-api';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';
import { exclusively } from '@lectern/infra/runtime/rebuild-lock';
import { reactorWorker } from '@lectern/infra/runtime/reactor';
import { pdfReportEvents } from '@lectern/schemas/analytics/pdf-reports';
import { ingestMessageSchema } from '@lectern/schemas/analytics/ingest';
import { analyticsStreams } from './streams.ts';

export type AnalyticsSettings = Readonly<{
  /** SHA-256 digests of the keys server-side sources send as `X-Ingest-Key`. */
  ingestKeys: readonly string[];
  /** Contexts whose domain events go into `events` besides client telemetry. */
  contexts: readonly string[];
}>;

/** Partitions of the ingest topic: as many as the analytics projector runs members. */
export const INGEST_PARTITIONS = 4;

const storeOf = (p: Platform) => {
  if (!p.analytics) throw new Error('the analytics context needs the analytics store (ClickHouse or chDB)');
  return p.analytics;
};

/**
 * Analytics: client telemetry and domain events into ClickHouse (chDB when
 * embedded), reports and exports over them.
 *
 * Its routes: ingest (telemetry → the log), reports and exports
 * (ClickHouse → HTTP). The ingest topic is ensured before they mount, so the
 * first batch a client sends can be produced (the projector ensures it too,
 * but may run in another process).
 */
export const analyticsModule = (settings: AnalyticsSettings): ContextModule => ({
  name: 'analytics',
  streams: analyticsStreams,
  analyticsSchema,
  projections: [pdfSchedulesProjection],
  workers: [
    // PDF dashboards: the reports worker, and the scheduler that asks for each schedule's slots beside it.
    reactorWorker({
      name: 'reports',
      contexts: ['analytics'],
      options: { attempts: 4, baseDelayMs: 1000 },
      reaction: async (p) => {
        const store = storeOf(p);
        const jobs = pdfReportLedger({ store: p.store, clock: p.clock });
        const scheduler = pdfScheduler({
          schedules: () => activePdfSchedules(p.sql),
          jobs,
          logger: p.logger,
        });
        scheduler.start();
        return {
          reaction: reportsReaction({
            blobs: p.blobs,
            jobs,
            runner: {
              run: (name, params) => runReport(store, name, params),
              watermark: () => dataWatermark(store),
            },
            logger: p.logger.child({ worker: 'reports' }),
            clock: p.clock,
          }),
          close: () => scheduler.stop(),
        };
      },
    }),
  ],
  consumers: [
    {
      name: 'analytics',
      kind: 'analytics',
      group: (ns) => `${ns}.projection.analytics`,
      topics: (ns) => [ingestTopic(ns), ...settings.contexts.map((c) => topicOf(c, ns))],
      deadLetters: 'projection.analytics',
      create: (p) =>
        analyticsProjector({
          store: storeOf(p),
          log: p.log,
          logger: p.logger,
          metrics: p.metrics,
          stallAfterMs: p.consumerStallMs,
          namespace: p.namespace,
          contexts: settings.contexts,
          partitions: INGEST_PARTITIONS,
        }),
      // One at a time in the deployment: a second rebuild, here or in another process, would drop
      // the first one's shadow tables, so it is refused (409 projection_busy) as a SQL model's is.
      rebuild: (p: Platform, opts: Readonly<{ acceptDifferences: boolean }>) =>
        exclusively(p.sql, 'analytics', p.logger, () =>
          rebuildAnalytics(
            {
              analytics: storeOf(p),
              store: p.store,
              log: p.log,
              sql: p.sql,
              logger: p.logger,
              namespace: p.namespace,
              contexts: settings.contexts,
              partitions: INGEST_PARTITIONS,
              now: () => p.clock.now().getTime(),
            },
            opts,
          ),
        ),
    },
  ],
  routes: async (p) => {
    await p.log.ensureTopics([{ topic: ingestTopic(p.namespace), partitions: INGEST_PARTITIONS }]);
    const deps = {
      store: storeOf(p),
      log: p.log,
      namespace: p.namespace,
      verify: p.auth.verify,
      ingestKeys: settings.ingestKeys,
      clock: p.clock,
    };
    const router = Router();
    router.use(analyticsIngestRoutes(deps));
    // The schedule list before the job route, which would take `schedules` for a job id.
    router.use(pdfScheduleQueryRoutes({ sql: p.sql, verify: p.auth.verify }));
    router.use(pdfReportRoutes({ store: p.store, blobs: p.blobs, verify: p.auth.verify, clock: p.clock }));
    router.use(analyticsReportRoutes(deps));
    router.use(analyticsExportRoutes(deps));
    return [router];
  },
  asyncApi: {
    context: 'analytics',
    topics: [
      { name: 'analytics.events', description: 'PDF report jobs.', events: pdfReportEvents },
      {
        name: 'analytics.ingest',
        description: 'Client telemetry as the ingest endpoint accepted it, keyed by user.',
        messages: [
          { name: 'analytics.telemetry', summary: 'One telemetry event.', payload: ingestMessageSchema },
        ],
      },
    ],
  },
  api: [
    {
      name: 'analytics',
      operations: [...analyticsIngestApi, ...analyticsReportsApi, ...analyticsExportsApi, ...pdfReportsApi],
      tags: { ...analyticsTags, ...analyticsReportsTags, ...analyticsExportsTags, ...pdfReportsTags },
    },
  ],
  // Ingest takes batches of up to 1 MiB.
  bodyLimits: { [INGEST_PATH]: INGEST_LIMITS.maxBodyBytes },
});
