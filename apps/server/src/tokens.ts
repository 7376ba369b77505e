import { sqlKeyRing, type KeyRing } from '@lectern/infra/auth/key-ring';
import { accessTokenIssuer } from '@lectern/infra/auth/tokens';
import { tokenVerifier } from '@lectern/infra/http/auth';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';
import { systemClock } from '@lectern/infra/runtime/ids';
import type { Sql } from '@lectern/infra/sql/index';
import type { Config } from './config.ts';

/**
 * Access tokens for the platform: the signing key ring kept in the shared
 * database (so every process signs with the same key), the signer, and the
 * verifier every context uses: through the ring in process, or through
 * identity's JWKS at JWT_JWKS_URL (or a given JWKS) when identity runs
 * elsewhere. Tokens live as long as the module that issues them says.
 */
export const openTokens = async (
  sql: Sql,
  config: Config,
  modules: readonly ContextModule[],
): Promise<Platform['auth'] & { keyRing: KeyRing }> => {
  const tokenTtlMs = modules.find((m) => m.accessTokens)?.accessTokens?.ttlMs ?? 60 * 60_000;
  const keyRing = await sqlKeyRing(sql, {
    clock: systemClock,
    // A retired key stays published as long as a token it signed can live, plus the verifiers' skew and cache.
    overlapMs: tokenTtlMs + 5 * 60_000,
  });
  const issuer = accessTokenIssuer(keyRing, {
    ...config.tokens,
    ttlSeconds: tokenTtlMs / 1000,
    clock: systemClock,
  });
  const verify = tokenVerifier({
    ...config.tokens,
    ...(config.jwt?.jwksUrl
      ? { jwksUrl: config.jwt.jwksUrl }
      : config.jwt?.jwks
        ? { jwks: config.jwt.jwks }
        : { keys: keyRing.getKey }),
  });
  return { keyRing, verify, signAccessToken: (claims) => issuer.sign(claims) };
};
