import { Router, type Request, type Response } from 'express';
import { addMs, identity as schema, type Result } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { RateLimiter, RateLimit } from '@lectern/infra/ports/rate-limiter';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { handleCommand, type Decider } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock, type Ids } from '@lectern/infra/runtime/ids';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { hashPassword, verifyPassword } from '@lectern/infra/auth/passwords';
import { codeHash, randomDigits, randomToken, tokenHash, verifyCode } from '@lectern/infra/auth/secrets';
import { userDecider, type User, type UserCommand } from './domain/user.ts';
import { emailClaimDecider, type EmailClaim } from './domain/email-claim.ts';
import { tokenFamilyDecider, type TokenFamily } from './domain/token-family.ts';
import { phoneDecider, type Phone } from './domain/phone.ts';
import { policy } from './domain/policy.ts';
import { ipLimits } from './limits.ts';
import type { Outbox } from './outbox.ts';

export type IdentityCommandDeps = Readonly<{
  store: EventStore;
  limiter: RateLimiter;
  keyRing: KeyRing;
  /** Signs access tokens (`accessTokenIssuer` over the key ring). */
  signAccessToken: (claims: {
    sub: string;
    roles: readonly string[];
  }) => Promise<{ token: string; expiresAt: string }>;
  verify: (token: string) => Promise<VerifiedToken>;
  outbox: Outbox;
  clock: Clock;
  ids: Ids;
  /** Where the web app lives: links in e-mails point there, with the token in the fragment (never sent to a server). */
  appUrl: string;
  /** Verified e-mails that get the `admin` role on top of their own (how the first admin exists). */
  bootstrapAdmins: readonly string[];
}>;

const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

const normalEmail = (email: string): string => email.trim().toLowerCase();
export const emailClaimId = (email: string): string => deterministicUuid(`email/${normalEmail(email)}`);
export const phoneId = (phone: string): string => deterministicUuid(`phone/${phone}`);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** One-time tokens are `<stream uuid>.<secret>`: the id says which stream to load, the secret proves possession. */
const splitToken = (token: string, parts: 2 | 3, code: string): string[] => {
  const split = token.split('.');
  if (split.length !== parts || !split.slice(0, parts - 1).every((p) => UUID.test(p)))
    throw new Problem(parts === 3 ? 'unauthenticated' : 'validation', code, 'The token is malformed.');
  return split;
};

/**
 * Identity's commands over REST. Each flow is a few appends to small
 * streams (user, email claim, token family, phone), each with the revision
 * it read: uniqueness, rotation and lockouts are decided by the event store,
 * so they hold across processes.
 */
export const identityCommandRoutes = (deps: IdentityCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const now = () => deps.clock.now().toISOString();
  // A login for an unknown e-mail spends the same scrypt time as a wrong password.
  const dummyHash = hashPassword(randomToken(16));

  const run = <C, S>(
    req: Request,
    streamId: string,
    decider: Decider<C, S>,
    command: C,
    opts: { maxAttempts?: number; step?: string } = {},
  ) =>
    handleCommand({
      store: deps.store,
      catalogue: schema.identityEvents,
      streamId,
      decider,
      command,
      // Several streams per request: each gets its own derived command id so a retried request dedupes per stream.
      commandId: `${req.ctx.commandId}/${opts.step ?? 'main'}`,
      occurredAt: now(),
      metadata: eventMetadata(req.ctx),
      ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
    });

  const load = async <S>(streamId: string, decider: Decider<never, S>): Promise<S> =>
    (await deps.store.readStream(streamId)).reduce(decider.evolve, decider.initialState());
  const loadUser = (userId: string) => load<User>(schema.userStreamId(userId), userDecider);
  const loadClaim = (email: string) =>
    load<EmailClaim>(schema.emailClaimStreamId(emailClaimId(email)), emailClaimDecider);

  const limit = async (key: string, rule: RateLimit, what: string): Promise<void> => {
    const decision = await deps.limiter.hit(key, rule, deps.clock.now());
    if (!decision.allowed)
      throw new Problem(
        'rate_limited',
        'rate_limited',
        `Too many ${what} from this address; try again later.`,
        {
          retryAfterSeconds: decision.retryAfterSeconds,
        },
      );
  };
  const ip = (req: Request) => req.ip ?? 'unknown';

  const rolesOf = (user: User): string[] => {
    if (user.status === 'none') return [];
    const roles = new Set<string>(user.roles);
    if (deps.bootstrapAdmins.includes(user.email)) roles.add('admin');
    return [...roles].sort();
  };

  /** Starts a token family for a login and answers with the token pair. */
  const issueSession = async (
    req: Request,
    res: Response,
    user: User,
    familyId: string,
    device: schema.Device | null,
  ) => {
    if (user.status === 'none') throw new Error('session for no user');
    const at = now();
    const tokenId = deps.ids.uuid();
    const refreshToken = `${familyId}.${tokenId}.${randomToken()}`;
    const family = await run(
      req,
      schema.tokenFamilyStreamId(familyId),
      tokenFamilyDecider,
      {
        type: 'Start',
        familyId,
        userId: user.userId,
        tokenId,
        tokenHash: tokenHash(refreshToken),
        expiresAt: addMs(at, policy.refreshTokenTtl),
        familyExpiresAt: addMs(at, policy.tokenFamilyMaxAge),
        device,
        at,
      },
      { step: 'family' },
    );
    await sendTokenPair(res, user, refreshToken, family.state as TokenFamily);
  };

  /** Answers a fresh access token beside the refresh token just issued (never cached). */
  const sendTokenPair = async (res: Response, user: User, refreshToken: string, family: TokenFamily) => {
    if (user.status === 'none') throw new Error('tokens for no user');
    const access = await deps.signAccessToken({ sub: user.userId, roles: rolesOf(user) });
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      userId: user.userId,
      tokenType: 'Bearer',
      accessToken: access.token,
      expiresIn: Math.round(policy.accessTokenTtl / 1000),
      accessTokenExpiresAt: access.expiresAt,
      refreshToken,
      refreshTokenExpiresAt: family.status === 'none' ? null : family.current.expiresAt,
    });
  };

  const sendVerification = (email: string, token: string) =>
    deps.outbox.send({
      channel: 'email',
      to: email,
      template: 'verify-email',
      subject: 'Confirm your e-mail address',
      text: `Open ${deps.appUrl}/verify-email#token=${token} within 24 hours to activate your account.`,
    });

  /** Holds an address for a user until `ttl` from `at` (renewed when it is theirs already). */
  const claimEmail = (req: Request, email: string, userId: string, ttl: number, at: string) =>
    run(
      req,
      schema.emailClaimStreamId(emailClaimId(email)),
      emailClaimDecider,
      { type: 'Claim', email, userId, pendingUntil: addMs(at, ttl), at },
      { step: 'claim' },
    );

  const deviceOf = (req: Request, given?: { name?: string; platform?: string }): schema.Device | null => {
    const userAgent = req.get('user-agent')?.slice(0, 300);
    const device = { ...(given ?? {}), ...(userAgent ? { userAgent } : {}) };
    return Object.keys(device).length ? device : null;
  };

  // — register → verify —

  router.post('/api/identity/register', async (req, res) => {
    const body = validated(schema.registerRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    await limit(`register:${ip(req)}`, ipLimits.registrations, 'registrations');
    const userId = deterministicUuid(`user/${req.ctx.commandId}`);
    const at = now();
    // 1. The address: exactly one registration can hold it.
    await claimEmail(req, email, userId, policy.emailVerificationTtl, at);
    // 2. The user, inactive, with a verification token only its hash of which is kept.
    const token = `${userId}.${randomToken()}`;
    const outcome = await run(req, schema.userStreamId(userId), userDecider, {
      type: 'Register',
      userId,
      email,
      passwordHash: await hashPassword(body.password),
      tokenHash: tokenHash(token),
      at,
    });
    // 3. The e-mail (a retried request re-sends nothing: it appended nothing).
    if (outcome.events.length) await sendVerification(email, token);
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(201).json({ userId, email, status: 'pending' });
  });

  router.post('/api/identity/verify-email/resend', async (req, res) => {
    const body = validated(schema.resendVerificationRequest(jsonBody(req)));
    const email = normalEmail(body.email);
    await limit(`email:${ip(req)}`, ipLimits.emailRequests, 'e-mail requests');
    const claim = await loadClaim(email);
    if (claim.status === 'pending') {
      const token = `${claim.userId}.${randomToken()}`;
      const at = now();
      await claimEmail(req, email, claim.userId, policy.emailVerificationTtl, at);
      const outcome = await run(req, schema.userStreamId(claim.userId), userDecider, {
        type: 'ResendVerification',
        tokenHash: tokenHash(token),
        at,
      });
      if (outcome.events.length) await sendVerification(email, token);
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

  // — login, refresh, logout —

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
    const body = validated(schema.refreshRequest(jsonBody(req)));
    const [familyId] = splitToken(body.refreshToken, 3, 'refresh_token_invalid');
    const streamId = schema.tokenFamilyStreamId(familyId!);
    const family = await load<TokenFamily>(streamId, tokenFamilyDecider);
    if (family.status === 'none')
      throw new Problem(
        'unauthenticated',
        'refresh_token_invalid',
        'The refresh token is invalid, expired or revoked.',
      );
    const user = await loadUser(family.userId);
    const at = now();
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
      const reason = (revoked.data as schema.TokenFamilyRevoked).reason;
      throw new Problem(
        'unauthenticated',
        reason === 'reuse' ? 'refresh_token_reused' : 'refresh_token_invalid',
        reason === 'reuse'
          ? 'This refresh token was already used: every session of its login has been ended.'
          : 'The refresh token is invalid, expired or revoked.',
      );
    }
    await sendTokenPair(res, user, refreshToken, outcome.state as TokenFamily);
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
    const family = outcome.state as TokenFamily;
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

  // — password reset —

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
      const token = `${claim.userId}.${randomToken()}`;
      const outcome = await run(req, schema.userStreamId(claim.userId), userDecider, {
        type: 'RequestPasswordReset',
        tokenHash: tokenHash(token),
        at: now(),
      });
      if (outcome.events.length)
        await deps.outbox.send({
          channel: 'email',
          to: email,
          template: 'reset-password',
          subject: 'Reset your password',
          text: `Open ${deps.appUrl}/reset-password#token=${token} within 15 minutes to choose a new password.`,
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
    const reset = outcome.events.find((e) => e.type === 'identity.PasswordReset')?.data as
      schema.PasswordReset | undefined;
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

  // — change e-mail —

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
    const token = `${userId}.${randomToken()}`;
    const outcome = await run(req, schema.userStreamId(userId), userDecider, {
      type: 'RequestEmailChange',
      newEmail,
      matchedHash: matched,
      tokenHash: tokenHash(token),
      at,
    });
    if (outcome.events.length)
      await deps.outbox.send({
        channel: 'email',
        to: newEmail,
        template: 'confirm-email-change',
        subject: 'Confirm your new e-mail address',
        text: `Open ${deps.appUrl}/confirm-email#token=${token} within 24 hours to make this your account's address.`,
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

  // — change phone: a code to the new number, then the code back —

  router.post('/api/identity/phone', auth, async (req, res) => {
    const body = validated(schema.phoneCodeRequest(jsonBody(req)));
    await limit(`phone-code:${ip(req)}`, ipLimits.phoneCodes, 'phone codes');
    const userId = req.ctx.actor!.userId!;
    const code = randomDigits(6);
    const salt = randomToken(16);
    const outcome = await run(req, schema.phoneStreamId(phoneId(body.phone)), phoneDecider, {
      type: 'SendCode',
      phone: body.phone,
      userId,
      codeId: deps.ids.uuid(),
      codeHash: await codeHash(code, salt),
      codeSalt: salt,
      at: now(),
    });
    const sent = outcome.events[0]?.data as schema.PhoneCodeSent | undefined;
    if (sent)
      await deps.outbox.send({
        channel: 'sms',
        to: body.phone,
        template: 'phone-code',
        subject: 'Lectern code',
        text: `Your Lectern code is ${code}. It expires in 10 minutes.`,
      });
    res.status(202).json({ status: 'code_sent', phone: body.phone, expiresAt: sent?.expiresAt ?? null });
  });

  router.post('/api/identity/phone/verify', auth, async (req, res) => {
    const body = validated(schema.phoneVerifyRequest(jsonBody(req)));
    const userId = req.ctx.actor!.userId!;
    const streamId = schema.phoneStreamId(phoneId(body.phone));
    const phone = await load<Phone>(streamId, phoneDecider);
    const current = phone.code;
    const matched =
      current &&
      current.userId === userId &&
      (await verifyCode(body.code, current.codeSalt, current.codeHash))
        ? current.codeId
        : null;
    const outcome = await run(req, streamId, phoneDecider, {
      type: 'VerifyCode',
      userId,
      matchedCodeId: matched,
      at: now(),
    });
    const types = outcome.events.map((e) => e.type);
    if (types.includes('identity.PhoneLocked'))
      throw new Problem('locked', 'phone_locked', 'Too many wrong codes: this phone is locked for an hour.', {
        retryAfterSeconds: Math.round(policy.phoneLock / 1000),
      });
    if (types.includes('identity.PhoneCodeFailed')) {
      const failed = outcome.events[0]!.data as schema.PhoneCodeFailed;
      throw new Problem('validation', 'phone_code_wrong', 'The code is wrong.', {
        extra: { attemptsLeft: policy.phoneMaxAttempts - failed.attempts },
      });
    }
    // Verified: the user's phone changes and the old number is released.
    const user = await loadUser(userId);
    const changed = await run(
      req,
      schema.userStreamId(userId),
      userDecider,
      { type: 'ChangePhone', phone: body.phone, at: now() },
      { step: 'user' },
    );
    if (user.status === 'active' && user.phone && user.phone !== body.phone)
      await run(
        req,
        schema.phoneStreamId(phoneId(user.phone)),
        phoneDecider,
        { type: 'Release', userId, at: now() },
        { step: 'release' },
      );
    setCommandHeaders(res, changed.revision, changed.position);
    res.json({ userId, phone: body.phone, verified: true });
  });

  // — administration —

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
