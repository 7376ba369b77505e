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

/** `emptyProfile` as an SQL literal, for the load in SQL. */
const EMPTY_PROFILE = `'${JSON.stringify(emptyProfile('')).replaceAll("'", "''")}'`;

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
  // `evolve` in SQL, set by set. A document is the empty profile as its first event made it, then
  // each key as the last change of it left it (an avatar change sets `avatar`), its social links
  // the same per provider (a null removes one), and the time of its last event: what folding
  // every change in order leaves. A change of `socialLinks` or `updatedAt` itself is overwritten
  // by the same event, so none survives. `updated_at` is to the millisecond, as the store's feed
  // gives `occurredAt` to `apply`.
  loadSql: (table, events) => `
    insert into ${table} (id, doc, revision, position, updated_at)
    with ev as (
      select e.data->>'userId' as id, e.position, e.revision, e.occurred_at, e.type, e.data,
             e.data->(case e.type when 'profile.AvatarChanged' then 'changedAt' else 'updatedAt' end) as at
        from ${events} e
    ),
    changes as (
      select ev.id, ev.position, c.seq, c.change->>'field' as field, c.change->'to' as value
        from ev cross join lateral jsonb_array_elements(ev.data->'changes') with ordinality as c(change, seq)
       where ev.type = 'profile.ProfileUpdated'
    ),
    sets as (
      select id, position, seq, field, value from changes
       where left(field, 12) <> 'socialLinks.' and field not in ('socialLinks', 'updatedAt')
      union all
      select id, position, 0, 'avatar', jsonb_build_object('avatarId', data->'avatarId', 'key', data->'key',
             'contentType', data->'contentType', 'size', data->'size')
        from ev where type = 'profile.AvatarChanged'
    ),
    fields as (
      select id, jsonb_object_agg(field, value) as fields
        from (select distinct on (id, field) id, field, value from sets order by id, field, position desc, seq desc) s
       group by id
    ),
    links as (
      select id, jsonb_object_agg(provider, value) filter (where value <> 'null'::jsonb) as links
        from (select distinct on (id, provider) id, substr(field, 13) as provider, value from changes
               where left(field, 12) = 'socialLinks.' order by id, provider, position desc, seq desc) s
       group by id
    ),
    firsts as (select distinct on (id) id, at from ev order by id, position),
    lasts as (select distinct on (id) id, at, revision, position, occurred_at from ev order by id, position desc)
    select l.id,
           ${EMPTY_PROFILE}::jsonb || jsonb_build_object('userId', l.id, 'createdAt', f.at)
             || coalesce(fd.fields, '{}') || jsonb_build_object('socialLinks', coalesce(lk.links, '{}'), 'updatedAt', l.at),
           l.revision, l.position, date_trunc('milliseconds', l.occurred_at)
      from lasts l join firsts f using (id) left join fields fd using (id) left join links lk using (id)`,
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
