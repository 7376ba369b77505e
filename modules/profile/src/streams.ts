import { experienceLevelDecider, profileDecider } from '@lectern/profile-commands';
import { aggregateStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import { profileEvents } from '@lectern/schemas/profile/events';

/** Profile's aggregates, as the audit tools read them. */
export const profileStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'profile',
    description: "a user's profile (`profile-<user id>`)",
    decider: profileDecider,
    catalogue: profileEvents,
    types: { 'profile.ProfileUpdated': true, 'profile.AvatarChanged': true },
  }),
  aggregateStream({
    category: 'experiencelevel',
    description: 'an experience level admins define',
    decider: experienceLevelDecider,
    catalogue: profileEvents,
    types: {
      'profile.ExperienceLevelDefined': true,
      'profile.ExperienceLevelChanged': true,
      'profile.ExperienceLevelRetired': true,
    },
  }),
];
