import { Router } from 'express';
import { analyticsIngestRoutes } from '@lectern/analytics-commands';
import { analyticsReportRoutes } from '@lectern/analytics-queries';
import { analyticsExportRoutes } from '@lectern/analytics-queries/export-routes';
import { analyticsProjector, analyticsSchema } from '@lectern/analytics-projection-events';
import { topicOf } from '@lectern/schemas';
import { analyticsIngestApi, analyticsTags } from '@lectern/schemas/analytics/api';
import { analyticsExportsApi, analyticsExportsTags } from '@lectern/schemas/analytics/exports-api';
import { ingestTopic } from '@lectern/schemas/analytics/ingest';
import { INGEST_LIMITS, INGEST_PATH } from '@lectern/schemas/analytics/limits';
import { analyticsReportsApi, analyticsReportsTags } from '@lectern/schemas/analytics/reports-api';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';

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
  analyticsSchema,
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
    router.use(analyticsReportRoutes(deps));
    router.use(analyticsExportRoutes(deps));
    return [router];
  },
  api: [
    {
      name: 'analytics',
      operations: [...analyticsIngestApi, ...analyticsReportsApi, ...analyticsExportsApi],
      tags: { ...analyticsTags, ...analyticsReportsTags, ...analyticsExportsTags },
    },
  ],
  // Ingest takes batches of up to 1 MiB.
  bodyLimits: { [INGEST_PATH]: INGEST_LIMITS.maxBodyBytes },
});
