import { Router } from 'express';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { analyticsReportNames } from '@lectern/schemas/analytics/reports-api';
import { reportNamed, runReport } from './reports.ts';

export type AnalyticsReportDeps = Readonly<{
  /** The analytics database (ClickHouse, or chDB in the embedded profile). */
  store: AnalyticsStore;
  verify: (token: string) => Promise<VerifiedToken>;
}>;

const REPORTS = '/api/analytics/reports/';

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

  // One path per report, not `/reports/:name`: that pattern would also claim
  // `/reports/pdf` (the PDF jobs' POST), whose methods would then read as GET too.
  router.get(
    analyticsReportNames.map((name) => `/api/analytics/reports/${name}`),
    authenticate(deps.verify),
    requireRole(...READERS),
    async (req, res) => {
      assertRole(req.ctx.actor?.roles, ...READERS);
      const result = await runReport(deps.store, req.path.slice(REPORTS.length), req.query);
      // Aggregates of everyone's behaviour: no shared cache may keep them.
      res.setHeader('Cache-Control', 'private, no-store');
      res.json(result);
    },
  );

  // A name no report has: 404 `unknown_report` to a reader (others get 401 or 403 and learn nothing),
  // answered by middleware rather than a route, so that it adds no method to any path.
  const unknown = Router();
  unknown.use(
    (req, _res, next) => {
      const name = req.path.startsWith(REPORTS) ? req.path.slice(REPORTS.length) : '';
      const asks = (req.method === 'GET' || req.method === 'HEAD') && name !== '' && !name.includes('/');
      if (asks && !(analyticsReportNames as readonly string[]).includes(name)) next();
      else next('router');
    },
    authenticate(deps.verify),
    requireRole(...READERS),
    (req) => {
      reportNamed(req.path.slice(REPORTS.length));
    },
  );
  router.use(unknown);

  return router;
};
