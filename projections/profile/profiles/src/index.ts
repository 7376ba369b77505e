import { profile as schema } from '@lectern/schemas';
import { documentProjection } from '@lectern/infra/runtime/projection';

/** The read model `profiles`: one document per user, as `GET /api/profile` returns it. */
export type ProfileDocument = Readonly<{
  userId: string;
  displayName: string | null;
  bio: string | null;
  locale: string;
  timezone: string | null;
  learningGoal: string | null;
  visibility: string;
  experienceLevel: string | null;
  socialLinks: Readonly<Record<string, string>>;
  createdAt: string;
  updatedAt: string;
}>;

export const emptyProfile = (userId: string): Omit<ProfileDocument, 'createdAt' | 'updatedAt'> => ({
  userId,
  displayName: null,
  bio: null,
  locale: 'en',
  timezone: null,
  learningGoal: null,
  visibility: 'members',
  experienceLevel: null,
  socialLinks: {},
});

export const profilesProjection = documentProjection<ProfileDocument>({
  name: 'profiles',
  version: 1,
  contexts: ['profile'],
  eventTypes: ['profile.ProfileUpdated'],
  table: 'profiles',
  key: (e) => (schema.isProfileEvent(e) && e.type === 'profile.ProfileUpdated' ? e.data.userId : null),
  evolve: (doc, e) => {
    if (!schema.isProfileEvent(e) || e.type !== 'profile.ProfileUpdated') return doc;
    const d = e.data;
    const next: Record<string, unknown> = {
      ...(doc ?? { ...emptyProfile(d.userId), createdAt: d.updatedAt }),
    };
    const links: Record<string, string> = { ...(doc?.socialLinks ?? {}) };
    for (const c of d.changes) {
      if (c.field.startsWith('socialLinks.')) {
        const provider = c.field.slice('socialLinks.'.length);
        if (c.to === null) delete links[provider];
        else links[provider] = c.to;
      } else next[c.field] = c.to;
    }
    return { ...(next as ProfileDocument), socialLinks: links, updatedAt: d.updatedAt };
  },
});
