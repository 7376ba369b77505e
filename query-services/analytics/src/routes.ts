import { Router } from 'express';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { runReport } from './reports.ts';

export type AnalyticsReportDeps = Readonly<{
  /** The analytics database (ClickHouse, or chDB in the embedded profile). */
  store: AnalyticsStore;
  verify: (token: string) => Promise<VerifiedToken>;
}>;

/** Who may read reports: they show every user's behaviour, in aggregate. */
const READERS = ['admin', 'analyst'] as const;

/**
 * `GET /api/analytics/reports/:name?from=&to=&…`: runs one report of
 * `analyticsReports` and answers `{ report, params, columns, rows }`.
 * Admins and analysts only, checked at the edge and again before the query.
 * Unknown report 404 `unknown_report`, bad parameters 400 with a pointer per
 * problem, an engine that does not answer 503 `analytics_unavailable`.
 *
 * @example app.use(analyticsReportRoutes({ store, verify }));
 */
export const analyticsReportRoutes = (deps: AnalyticsReportDeps): Router => {
  const router = Router();

  router.get(
    '/api/analytics/reports/:name',
    authenticate(deps.verify),
    requireRole(...READERS),
    async (req, res) => {
      assertRole(req.ctx.actor?.roles, ...READERS);
      const result = await runReport(deps.store, String(req.params.name), req.query);
      // Aggregates of everyone's behaviour: no shared cache may keep them.
      res.setHeader('Cache-Control', 'private, no-store');
      res.json(result);
    },
  );

  return router;
};
