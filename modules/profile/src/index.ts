import { profileCommandRoutes } from '@lectern/profile-commands';
import { profileQueryRoutes } from '@lectern/profile-queries';
import {
  activeExperienceLevelCodes,
  experienceLevelsProjection,
} from '@lectern/profile-projection-experience-levels';
import { profileHistoryProjection } from '@lectern/profile-projection-history';
import { profilesProjection } from '@lectern/profile-projection-profiles';
import { profileApi, profileTags } from '@lectern/schemas/profile/api';
import type { ContextModule } from '@lectern/infra/runtime/context-module';
import { profileEvents } from '@lectern/schemas/profile/events';
import { profileStreams } from './streams.ts';

/** Profile: a user's public profile, its history, and the experience levels admins curate. */
export const profileModule = (): ContextModule => ({
  name: 'profile',
  streams: profileStreams,
  projections: [profilesProjection, profileHistoryProjection, experienceLevelsProjection],
  routes: async (p) => [
    profileCommandRoutes({
      store: p.store,
      verify: p.auth.verify,
      blobs: p.blobs,
      clock: p.clock,
      activeExperienceLevels: () => activeExperienceLevelCodes(p.sql),
    }),
    profileQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor, blobs: p.blobs }),
  ],
  asyncApi: {
    context: 'profile',
    topics: [{ name: 'profile.events', description: 'Profile changes.', events: profileEvents }],
  },
  api: [{ name: 'profile', operations: profileApi, tags: profileTags }],
});
