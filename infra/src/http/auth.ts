import type { RequestHandler } from 'express';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { Problem } from '../runtime/errors.ts';
import type { Clock } from '../runtime/ids.ts';

export const ROLES = ['admin', 'author', 'learner', 'analyst'] as const;
export type Role = (typeof ROLES)[number];

export type TokenVerifierConfig = Readonly<{
  issuer: string;
  audience: string;
  /** A JWKS endpoint (identity's `/.well-known/jwks.json`) … */
  jwksUrl?: string;
  /** … or the JWKS document itself … */
  jwks?: JSONWebKeySet;
  /** … or a key lookup by kid, such as identity's own key ring (`ring.getKey`) in process. */
  keys?: JWTVerifyGetKey;
  /** Seconds of clock difference tolerated on exp and nbf (default 30). */
  clockToleranceSeconds?: number;
  /** Where "now" comes from for exp and nbf (default the system clock). */
  clock?: Clock;
}>;

/** What we accept: asymmetric signatures only, so no public key can be used as an HMAC secret. */
export const ACCESS_TOKEN_ALGORITHMS: readonly string[] = ['EdDSA', 'ES256', 'ES384', 'RS256', 'PS256'];

export type VerifiedToken = Readonly<{ userId: string; roles: readonly Role[] }>;

/**
 * Verifies access tokens: asymmetric algorithms only (never `none`, never an
 * HMAC that a public key could forge), issuer, audience, `typ` `at+jwt`,
 * expiry and, when present, not-before with a small skew, and a `kid` that
 * the key source knows.
 *
 * @example
 *   const verify = tokenVerifier({ issuer, audience, jwksUrl });
 *   const { userId, roles } = await verify(bearerToken);
 */
export const tokenVerifier = (config: TokenVerifierConfig): ((token: string) => Promise<VerifiedToken>) => {
  let lookup: JWTVerifyGetKey;
  if (config.keys) lookup = config.keys;
  else if (config.jwksUrl) lookup = createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000 });
  else if (config.jwks) lookup = createLocalJWKSet(config.jwks);
  else throw new Error('tokenVerifier needs keys, jwksUrl or jwks');
  // jose's JWKS lookups fall back to "the only key that fits" when a token
  // names no kid; ours always name one, so a token without is not ours.
  const keys: JWTVerifyGetKey = (header, token) => {
    if (typeof header.kid !== 'string' || header.kid.length === 0) throw new joseErrors.JWKSNoMatchingKey();
    return lookup(header, token);
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        typ: 'at+jwt',
        algorithms: [...ACCESS_TOKEN_ALGORITHMS],
        clockTolerance: config.clockToleranceSeconds ?? 30,
        requiredClaims: ['sub', 'exp', 'iat'],
        ...(config.clock ? { currentDate: config.clock.now() } : {}),
      });
      const roles = Array.isArray(payload.roles)
        ? payload.roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r as string))
        : [];
      return { userId: payload.sub!, roles };
    } catch (error) {
      const code =
        error instanceof joseErrors.JWTExpired
          ? 'token_expired'
          : error instanceof joseErrors.JWKSNoMatchingKey
            ? 'token_unknown_key'
            : 'token_invalid';
      throw new Problem('unauthenticated', code, 'The access token is missing, invalid or expired.');
    }
  };
};

/** Rejects requests without a valid bearer token; sets `req.ctx.actor`. */
export const authenticate =
  (verify: (token: string) => Promise<VerifiedToken>): RequestHandler =>
  async (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!m) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return next(
        new Problem('unauthenticated', 'token_missing', 'Send an access token as a Bearer authorization.'),
      );
    }
    try {
      const token = await verify(m[1]!);
      req.ctx = { ...req.ctx, actor: { userId: token.userId, roles: token.roles } };
      next();
    } catch (error) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      next(error);
    }
  };

/**
 * For what anyone may read and a signed-in caller may read more of (a
 * published course, and one's own drafts): no Authorization header passes
 * as nobody; one that is sent must be valid.
 */
export const optionalAuth = (verify: (token: string) => Promise<VerifiedToken>): RequestHandler => {
  const auth = authenticate(verify);
  return (req, res, next) => (req.get('authorization') === undefined ? next() : auth(req, res, next));
};

/** Checks a role at the edge; services check again on their own (defence in depth). */
export const requireRole =
  (...roles: Role[]): RequestHandler =>
  (req, _res, next) => {
    const has = req.ctx.actor?.roles ?? [];
    if (roles.some((r) => has.includes(r))) return next();
    next(new Problem('forbidden', 'forbidden', `This needs one of the roles: ${roles.join(', ')}.`));
  };

/** The same check for use inside a service. */
export const assertRole = (roles: readonly string[] | undefined, ...allowed: Role[]): void => {
  if (!allowed.some((r) => roles?.includes(r)))
    throw new Problem('forbidden', 'forbidden', `This needs one of the roles: ${allowed.join(', ')}.`);
};
