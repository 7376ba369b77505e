import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Clock } from '../runtime/ids.ts';
import type { KeyRing } from './key-ring.ts';

export type AccessTokenIssuerOptions = Readonly<{
  issuer: string;
  audience: string;
  ttlSeconds: number;
  clock: Clock;
}>;

export type AccessTokenIssuer = Readonly<{
  sign(claims: { sub: string; roles: readonly string[] }): Promise<{ token: string; expiresAt: string }>;
}>;

/**
 * Signs access tokens with the ring's active key, as `tokenVerifier` checks
 * them: header `{ alg: 'EdDSA', typ: 'at+jwt', kid }` (RFC 9068's type, so
 * an ID token or any other JWT of ours cannot pass for an access token) and
 * claims `sub`, `roles`, `iss`, `aud`, `iat`, `nbf`, `exp` and a fresh `jti`.
 * Time comes from the clock, in whole seconds as JWTs count it.
 *
 * @example
 *   const issuer = accessTokenIssuer(ring, { issuer, audience, ttlSeconds: 3600, clock: systemClock });
 *   const { token, expiresAt } = await issuer.sign({ sub: userId, roles: ['learner'] });
 */
export const accessTokenIssuer = (ring: KeyRing, opts: AccessTokenIssuerOptions): AccessTokenIssuer => {
  if (!Number.isSafeInteger(opts.ttlSeconds) || opts.ttlSeconds < 1)
    throw new TypeError(`ttlSeconds must be a whole number ≥ 1 (got ${opts.ttlSeconds})`);
  return {
    async sign(claims) {
      const key = await ring.active();
      const iat = Math.floor(opts.clock.now().getTime() / 1000);
      const exp = iat + opts.ttlSeconds;
      const token = await new SignJWT({ roles: [...claims.roles] })
        .setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid })
        .setSubject(claims.sub)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt(iat)
        .setNotBefore(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { token, expiresAt: new Date(exp * 1000).toISOString() };
    },
  };
};
