import { profile as schema } from '@lectern/schemas';
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
  eventTypes: ['profile.ProfileUpdated'],
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
    // Column arrays through unnest: cheaper to bind and plan than a JSON recordset.
    const cols = {
      eventId: [] as string[],
      field: [] as string[],
      userId: [] as string[],
      oldValue: [] as (string | null)[],
      newValue: [] as (string | null)[],
      changedAt: [] as string[],
      actorId: [] as (string | null)[],
      position: [] as number[],
      seq: [] as number[],
    };
    for (const e of events) {
      if (!schema.isProfileEvent(e) || e.type !== 'profile.ProfileUpdated') continue;
      const d = e.data;
      d.changes.forEach((c, seq) => {
        cols.eventId.push(e.id);
        cols.field.push(c.field);
        cols.userId.push(d.userId);
        cols.oldValue.push(c.from);
        cols.newValue.push(c.to);
        cols.changedAt.push(d.updatedAt);
        cols.actorId.push(e.metadata.actor?.userId ?? null);
        cols.position.push(e.position);
        cols.seq.push(seq);
      });
    }
    if (cols.eventId.length === 0) return;
    await tx.query(
      `insert into ${t.profile_history} (event_id, field, user_id, old_value, new_value, changed_at, actor_id, position, seq)
       select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
         $8::bigint[], $9::int[])
       on conflict do nothing`,
      [
        cols.eventId,
        cols.field,
        cols.userId,
        cols.oldValue,
        cols.newValue,
        cols.changedAt,
        cols.actorId,
        cols.position,
        cols.seq,
      ],
    );
  },
};
