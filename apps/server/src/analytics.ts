import { Router } from 'express';
import { analyticsIngestRoutes, type IngestRouteDeps } from '@lectern/analytics-commands';
import { analyticsReportRoutes } from '@lectern/analytics-queries';
import { analyticsExportRoutes } from '@lectern/analytics-queries/export-routes';
import { INGEST_LIMITS, INGEST_PATH } from '@lectern/schemas/analytics/limits';
import { ingestTopic } from '@lectern/infra/analytics/rows';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';

/** What the analytics routes are built from: ingest's needs, and the store reports and exports read. */
export type AnalyticsRouteDeps = IngestRouteDeps &
  Readonly<{
    /** ClickHouse or chDB. */
    store: AnalyticsStore;
  }>;

/** Partitions of the ingest topic: as many as the analytics projector runs members. */
export const INGEST_PARTITIONS = 4;

/** The body limits the HTTP app applies to analytics paths (ingest takes batches of up to 1 MiB). */
export const analyticsBodyLimits: Readonly<Record<string, number>> = {
  [INGEST_PATH]: INGEST_LIMITS.maxBodyBytes,
};

/**
 * The analytics context's routes, composed in one router mounted at `/`:
 * ingest (telemetry → the log), reports and exports (ClickHouse → HTTP).
 *
 * 1. The ingest topic is ensured first, so that the first batch a client
 *    sends can be produced (the projector ensures it too, but may run in
 *    another process).
 * 2. Each router of the context is mounted in turn.
 */
export const analyticsRoutes = async (deps: AnalyticsRouteDeps): Promise<Router> => {
  await deps.log.ensureTopics([{ topic: ingestTopic(deps.namespace), partitions: INGEST_PARTITIONS }]);
  const router = Router();
  router.use(analyticsIngestRoutes(deps));
  router.use(analyticsReportRoutes(deps));
  router.use(analyticsExportRoutes(deps));
  return router;
};
