import { chat as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import { notBlockedBy } from '@lectern/chat-projection-blocks';

const TABLE = 'chat_messages';

/** A message as history, search and the socket show it: what it says now, never what was removed. */
export type MessageRow = Readonly<{
  roomId: string;
  seq: number;
  messageId: string;
  senderId: string;
  /** null once removed. */
  body: string | null;
  sentAt: string;
  editedAt: string | null;
  redacted: boolean;
  redactedAt: string | null;
  /** The seq of the last event that changed it (its own, an edit's or a removal's). */
  updatedSeq: number;
  /** Its files as the send linked them; none once removed. */
  attachments: readonly schema.AttachmentRef[];
}>;

/**
 * One row per message, keyed (room, seq): history pages are index range
 * scans on the key however large the room. `updated_seq` is the seq of
 * the last event that changed the row, unique per room, so "every change
 * after seq N" (a resume) is a range scan too. A removal sets the body and
 * its search vector to null: the text leaves the read model.
 */
export const chatMessagesProjection: SqlProjection = {
  name: 'chat_messages',
  version: 1,
  contexts: ['chat'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['chat.MessageSent', 'chat.MessageEdited', 'chat.MessageRedacted'],
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      room_id uuid not null,
      seq bigint not null,
      message_id uuid not null,
      sender_id uuid not null,
      body text,
      sent_at timestamptz not null,
      edited_at timestamptz,
      redacted_at timestamptz,
      updated_seq bigint not null,
      tsv tsvector,
      primary key (room_id, seq)
    );
    create unique index if not exists chat_messages_changes on ${t[TABLE]} (room_id, updated_seq);
    create index if not exists chat_messages_search on ${t[TABLE]} using gin (tsv);
    -- Attachments ride in the row (no join per row): no event before them had any, so no rebuild.
    alter table ${t[TABLE]} add column if not exists attachments jsonb`,
  async apply(tx, events, t) {
    const table = t[TABLE]!;
    // Sends are written together; an edit or removal first flushes the sends before it, so order holds.
    let sends: {
      room_id: string;
      seq: number;
      message_id: string;
      sender_id: string;
      body: string;
      sent_at: string;
      attachments: readonly schema.AttachmentRef[] | null;
    }[] = [];
    const flush = async () => {
      if (sends.length === 0) return;
      await tx.query(
        `insert into ${table} (room_id, seq, message_id, sender_id, body, sent_at, updated_seq, tsv, attachments)
         select r.room_id, r.seq, r.message_id, r.sender_id, r.body, r.sent_at, r.seq, to_tsvector('simple', lower(r.body)),
           r.attachments
         from jsonb_to_recordset($1::jsonb) as r(room_id uuid, seq bigint, message_id uuid, sender_id uuid, body text,
           sent_at timestamptz, attachments jsonb)
         on conflict do nothing`,
        [JSON.stringify(sends)],
      );
      sends = [];
    };
    for (const e of events) {
      if (!schema.isChatEvent(e)) continue;
      switch (e.type) {
        case 'chat.MessageSent':
          sends.push({
            room_id: e.data.roomId,
            seq: e.revision,
            message_id: e.data.messageId,
            sender_id: e.data.senderId,
            body: e.data.body,
            sent_at: e.occurredAt,
            attachments: e.data.attachments?.length ? e.data.attachments : null,
          });
          break;
        case 'chat.MessageEdited':
          await flush();
          // A removed message stays removed; the edit still moves its updated_seq (a resume sees one change).
          await tx.query(
            `update ${table} set
               body = case when redacted_at is null then $3 end,
               tsv = case when redacted_at is null then to_tsvector('simple', lower($3)) end,
               edited_at = $4, updated_seq = $5
             where room_id = $1 and seq = $2`,
            [e.data.roomId, e.data.seq, e.data.body, e.occurredAt, e.revision],
          );
          break;
        case 'chat.MessageRedacted':
          await flush();
          await tx.query(
            `update ${table} set body = null, tsv = null, attachments = null, redacted_at = coalesce(redacted_at, $3), updated_seq = $4
             where room_id = $1 and seq = $2`,
            [e.data.roomId, e.data.seq, e.occurredAt, e.revision],
          );
          break;
      }
    }
    await flush();
  },
};

// Readers: the only SQL that reads `chat_messages`.

const messages = liveTable(TABLE);
const COLUMNS =
  'room_id, seq, message_id, sender_id, body, sent_at, edited_at, redacted_at, updated_seq, attachments';
type Row = {
  room_id: string;
  seq: string | number;
  message_id: string;
  sender_id: string;
  body: string | null;
  sent_at: Date | string;
  edited_at: Date | string | null;
  redacted_at: Date | string | null;
  updated_seq: string | number;
  attachments: schema.AttachmentRef[] | string | null;
};
const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());
const toMessage = (r: Row): MessageRow => ({
  roomId: r.room_id,
  seq: Number(r.seq),
  messageId: r.message_id,
  senderId: r.sender_id,
  body: r.body,
  sentAt: iso(r.sent_at)!,
  editedAt: iso(r.edited_at),
  redacted: r.redacted_at !== null,
  redactedAt: iso(r.redacted_at),
  updatedSeq: Number(r.updated_seq),
  attachments:
    r.attachments === null
      ? []
      : typeof r.attachments === 'string'
        ? (JSON.parse(r.attachments) as schema.AttachmentRef[])
        : r.attachments,
});

export type HistoryPage = Readonly<{ items: MessageRow[]; older: boolean; newer: boolean }>;

/**
 * A page of a room's messages in seq order: the newest, or the `limit`
 * before or after a seq. `older`/`newer` say whether more lie beyond.
 * With `hiddenFor`, messages whose sender that user blocks are left out
 * (the page still has `limit` of the others when there are that many).
 */
export const historyPage = async (
  sql: SqlExecutor,
  roomId: string,
  at: Readonly<{ before?: number; after?: number; limit: number; hiddenFor?: string }>,
): Promise<HistoryPage> => {
  const n = at.limit + 1;
  // $4 is the viewer; the condition is one primary-key probe per row of the range scan.
  const hide = at.hiddenFor === undefined ? '' : `and ${notBlockedBy('$4', 'sender_id')}`;
  const viewer = at.hiddenFor === undefined ? [] : [at.hiddenFor];
  if (at.after !== undefined) {
    const rows = await sql.query<Row>(
      `select ${COLUMNS} from ${messages} where room_id = $1 and seq > $2 ${hide} order by seq limit $3`,
      [roomId, at.after, n, ...viewer],
    );
    const items = rows.slice(0, at.limit).map(toMessage);
    return { items, newer: rows.length > at.limit, older: at.after >= 0 };
  }
  const rows = await sql.query<Row>(
    `select ${COLUMNS} from ${messages} where room_id = $1 and seq < $2 ${hide} order by seq desc limit $3`,
    [roomId, at.before ?? Number.MAX_SAFE_INTEGER, n, ...viewer],
  );
  const items = rows.slice(0, at.limit).map(toMessage).reverse();
  return { items, older: rows.length > at.limit, newer: at.before !== undefined };
};

/** Every message changed after `after` (by its last change), in that order: what a resume replays. */
export const changesAfter = async (
  sql: SqlExecutor,
  roomId: string,
  after: number,
  limit: number,
): Promise<{ items: MessageRow[]; more: boolean }> => {
  const rows = await sql.query<Row>(
    `select ${COLUMNS} from ${messages} where room_id = $1 and updated_seq > $2 order by updated_seq limit $3`,
    [roomId, after, limit + 1],
  );
  return { items: rows.slice(0, limit).map(toMessage), more: rows.length > limit };
};

/**
 * Messages matching `q` (web search syntax) in the given rooms, best first.
 * Removed text is not there to find. With `hidden`, the messages in its
 * `roomIds` whose sender its `viewer` blocks are left out.
 */
export const searchMessages = async (
  sql: SqlExecutor,
  roomIds: readonly string[],
  q: string,
  limit: number,
  hidden?: Readonly<{ viewer: string; roomIds: readonly string[] }>,
): Promise<MessageRow[]> => {
  if (roomIds.length === 0) return [];
  const hide = hidden?.roomIds.length
    ? `and (room_id <> all($5::uuid[]) or ${notBlockedBy('$4', 'sender_id')})`
    : '';
  const rows = await sql.query<Row>(
    `select ${COLUMNS} from ${messages}, websearch_to_tsquery('simple', lower($2)) as query
     where room_id = any($1::uuid[]) and tsv @@ query ${hide}
     order by ts_rank(tsv, query) desc, sent_at desc limit $3`,
    [roomIds, q, limit, ...(hide ? [hidden!.viewer, hidden!.roomIds] : [])],
  );
  return rows.map(toMessage);
};

/**
 * The seq of the last message event of each room (its newest change, an
 * edit or removal included); -1 for a room with none. One index probe per
 * room, in one query.
 */
export const lastSeqs = async (
  sql: SqlExecutor,
  roomIds: readonly string[],
): Promise<Map<string, number>> => {
  if (roomIds.length === 0) return new Map();
  const rows = await sql.query<{ room_id: string; last: string | number | null }>(
    `select r.room_id, (select m.updated_seq from ${messages} m where m.room_id = r.room_id
       order by m.updated_seq desc limit 1) as last
     from unnest($1::uuid[]) as r(room_id)`,
    [roomIds],
  );
  return new Map(rows.map((r) => [r.room_id, r.last === null ? -1 : Number(r.last)]));
};

/** Whether the message at `seq` has been removed (false when there is none). */
export const isRedacted = async (sql: SqlExecutor, roomId: string, seq: number): Promise<boolean> => {
  const rows = await sql.query(
    `select 1 from ${messages} where room_id = $1 and seq = $2 and redacted_at is not null`,
    [roomId, seq],
  );
  return rows.length > 0;
};
