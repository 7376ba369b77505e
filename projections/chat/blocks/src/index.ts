import { chat as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'chat_blocks';

/** One user the caller blocks. */
export type BlockRow = Readonly<{ userId: string; blockedAt: string }>;

/**
 * Who blocks whom, one row per pair, keyed (blocker, blocked): what a
 * blocker's group history and search leave out, joined at query time, and
 * what `GET /api/chat/blocks` lists. Decisions never read it: they fold the
 * blocker's own stream, which is never behind.
 */
export const chatBlocksProjection: SqlProjection = {
  name: 'chat_blocks',
  version: 1,
  contexts: ['chat'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['chat.UserBlocked', 'chat.UserUnblocked'],
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      blocker_id uuid not null,
      blocked_id uuid not null,
      blocked_at timestamptz not null,
      primary key (blocker_id, blocked_id)
    )`,
  async apply(tx, events, t) {
    const table = t[TABLE]!;
    for (const e of events) {
      if (!schema.isChatEvent(e)) continue;
      switch (e.type) {
        case 'chat.UserBlocked':
          await tx.query(
            `insert into ${table} (blocker_id, blocked_id, blocked_at) values ($1, $2, $3) on conflict do nothing`,
            [e.data.userId, e.data.blockedUserId, e.data.blockedAt],
          );
          break;
        case 'chat.UserUnblocked':
          await tx.query(`delete from ${table} where blocker_id = $1 and blocked_id = $2`, [
            e.data.userId,
            e.data.blockedUserId,
          ]);
          break;
      }
    }
  },
};

// Readers: the only SQL that reads `chat_blocks`.

const blocks = liveTable(TABLE);

/** Whom `userId` blocks, most recently blocked first (at most `BLOCKLIST_MAX`, so one page). */
export const blocksOf = async (sql: SqlExecutor, userId: string): Promise<BlockRow[]> => {
  const rows = await sql.query<{ blocked_id: string; blocked_at: Date | string }>(
    `select blocked_id, blocked_at from ${blocks} where blocker_id = $1 order by blocked_at desc, blocked_id`,
    [userId],
  );
  return rows.map((r) => ({ userId: r.blocked_id, blockedAt: new Date(r.blocked_at).toISOString() }));
};

/**
 * A condition for another read model's query: true unless the user in the
 * parameter `viewer` (`$4`) blocks the user in the column `sender`. One
 * primary-key probe per row, so a keyset page stays an index range scan.
 *
 * @example
 *   `select … from chat_messages m where m.room_id = $1 and ${notBlockedBy('$4', 'm.sender_id')} …`
 */
export const notBlockedBy = (viewer: string, sender: string): string =>
  `not exists (select 1 from ${blocks} b where b.blocker_id = ${viewer}::uuid and b.blocked_id = ${sender})`;
