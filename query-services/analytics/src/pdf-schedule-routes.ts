import { Router } from 'express';
import { listPdfSchedules } from '@lectern/analytics-projection-pdf-schedules';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

/** `GET /api/analytics/reports/pdf/schedules`: every schedule, newest first, a cancelled one with its time. */
export const pdfScheduleQueryRoutes = (deps: {
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
}): Router => {
  const router = Router();
  router.get(
    '/api/analytics/reports/pdf/schedules',
    authenticate(deps.verify),
    requireRole('admin', 'analyst'),
    async (req, res) => {
      assertRole(req.ctx.actor?.roles, 'admin', 'analyst');
      res.setHeader('Cache-Control', 'private, no-store');
      res.json({ items: await listPdfSchedules(deps.sql) });
    },
  );
  return router;
};
