import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import { toIdentityUser, type IdentityUserRow } from '@lectern/identity-projection-users';
import type { IdentitySession } from '@lectern/identity-projection-sessions';

export type IdentityQueryDeps = Readonly<{
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
}>;

const USER_COLUMNS =
  'user_id::text as user_id, email, phone, status, roles, registered_at, verified_at, last_login_at, locked_until, password_changed_at';

/** Queries over `identity_users` and `identity_sessions`. */
export const identityQueryRoutes = (deps: IdentityQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  router.get('/api/identity/me', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    await awaitConsistency(req, res, deps.waitFor, 'identity_users', schema.userStreamId(userId));
    const [row] = await deps.sql.query<IdentityUserRow>(
      `select ${USER_COLUMNS} from identity_users where user_id = $1`,
      [userId],
    );
    if (!row) throw new Problem('not_found', 'user_not_found', 'No such user (yet).');
    res.json(toIdentityUser(row));
  });

  router.get('/api/identity/sessions', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    const rows = await deps.sql.query<{
      family_id: string;
      user_id: string;
      device: IdentitySession['device'];
      started_at: Date | string;
      last_rotated_at: Date | string | null;
      rotations: number;
      expires_at: Date | string;
      revoked_at: Date | string | null;
      revoke_reason: string | null;
    }>(
      `select family_id::text as family_id, user_id::text as user_id, device, started_at, last_rotated_at, rotations,
              expires_at, revoked_at, revoke_reason
       from identity_sessions where user_id = $1 order by started_at desc limit 100`,
      [userId],
    );
    const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());
    const sessions: IdentitySession[] = rows.map((r) => ({
      familyId: r.family_id,
      userId: r.user_id,
      device: r.device,
      startedAt: iso(r.started_at)!,
      lastRotatedAt: iso(r.last_rotated_at),
      rotations: r.rotations,
      expiresAt: iso(r.expires_at)!,
      revokedAt: iso(r.revoked_at),
      revokeReason: r.revoke_reason,
    }));
    res.json({ items: sessions });
  });

  router.get('/api/admin/users', auth, requireRole('admin'), async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const email = typeof req.query.email === 'string' ? schema.emailAddress(req.query.email, '/email') : null;
    const phone = typeof req.query.phone === 'string' ? schema.phoneNumber(req.query.phone, '/phone') : null;
    if (!email && !phone) throw validationProblem([{ path: '/email', message: 'give email or phone' }]);
    for (const r of [email, phone]) if (r && !r.ok) throw validationProblem(r.issues);
    const rows = email?.ok
      ? await deps.sql.query<IdentityUserRow>(`select ${USER_COLUMNS} from identity_users where email = $1`, [
          email.value.toLowerCase(),
        ])
      : await deps.sql.query<IdentityUserRow>(`select ${USER_COLUMNS} from identity_users where phone = $1`, [
          phone!.ok ? phone!.value : '',
        ]);
    res.json({ items: rows.map(toIdentityUser) });
  });

  return router;
};
