import type { Request, Response } from 'express';
import { addMs, identity as schema, type DomainEvent, type Result } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { RateLimiter, RateLimit } from '@lectern/infra/ports/rate-limiter';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { fold, type Decider } from '@lectern/infra/runtime/decider';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock, type Ids } from '@lectern/infra/runtime/ids';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { randomToken, tokenHash } from '@lectern/infra/auth/secrets';
import { userDecider, type User } from '../domain/user.ts';
import { emailClaimDecider } from '../domain/email-claim.ts';
import { tokenFamilyDecider, type TokenFamily } from '../domain/token-family.ts';
import { policy } from '../domain/policy.ts';
import type { MessageKeys } from '@lectern/infra/auth/message-secrets';

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
  /** Derives the secrets of identity's messages, which the notifications worker sends (never an event's content). */
  messageKeys: MessageKeys;
  clock: Clock;
  ids: Ids;
  /** Verified e-mails that get the `admin` role on top of their own (how the first admin exists). */
  bootstrapAdmins: readonly string[];
}>;

export const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

export const normalEmail = (email: string): string => email.trim().toLowerCase();
export const emailClaimId = (email: string): string => deterministicUuid(`email/${normalEmail(email)}`);
export const phoneId = (phone: string): string => deterministicUuid(`phone/${phone}`);

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** One-time tokens are `<stream uuid>.<secret>`: the id says which stream to load, the secret proves possession. */
export const splitToken = (token: string, parts: 2 | 3, code: string): string[] => {
  const split = token.split('.');
  if (split.length !== parts || !split.slice(0, parts - 1).every((p) => UUID.test(p)))
    throw new Problem(parts === 3 ? 'unauthenticated' : 'validation', code, 'The token is malformed.');
  return split;
};

export const ip = (req: Request) => req.ip ?? 'unknown';

export const deviceOf = (
  req: Request,
  given?: { name?: string; platform?: string },
): schema.Device | null => {
  const userAgent = req.get('user-agent')?.slice(0, 300);
  const device = { ...(given ?? {}), ...(userAgent ? { userAgent } : {}) };
  return Object.keys(device).length ? device : null;
};

/** What the flows share, built once per `identityCommandRoutes` over its dependencies. */
export type IdentityKit = ReturnType<typeof identityKit>;

export const identityKit = (deps: IdentityCommandDeps) => {
  const auth = authenticate(deps.verify);
  const now = () => deps.clock.now().toISOString();

  const run = <S, C, E extends DomainEvent>(
    req: Request,
    streamId: string,
    decider: Decider<S, C, E>,
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

  const load = async <S, E extends DomainEvent>(
    streamId: string,
    decider: Decider<S, never, E>,
  ): Promise<S> => fold(decider, await deps.store.readStream(streamId));
  const loadUser = (userId: string) => load(schema.userStreamId(userId), userDecider);
  const loadClaim = (email: string) =>
    load(schema.emailClaimStreamId(emailClaimId(email)), emailClaimDecider);

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
    await sendTokenPair(res, user, refreshToken, family.state);
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

  /** Holds an address for a user until `ttl` from `at` (renewed when it is theirs already). */
  const claimEmail = (req: Request, email: string, userId: string, ttl: number, at: string) =>
    run(
      req,
      schema.emailClaimStreamId(emailClaimId(email)),
      emailClaimDecider,
      { type: 'Claim', email, userId, pendingUntil: addMs(at, ttl), at },
      { step: 'claim' },
    );

  return { auth, now, run, load, loadUser, loadClaim, limit, issueSession, sendTokenPair, claimEmail };
};
