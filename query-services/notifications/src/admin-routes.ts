import { Router } from 'express';
import { notificationLogQuery } from '@lectern/schemas/notifications/api';
import { decisionsOfUser } from '@lectern/notifications-projection-deliveries';
import { assertRole, authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

export type NotificationAdminDeps = Readonly<{
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
}>;

type Cursor = { at: string; decisionId: string };

/** Cursors are opaque to clients: base64url of the last decision's (at, decisionId). */
const cursorOf = (d: Cursor) => Buffer.from(JSON.stringify([d.at, d.decisionId])).toString('base64url');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const decodeCursor = (raw: string): Cursor => {
  try {
    const [at, decisionId] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    if (
      typeof at === 'string' &&
      !Number.isNaN(Date.parse(at)) &&
      typeof decisionId === 'string' &&
      UUID.test(decisionId)
    )
      return { at, decisionId };
  } catch {
    // refused below
  }
  throw new Problem('validation', 'invalid_cursor', 'The cursor is not one this API returned.');
};

/**
 * `GET /api/admin/notifications?user=<id>`: every decision about a user's
 * notifications, newest first (sent, by which provider, after how many
 * tries; suppressed, and why; failed; dead-lettered), paged with `before`.
 * Admins only: it shows who was sent what.
 */
export const notificationAdminRoutes = (deps: NotificationAdminDeps): Router => {
  const router = Router();
  router.get(
    '/api/admin/notifications',
    authenticate(deps.verify),
    requireRole('admin'),
    async (req, res) => {
      assertRole(req.ctx.actor?.roles, 'admin');
      // Each parameter by the validator the document describes it with.
      const q = notificationLogQuery;
      const user = q.user(req.query.user, '/user');
      const limit = req.query.limit === undefined ? null : q.limit(req.query.limit, '/limit');
      const before = req.query.before === undefined ? null : q.before(req.query.before, '/before');
      const issues = [user, limit, before].flatMap((r) => (r && !r.ok ? r.issues : []));
      if (issues.length || !user.ok) throw validationProblem(issues);
      const page = {
        limit: limit?.ok ? limit.value : 50,
        before: before?.ok ? decodeCursor(before.value) : null,
      };
      const items = await decisionsOfUser(deps.sql, user.value, page);
      const limitUsed = page.limit;
      const last = items.at(-1);
      res.setHeader('Cache-Control', 'private, no-store');
      res.json({ items, next: items.length === limitUsed && last ? cursorOf(last) : null });
    },
  );
  return router;
};
