import { profile as schema } from '@lectern/schemas';
import { documentProjection, liveTable } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'profiles';

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
  /** The current avatar: where it is stored, for the query to sign a short-lived URL. */
  avatar: Readonly<{ avatarId: string; key: string; contentType: string; size: number }> | null;
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
  avatar: null,
});

export const profilesProjection = documentProjection<ProfileDocument>({
  name: 'profiles',
  // 2: documents carry the avatar.
  version: 2,
  contexts: ['profile'],
  eventTypes: ['profile.ProfileUpdated', 'profile.AvatarChanged'],
  table: TABLE,
  // A document is made of its events' data alone.
  metadata: [],
  key: (e) =>
    schema.isProfileEvent(e) && (e.type === 'profile.ProfileUpdated' || e.type === 'profile.AvatarChanged')
      ? e.data.userId
      : null,
  evolve: (doc, e) => {
    if (!schema.isProfileEvent(e)) return doc;
    if (e.type === 'profile.AvatarChanged') {
      const d = e.data;
      const base = doc ?? { ...emptyProfile(d.userId), createdAt: d.changedAt };
      const avatar = { avatarId: d.avatarId, key: d.key, contentType: d.contentType, size: d.size };
      return { ...base, avatar, updatedAt: d.changedAt };
    }
    if (e.type !== 'profile.ProfileUpdated') return doc;
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

// Readers: the only SQL that reads `profiles`.

const profiles = liveTable(TABLE);

/** A user's profile and the revision of their stream it shows; null before their first change. */
export const profileOf = async (
  sql: SqlExecutor,
  userId: string,
): Promise<{ profile: ProfileDocument; revision: number } | null> => {
  const [row] = await sql.query<{ doc: ProfileDocument; revision: string | number }>(
    `select doc, revision from ${profiles} where id = $1`,
    [userId],
  );
  return row ? { profile: row.doc, revision: Number(row.revision) } : null;
};
