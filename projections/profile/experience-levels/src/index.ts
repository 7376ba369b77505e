import { profile as schema } from '@lectern/schemas';
import { documentProjection, liveTable } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'experience_levels';

/** The read model `experience_levels`: one document per level code. */
export type ExperienceLevelDocument = Readonly<{
  levelId: string;
  code: string;
  label: string;
  rank: number;
  status: 'active' | 'retired';
  updatedAt: string;
}>;

export const experienceLevelsProjection = documentProjection<ExperienceLevelDocument>({
  name: 'experience_levels',
  version: 1,
  contexts: ['profile'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: [
    'profile.ExperienceLevelDefined',
    'profile.ExperienceLevelChanged',
    'profile.ExperienceLevelRetired',
  ],
  table: TABLE,
  key: (e) =>
    schema.isProfileEvent(e) && e.type !== 'profile.ProfileUpdated' && e.type !== 'profile.AvatarChanged'
      ? e.data.code
      : null,
  evolve: (doc, e) => {
    if (!schema.isProfileEvent(e)) return doc;
    switch (e.type) {
      case 'profile.ExperienceLevelDefined': {
        const d = e.data;
        return {
          levelId: d.levelId,
          code: d.code,
          label: d.label,
          rank: d.rank,
          status: 'active',
          updatedAt: d.definedAt,
        };
      }
      case 'profile.ExperienceLevelChanged': {
        if (!doc) return doc;
        const d = e.data;
        let next = { ...doc, updatedAt: d.changedAt };
        for (const c of d.changes)
          next =
            c.field === 'label' ? { ...next, label: c.to ?? next.label } : { ...next, rank: Number(c.to) };
        return next;
      }
      case 'profile.ExperienceLevelRetired':
        return doc ? { ...doc, status: 'retired', updatedAt: e.data.retiredAt } : doc;
      default:
        return doc;
    }
  },
});

// Readers: the only SQL that reads `experience_levels`.

const levels = liveTable(TABLE);

/** The levels by rank, then code: the active ones, or all with `includeRetired`. */
export const experienceLevels = async (
  sql: SqlExecutor,
  opts: { includeRetired: boolean },
): Promise<ExperienceLevelDocument[]> =>
  (
    await sql.query<{ doc: ExperienceLevelDocument }>(
      `select doc from ${levels} ${opts.includeRetired ? '' : `where doc->>'status' = 'active'`}
       order by (doc->>'rank')::int, id`,
    )
  ).map((r) => r.doc);

/** The codes of the active levels, in code order: what a profile's `experienceLevel` may be set to. */
export const activeExperienceLevelCodes = async (sql: SqlExecutor): Promise<string[]> =>
  (
    await sql.query<{ id: string }>(`select id from ${levels} where doc->>'status' = 'active' order by id`)
  ).map((r) => r.id);
