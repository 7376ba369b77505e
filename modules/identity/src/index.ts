import { devRoutes, identityCommandRoutes, jwksRoutes, policy } from '@lectern/identity-commands';
import { identityQueryRoutes } from '@lectern/identity-queries';
import { identitySessionsProjection } from '@lectern/identity-projection-sessions';
import { identityUsersProjection } from '@lectern/identity-projection-users';
import { identityApi, identityDevApi, identityDevTags, identityTags } from '@lectern/schemas/identity/api';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import type { ContextModule } from '@lectern/infra/runtime/context-module';
import { identityEvents } from '@lectern/schemas/identity/events';
import { identityStreams } from './streams.ts';

export type IdentitySettings = Readonly<{
  /** Verified e-mails that are given the admin role (how the first admin comes to be). */
  bootstrapAdmins: readonly string[];
}>;

/**
 * Identity: accounts, sign-in, tokens and roles. It issues the access
 * tokens every other context checks, and publishes their keys (JWKS).
 * Its messages (verification links, reset links, phone codes) are the
 * notifications context's to send, from its events. Outside production it
 * also mounts a token minter.
 */
export const identityModule = (settings: IdentitySettings): ContextModule => ({
  name: 'identity',
  streams: identityStreams,
  projections: [identityUsersProjection, identitySessionsProjection],
  accessTokens: { ttlMs: policy.accessTokenTtl },
  routes: async (p) => {
    return [
      jwksRoutes(p.auth.keyRing),
      identityCommandRoutes({
        store: p.store,
        limiter: await sqlRateLimiter(p.sql),
        keyRing: p.auth.keyRing,
        signAccessToken: p.auth.signAccessToken,
        verify: p.auth.verify,
        messageKeys: p.messageKeys,
        clock: p.clock,
        ids: p.ids,
        bootstrapAdmins: settings.bootstrapAdmins,
      }),
      identityQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
      // Development only: a token minter. Absent (404) in production.
      ...(p.production ? [] : [devRoutes({ signAccessToken: p.auth.signAccessToken })]),
    ];
  },
  asyncApi: {
    context: 'identity',
    topics: [
      {
        name: 'identity.events',
        description: 'Accounts, sign-ins, sessions and roles (no secret: hashes and ids only).',
        events: identityEvents,
      },
    ],
  },
  api: [
    { name: 'identity', operations: identityApi, tags: identityTags },
    { name: 'development', operations: identityDevApi, tags: identityDevTags, developmentOnly: true },
  ],
});
