import { type profile as schema } from '@lectern/schemas';
import type { SqlProjection } from '@lectern/infra/runtime/projection';

/** A row of the read model `profile_history`: one per changed field. */
export type ProfileHistoryEntry = Readonly<{
  field: string;
  oldValue: string | null;
  newValue: string | null;
  changedAt: string;
  actorId: string | null;
  eventId: string;
}>;

/**
 * Who changed which field of a profile, when, from what to what. Rows are
 * keyed by (event id, field), so history never holds a change twice.
 */
export const profileHistoryProjection: SqlProjection = {
  name: 'profile_history',
  version: 1,
  contexts: ['profile'],
  tables: ['profile_history'],
  ddl: (t) => `
    create table if not exists ${t.profile_history} (
      event_id uuid not null,
      field text not null,
      user_id uuid not null,
      old_value text,
      new_value text,
      changed_at timestamptz not null,
      actor_id text,
      position bigint not null,
      seq int not null,
      primary key (event_id, field)
    );
    create index if not exists profile_history_by_user on ${t.profile_history} (user_id, position desc, seq desc)`,
  async apply(tx, events, t) {
    const rows = events
      .filter((e) => e.type === 'profile.ProfileUpdated')
      .flatMap((e) => {
        const d = e.data as schema.ProfileUpdated;
        return d.changes.map((c, seq) => ({
          event_id: e.id,
          field: c.field,
          user_id: d.userId,
          old_value: c.from,
          new_value: c.to,
          changed_at: d.updatedAt,
          actor_id: e.metadata.actor?.userId ?? null,
          position: e.position,
          seq,
        }));
      });
    if (rows.length === 0) return;
    await tx.query(
      `insert into ${t.profile_history} (event_id, field, user_id, old_value, new_value, changed_at, actor_id, position, seq)
       select * from jsonb_to_recordset($1::jsonb) as r(event_id uuid, field text, user_id uuid, old_value text,
         new_value text, changed_at timestamptz, actor_id text, position bigint, seq int)
       on conflict do nothing`,
      [JSON.stringify(rows)],
    );
  },
};
