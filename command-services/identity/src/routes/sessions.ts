import { Router } from 'express';
import { addMs, identity as schema } from '@lectern/schemas';
import { jsonBody } from '@lectern/infra/http/app';
import { Problem } from '@lectern/infra/runtime/errors';
import { hashPassword, verifyPassword } from '@lectern/infra/auth/passwords';
import { randomToken, tokenHash } from '@lectern/infra/auth/secrets';
import { userDecider } from '../domain/user.ts';
import { tokenFamilyDecider } from '../domain/token-family.ts';
import { policy } from '../domain/policy.ts';
import { ipLimits } from '../limits.ts';
import {
  deviceOf,
  ip,
  normalEmail,
  splitToken,
  validated,
  type IdentityCommandDeps,
  type IdentityKit,
} from './shared.ts';

/** Login, refresh and logout: a token family per login, rotated on each refresh, revoked on logout or reuse. */
export const sessionRoutes = (deps: IdentityCommandDeps, kit: IdentityKit): Router => {
  const router = Router();
  const { now, run, load, loadUser, loadClaim, issueSession, sendTokenPair } = kit;
  // A login for an unknown e-mail spends the same scrypt time as a wrong password.
  const dummyHash = hashPassword(randomToken(16));

  router.post('/api/identity/login', async (req, res) => {
    const body = validated(schema.loginRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    const ipKey = `login-failed:${ip(req)}`;
    const ipState = await deps.limiter.peek(ipKey, ipLimits.failedLogins, deps.clock.now());
    if (!ipState.allowed)
      throw new Problem(
        'rate_limited',
        'rate_limited',
        'Too many failed logins from this address; try again later.',
        {
          retryAfterSeconds: ipState.retryAfterSeconds,
        },
      );
    const failed = async () => {
      await deps.limiter.hit(ipKey, ipLimits.failedLogins, deps.clock.now());
    };
    const claim = await loadClaim(email);
    if (claim.status === 'free') {
      await verifyPassword(body.password, await dummyHash);
      await failed();
      throw new Problem('unauthenticated', 'invalid_credentials', 'The email or password is wrong.');
    }
    const user = await loadUser(claim.userId);
    // A claim can be pending for an address a user is changing to: it is not theirs to log in with yet.
    if (user.status === 'none' || user.email !== email) {
      await verifyPassword(body.password, await dummyHash);
      await failed();
      throw new Problem('unauthenticated', 'invalid_credentials', 'The email or password is wrong.');
    }
    const matched = (await verifyPassword(body.password, user.passwordHash)) ? user.passwordHash : null;
    const familyId = deps.ids.uuid();
    const device = deviceOf(req, body.device);
    const outcome = await run(req, schema.userStreamId(claim.userId), userDecider, {
      type: 'LogIn',
      matchedHash: matched,
      familyId,
      device,
      at: now(),
    });
    const types = outcome.events.map((e) => e.type);
    if (types.includes('identity.LoginFailed')) {
      await failed();
      if (types.includes('identity.AccountLocked'))
        throw new Problem(
          'locked',
          'account_locked',
          'Too many wrong passwords: the account is locked for a while.',
          {
            retryAfterSeconds: Math.round(policy.accountLock / 1000),
          },
        );
      throw new Problem('unauthenticated', 'invalid_credentials', 'The email or password is wrong.');
    }
    await issueSession(req, res, outcome.state, familyId, device);
  });

  router.post('/api/identity/refresh', async (req, res) => {
    // When the token was presented, before any read: the race grace compares two requests'
    // arrivals, which a busy server's slow reads must not pull apart into a "reuse".
    const at = now();
    const body = validated(schema.refreshRequest(jsonBody(req)));
    const [familyId] = splitToken(body.refreshToken, 3, 'refresh_token_invalid');
    const streamId = schema.tokenFamilyStreamId(familyId!);
    const family = await load(streamId, tokenFamilyDecider);
    if (family.status === 'none')
      throw new Problem(
        'unauthenticated',
        'refresh_token_invalid',
        'The refresh token is invalid, expired or revoked.',
      );
    const user = await loadUser(family.userId);
    const tokenId = deps.ids.uuid();
    const refreshToken = `${familyId}.${tokenId}.${randomToken()}`;
    let outcome;
    try {
      // One attempt only: a concurrent rotation of the same token wins, this one loses (409), and neither is reuse.
      outcome = await run(
        req,
        streamId,
        tokenFamilyDecider,
        {
          type: 'Rotate',
          presentedHash: tokenHash(body.refreshToken),
          tokenId,
          tokenHash: tokenHash(refreshToken),
          expiresAt: addMs(at, policy.refreshTokenTtl),
          credentialsChangedAt: user.status === 'active' ? user.credentialsChangedAt : null,
          userActive: user.status === 'active',
          at,
        },
        { maxAttempts: 1 },
      );
    } catch (error) {
      if (error instanceof Problem && error.code === 'concurrent_modification')
        throw new Problem(
          'conflict',
          'refresh_conflict',
          'This refresh token was used by a concurrent request.',
        );
      throw error;
    }
    const revoked = outcome.events.find((e) => e.type === 'identity.TokenFamilyRevoked');
    if (revoked) {
      const reason = revoked.data.reason;
      throw new Problem(
        'unauthenticated',
        reason === 'reuse' ? 'refresh_token_reused' : 'refresh_token_invalid',
        reason === 'reuse'
          ? 'This refresh token was already used: every session of its login has been ended.'
          : 'The refresh token is invalid, expired or revoked.',
      );
    }
    await sendTokenPair(res, user, refreshToken, outcome.state);
  });

  router.post('/api/identity/logout', async (req, res) => {
    const body = validated(schema.refreshRequest(jsonBody(req)));
    const [familyId] = splitToken(body.refreshToken, 3, 'refresh_token_invalid');
    const outcome = await run(req, schema.tokenFamilyStreamId(familyId!), tokenFamilyDecider, {
      type: 'Revoke',
      presentedHash: tokenHash(body.refreshToken),
      reason: 'logout',
      at: now(),
    });
    const family = outcome.state;
    if (family.status !== 'none')
      await run(
        req,
        schema.userStreamId(family.userId),
        userDecider,
        { type: 'LogOut', familyId: familyId!, at: now() },
        { step: 'user' },
      );
    res.status(204).end();
  });

  return router;
};
