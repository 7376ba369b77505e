import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { Problem } from '@lectern/infra/runtime/errors';
import { verifyPassword } from '@lectern/infra/auth/passwords';
import { linkToken } from '@lectern/infra/auth/message-secrets';
import { tokenHash } from '@lectern/infra/auth/secrets';
import { userDecider, type UserCommand } from '../domain/user.ts';
import { emailClaimDecider } from '../domain/email-claim.ts';
import { policy } from '../domain/policy.ts';
import {
  emailClaimId,
  normalEmail,
  splitToken,
  validated,
  type IdentityCommandDeps,
  type IdentityKit,
} from './shared.ts';

/** Change of e-mail: the new address is claimed and confirmed by an e-mailed token; the old one is released. */
export const emailChangeRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { auth, now, run, loadUser, claimEmail } = kit;

  router.post('/api/identity/email', auth, async (req, res) => {
    const body = validated(schema.changeEmailRequest(jsonBody(req)));
    const newEmail = normalEmail(body.newEmail);
    const userId = req.ctx.actor!.userId!;
    const user = await loadUser(userId);
    if (user.status !== 'active') throw new Problem('not_found', 'user_not_found', 'No such user.');
    const matched = (await verifyPassword(body.password, user.passwordHash)) ? user.passwordHash : null;
    if (matched === null)
      throw new Problem('unauthenticated', 'invalid_credentials', 'The password is wrong.');
    const at = now();
    await claimEmail(req, newEmail, userId, policy.emailChangeTtl, at);
    const token = linkToken(userId, deps.messageKeys.derive('confirm-email-change', [userId, newEmail, at]));
    await run(req, schema.userStreamId(userId), userDecider, {
      type: 'RequestEmailChange',
      newEmail,
      matchedHash: matched,
      tokenHash: tokenHash(token),
      at,
    });
    res.status(202).json({ status: 'verification_sent', email: newEmail });
  });

  router.post('/api/identity/email/confirm', async (req, res) => {
    const body = validated(schema.confirmEmailChangeRequest(jsonBody(req)));
    const [userId] = splitToken(body.token, 2, 'email_change_token_invalid');
    const at = now();
    const command: UserCommand = { type: 'ConfirmEmailChange', tokenHash: tokenHash(body.token), at };
    const before = await loadUser(userId!);
    userDecider.decide(command, before);
    if (before.status !== 'active' || !before.emailChange) throw new Error('unreachable');
    const next = before.emailChange.email;
    await run(
      req,
      schema.emailClaimStreamId(emailClaimId(next)),
      emailClaimDecider,
      { type: 'Confirm', userId: userId!, at },
      { step: 'claim' },
    );
    const outcome = await run(req, schema.userStreamId(userId!), userDecider, command);
    await run(
      req,
      schema.emailClaimStreamId(emailClaimId(before.email)),
      emailClaimDecider,
      { type: 'Release', userId: userId!, at },
      { step: 'release' },
    );
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ userId, email: next });
  });

  return router;
};
