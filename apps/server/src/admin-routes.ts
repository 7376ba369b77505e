import { Router } from 'express';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { Problem } from '@lectern/infra/runtime/errors';
import type { ProjectionRunner } from '@lectern/infra/runtime/projection-runner';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

/**
 * Operating the read models of this process: their status, and a rebuild
 * from position zero (shadow tables, atomic swap). A rebuild pauses this
 * process's consumer of that model; run it where the model has one replica.
 */
export const projectionAdminRoutes = (deps: {
  sql: SqlExecutor;
  runners: readonly ProjectionRunner[];
  verify: (token: string) => Promise<VerifiedToken>;
}): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('admin')];

  router.get('/api/admin/projections', ...guard, async (_req, res) => {
    const rows = await deps.sql.query<Record<string, unknown>>(
      `select name, version, applied_events::text as applied_events, last_position::text as last_position,
              last_event_at, last_applied_at, rebuilt_at from projection_status order by name`,
    );
    const running = new Set(deps.runners.filter((r) => r.isRunning()).map((r) => r.projection.name));
    res.json({ items: rows.map((r) => ({ ...r, runningHere: running.has(r.name as string) })) });
  });

  router.post('/api/admin/projections/:name/rebuild', ...guard, async (req, res) => {
    const runner = deps.runners.find((r) => r.projection.name === req.params.name);
    if (!runner)
      throw new Problem(
        'not_found',
        'projection_not_here',
        `Projection '${req.params.name}' does not run in this process.`,
      );
    const result = await runner.rebuild();
    req.log.info(
      { projection: req.params.name, actor: req.ctx.actor?.userId, ...result },
      'projection rebuilt',
    );
    res.json({ projection: req.params.name, ...result });
  });

  return router;
};
