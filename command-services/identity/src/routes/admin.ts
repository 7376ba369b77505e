import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { assertRole, requireRole } from '@lectern/infra/http/auth';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { validationProblem } from '@lectern/infra/runtime/errors';
import { userDecider } from '../domain/user.ts';
import { UUID, validated, type IdentityCommandDeps, type IdentityKit } from './shared.ts';

/** Administration: a user's roles and the signing keys; the role is checked at the edge and again here. */
export const adminRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { auth, now, run } = kit;

  const admin = [auth, requireRole('admin')];
  router.put('/api/admin/users/:userId/roles', ...admin, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const userId = String(req.params.userId);
    if (!UUID.test(userId)) throw validationProblem([{ path: '/userId', message: 'must be a UUID' }]);
    const body = validated(schema.setRolesRequest(jsonBody(req)));
    const outcome = await run(req, schema.userStreamId(userId), userDecider, {
      type: 'SetRoles',
      roles: body.roles,
      at: now(),
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ userId, roles: outcome.state.status === 'none' ? [] : outcome.state.roles });
  });

  router.post('/api/admin/identity/keys/rotate', ...admin, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const kid = await deps.keyRing.rotate();
    res.json({ kid });
  });

  return router;
};
