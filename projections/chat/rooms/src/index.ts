import { chat as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const ROOMS = 'chat_rooms';
const MEMBERS = 'chat_members';

/** A room as the queries show it. */
export type RoomRow = Readonly<{
  roomId: string;
  kind: schema.RoomKind;
  name: string | null;
  ownerId: string | null;
  members: readonly string[];
  createdAt: string;
  /** 0 when slow mode is off. */
  slowModeSeconds: number;
}>;

/**
 * Rooms and who is in them: what every chat read is checked against
 * (only members read a room) and what search is scoped to.
 */
export const chatRoomsProjection: SqlProjection = {
  name: 'chat_rooms',
  // 2: slow_mode_seconds.
  version: 2,
  contexts: ['chat'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['chat.RoomCreated', 'chat.MemberInvited', 'chat.MemberLeft', 'chat.SlowModeSet'],
  tables: [ROOMS, MEMBERS],
  ddl: (t) => `
    create table if not exists ${t[ROOMS]} (
      room_id uuid primary key,
      kind text not null,
      name text,
      owner_id uuid,
      created_at timestamptz not null,
      slow_mode_seconds integer not null default 0
    );
    create table if not exists ${t[MEMBERS]} (
      room_id uuid not null,
      user_id uuid not null,
      primary key (room_id, user_id)
    );
    create index if not exists chat_members_by_user on ${t[MEMBERS]} (user_id, room_id)`,
  async apply(tx, events, t) {
    for (const e of events) {
      if (!schema.isChatEvent(e)) continue;
      switch (e.type) {
        case 'chat.RoomCreated': {
          const d = e.data;
          await tx.query(
            `insert into ${t[ROOMS]} (room_id, kind, name, owner_id, created_at) values ($1, $2, $3, $4, $5)
             on conflict do nothing`,
            [d.roomId, d.kind, d.name, d.kind === 'group' ? d.createdBy : null, d.createdAt],
          );
          await tx.query(
            `insert into ${t[MEMBERS]} (room_id, user_id) select $1, u from unnest($2::uuid[]) as u on conflict do nothing`,
            [d.roomId, d.members],
          );
          break;
        }
        case 'chat.MemberInvited':
          await tx.query(
            `insert into ${t[MEMBERS]} (room_id, user_id) values ($1, $2) on conflict do nothing`,
            [e.data.roomId, e.data.userId],
          );
          break;
        case 'chat.MemberLeft':
          await tx.query(`delete from ${t[MEMBERS]} where room_id = $1 and user_id = $2`, [
            e.data.roomId,
            e.data.userId,
          ]);
          break;
        case 'chat.SlowModeSet':
          await tx.query(`update ${t[ROOMS]} set slow_mode_seconds = $2 where room_id = $1`, [
            e.data.roomId,
            e.data.seconds,
          ]);
          break;
      }
    }
  },
};

// Readers: the only SQL that reads these tables.

const rooms = liveTable(ROOMS);
const members = liveTable(MEMBERS);

type Row = {
  room_id: string;
  kind: schema.RoomKind;
  name: string | null;
  owner_id: string | null;
  created_at: Date | string;
  slow_mode_seconds: number;
  members: string[];
};
const toRoom = (r: Row): RoomRow => ({
  roomId: r.room_id,
  kind: r.kind,
  name: r.name,
  ownerId: r.owner_id,
  members: [...r.members].sort(),
  createdAt: new Date(r.created_at).toISOString(),
  slowModeSeconds: Number(r.slow_mode_seconds),
});
const withMembers = `select r.room_id, r.kind, r.name, r.owner_id, r.created_at, r.slow_mode_seconds,
    array(select m.user_id::text from ${members} m where m.room_id = r.room_id) as members
  from ${rooms} r`;

/** A room with its members; null when there is none. */
export const roomById = async (sql: SqlExecutor, roomId: string): Promise<RoomRow | null> => {
  const [row] = await sql.query<Row>(`${withMembers} where r.room_id = $1`, [roomId]);
  return row ? toRoom(row) : null;
};

/** The rooms `userId` is a member of, newest first. */
export const roomsOf = async (sql: SqlExecutor, userId: string, limit = 500): Promise<RoomRow[]> => {
  const rows = await sql.query<Row>(
    `${withMembers} where r.room_id in (select room_id from ${members} where user_id = $1)
     order by r.created_at desc, r.room_id limit $2`,
    [userId, limit],
  );
  return rows.map(toRoom);
};

/** Is `userId` a member of `roomId`? */
export const isMember = async (sql: SqlExecutor, roomId: string, userId: string): Promise<boolean> => {
  const rows = await sql.query(`select 1 from ${members} where room_id = $1 and user_id = $2`, [
    roomId,
    userId,
  ]);
  return rows.length > 0;
};

/** The rooms `userId` is in, each with its kind (search hides blocked senders in groups only). */
export const memberRoomsOf = async (
  sql: SqlExecutor,
  userId: string,
): Promise<{ roomId: string; kind: schema.RoomKind }[]> =>
  (
    await sql.query<{ room_id: string; kind: schema.RoomKind }>(
      `select m.room_id, r.kind from ${members} m join ${rooms} r using (room_id) where m.user_id = $1`,
      [userId],
    )
  ).map((r) => ({ roomId: r.room_id, kind: r.kind }));
