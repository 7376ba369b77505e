import { Router } from 'express';
import { identity as schema } from '@lectern/schemas';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import { hashPassword } from '@lectern/infra/auth/passwords';
import { linkToken } from '@lectern/infra/auth/message-secrets';
import { tokenHash } from '@lectern/infra/auth/secrets';
import { userDecider, type UserCommand } from '../domain/user.ts';
import { emailClaimDecider } from '../domain/email-claim.ts';
import { policy } from '../domain/policy.ts';
import { ipLimits } from '../limits.ts';
import {
  deviceOf,
  emailClaimId,
  ip,
  normalEmail,
  splitToken,
  validated,
  type IdentityCommandDeps,
  type IdentityKit,
} from './shared.ts';

/** Register → verify: an inactive user holding its address, until the e-mailed token activates and logs it in. */
export const registrationRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { now, run, loadUser, loadClaim, limit, issueSession, claimEmail } = kit;

  // The token is derived from facts of the event with the message key; the
  // notifications worker derives it again to build the link (infra/auth/message-secrets).
  const verificationToken = (userId: string, email: string, at: string) =>
    linkToken(userId, deps.messageKeys.derive('verify-email', [userId, email, at]));

  router.post('/api/identity/register', async (req, res) => {
    const body = validated(schema.registerRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    await limit(`register:${ip(req)}`, ipLimits.registrations, 'registrations');
    const userId = deterministicUuid(`user/${req.ctx.commandId}`);
    const at = now();
    // 1. The address: exactly one registration can hold it.
    await claimEmail(req, email, userId, policy.emailVerificationTtl, at);
    // 2. The user, inactive, with a verification token only its hash of which is kept;
    //    its e-mail is the notifications worker's, from the event.
    const token = verificationToken(userId, email, at);
    const outcome = await run(req, schema.userStreamId(userId), userDecider, {
      type: 'Register',
      userId,
      email,
      passwordHash: await hashPassword(body.password),
      tokenHash: tokenHash(token),
      at,
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(201).json({ userId, email, status: 'pending' });
  });

  router.post('/api/identity/verify-email/resend', async (req, res) => {
    const body = validated(schema.resendVerificationRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    await limit(`email:${ip(req)}`, ipLimits.emailRequests, 'e-mail requests');
    const claim = await loadClaim(email);
    if (claim.status === 'pending') {
      const at = now();
      const token = verificationToken(claim.userId, email, at);
      await claimEmail(req, email, claim.userId, policy.emailVerificationTtl, at);
      await run(req, schema.userStreamId(claim.userId), userDecider, {
        type: 'ResendVerification',
        tokenHash: tokenHash(token),
        at,
      });
    }
    // The same answer whether or not the address is known: no enumeration.
    res.status(202).json({ status: 'accepted' });
  });

  router.post('/api/identity/verify-email', async (req, res) => {
    const body = validated(schema.verifyEmailRequest(jsonBody(req)));
    const [userId] = splitToken(body.token, 2, 'verification_token_invalid');
    const familyId = deps.ids.uuid();
    const at = now();
    const command: UserCommand = {
      type: 'VerifyEmail',
      tokenHash: tokenHash(body.token),
      familyId,
      device: deviceOf(req),
      at,
    };
    // 1. The token must be good before the claim is confirmed: decide once without appending.
    const before = await loadUser(userId!);
    userDecider.decide(command, before);
    if (before.status === 'none') throw new Error('unreachable');
    // 2. Confirm the address claim (fails if, after its deadline, someone else took it).
    await run(
      req,
      schema.emailClaimStreamId(emailClaimId(before.email)),
      emailClaimDecider,
      { type: 'Confirm', userId: userId!, at },
      { step: 'claim' },
    );
    // 3. Activate, log in, and start the token family.
    const outcome = await run(req, schema.userStreamId(userId!), userDecider, command);
    await issueSession(req, res, outcome.state, familyId, command.device);
  });

  return router;
};
