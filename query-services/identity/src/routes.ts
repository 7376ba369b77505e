import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import {
  identityUsersProjection,
  userById,
  usersByEmail,
  usersByPhone,
} from '@lectern/identity-projection-users';
import { sessionsOfUser } from '@lectern/identity-projection-sessions';

export type IdentityQueryDeps = Readonly<{
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
}>;

/** Queries over the users and sessions read models, through their readers. */
export const identityQueryRoutes = (deps: IdentityQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  router.get('/api/identity/me', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    await awaitConsistency(req, res, deps.waitFor, identityUsersProjection.name, schema.userStreamId(userId));
    const user = await userById(deps.sql, userId);
    if (!user) throw new Problem('not_found', 'user_not_found', 'No such user (yet).');
    res.json(user);
  });

  router.get('/api/identity/sessions', auth, async (req, res) => {
    res.json({ items: await sessionsOfUser(deps.sql, req.ctx.actor!.userId!) });
  });

  router.get('/api/admin/users', auth, requireRole('admin'), async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const email = typeof req.query.email === 'string' ? schema.emailAddress(req.query.email, '/email') : null;
    const phone = typeof req.query.phone === 'string' ? schema.phoneNumber(req.query.phone, '/phone') : null;
    if (!email && !phone) throw validationProblem([{ path: '/email', message: 'give email or phone' }]);
    for (const r of [email, phone]) if (r && !r.ok) throw validationProblem(r.issues);
    const users = email?.ok
      ? await usersByEmail(deps.sql, email.value.toLowerCase())
      : await usersByPhone(deps.sql, phone!.ok ? phone!.value : '');
    res.json({ items: users });
  });

  return router;
};
