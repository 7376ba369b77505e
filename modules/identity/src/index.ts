import {
  devOutbox,
  devRoutes,
  discardingOutbox,
  identityCommandRoutes,
  jwksRoutes,
  policy,
} from '@lectern/identity-commands';
import { identityQueryRoutes } from '@lectern/identity-queries';
import { identitySessionsProjection } from '@lectern/identity-projection-sessions';
import { identityUsersProjection } from '@lectern/identity-projection-users';
import { identityApi, identityDevApi, identityDevTags, identityTags } from '@lectern/schemas/identity/api';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import type { ContextModule } from '@lectern/infra/runtime/context-module';

export type IdentitySettings = Readonly<{
  /** The web app: links in identity's e-mails point there. */
  appUrl: string;
  /** Verified e-mails that are given the admin role (how the first admin comes to be). */
  bootstrapAdmins: readonly string[];
}>;

/**
 * Identity: accounts, sign-in, tokens and roles. It issues the access
 * tokens every other context checks, and publishes their keys (JWKS).
 * Outside production it also mounts the development outbox and a token
 * minter.
 */
export const identityModule = (settings: IdentitySettings): ContextModule => ({
  name: 'identity',
  projections: [identityUsersProjection, identitySessionsProjection],
  accessTokens: { ttlMs: policy.accessTokenTtl },
  routes: async (p) => {
    const outbox = p.production ? null : await devOutbox(p.sql);
    return [
      jwksRoutes(p.auth.keyRing),
      identityCommandRoutes({
        store: p.store,
        limiter: await sqlRateLimiter(p.sql),
        keyRing: p.auth.keyRing,
        signAccessToken: p.auth.signAccessToken,
        verify: p.auth.verify,
        outbox: outbox ?? discardingOutbox(p.logger),
        clock: p.clock,
        ids: p.ids,
        appUrl: settings.appUrl,
        bootstrapAdmins: settings.bootstrapAdmins,
      }),
      identityQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
      // Development only: the outbox and a token minter. Absent (404) in production.
      ...(outbox ? [devRoutes({ outbox, signAccessToken: p.auth.signAccessToken })] : []),
    ];
  },
  api: [
    { name: 'identity', operations: identityApi, tags: identityTags },
    { name: 'development', operations: identityDevApi, tags: identityDevTags, developmentOnly: true },
  ],
});
