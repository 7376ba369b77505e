import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { jsonBody } from '@lectern/infra/http/app';
import { hashPassword } from '@lectern/infra/auth/passwords';
import { linkToken } from '@lectern/infra/auth/message-secrets';
import { tokenHash } from '@lectern/infra/auth/secrets';
import { userDecider } from '../domain/user.ts';
import { tokenFamilyDecider } from '../domain/token-family.ts';
import { ipLimits } from '../limits.ts';
import {
  ip,
  normalEmail,
  splitToken,
  validated,
  type IdentityCommandDeps,
  type IdentityKit,
} from './shared.ts';

/** Password reset: an e-mailed token, then a new password that ends every session of the user. */
export const passwordResetRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { now, run, loadClaim, limit } = kit;

  router.post('/api/identity/password-reset', async (req, res) => {
    const body = validated(schema.passwordResetRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    await limit(`email:${ip(req)}`, ipLimits.emailRequests, 'e-mail requests');
    const claim = await loadClaim(email);
    // The answer must not tell whether the address is known, by its content
    // or by its time: it goes before the work only a known address has (an
    // append and a mail: 7.5 vs 11.8 ms when it went after), which then
    // runs on. A failure there is logged; the user asks again.
    res.status(202).json({ status: 'accepted' });
    if (claim.status !== 'held') return;
    try {
      // None of it before the answer has left (or the client has gone).
      if (!res.writableFinished)
        await new Promise<void>((resolve) => {
          res.once('finish', () => resolve());
          res.once('close', () => resolve());
        });
      const at = now();
      const token = linkToken(claim.userId, deps.messageKeys.derive('reset-password', [claim.userId, at]));
      await run(req, schema.userStreamId(claim.userId), userDecider, {
        type: 'RequestPasswordReset',
        tokenHash: tokenHash(token),
        at,
      });
    } catch (error) {
      req.log.error({ err: error }, 'password reset request failed after its answer');
    }
  });

  router.post('/api/identity/password-reset/confirm', async (req, res) => {
    const body = validated(schema.passwordResetConfirmRequest(jsonBody(req)));
    const [userId] = splitToken(body.token, 2, 'reset_token_invalid');
    const outcome = await run(req, schema.userStreamId(userId!), userDecider, {
      type: 'ResetPassword',
      tokenHash: tokenHash(body.token),
      passwordHash: await hashPassword(body.newPassword),
      at: now(),
    });
    // Every refresh token of the user dies: the families the reset names are revoked one by one
    // (and a refresh checks the reset time as well, so none can slip through meanwhile).
    const reset = outcome.events.find((e) => e.type === 'identity.PasswordReset')?.data;
    for (const familyId of reset?.revokedFamilyIds ?? [])
      await run(
        req,
        schema.tokenFamilyStreamId(familyId),
        tokenFamilyDecider,
        { type: 'Revoke', presentedHash: null, reason: 'password_reset', at: now() },
        { step: `revoke/${familyId}` },
      );
    res.status(204).end();
  });

  return router;
};
