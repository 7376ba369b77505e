import { chat as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'chat_attachments_unsent';

/**
 * Attachments requested that no message has taken yet, with when each was
 * requested: what the expiry sweep looks through, oldest first. A row goes
 * once its attachment is linked to a message or has expired. Decisions
 * never read it: the sweep asks each attachment's own stream, which is never
 * behind, whether it is due.
 */
export const chatAttachmentsUnsentProjection: SqlProjection = {
  name: 'chat_attachments_unsent',
  version: 1,
  contexts: ['chat'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['chat.AttachmentRequested', 'chat.AttachmentLinked', 'chat.AttachmentExpired'],
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      attachment_id uuid primary key,
      requested_at timestamptz not null
    );
    create index if not exists chat_attachments_unsent_by_age on ${t[TABLE]} (requested_at, attachment_id)`,
  async apply(tx, events, t) {
    const table = t[TABLE]!;
    for (const e of events) {
      if (!schema.isChatEvent(e)) continue;
      switch (e.type) {
        case 'chat.AttachmentRequested':
          await tx.query(
            `insert into ${table} (attachment_id, requested_at) values ($1, $2) on conflict do nothing`,
            [e.data.attachmentId, e.data.requestedAt],
          );
          break;
        case 'chat.AttachmentLinked':
        case 'chat.AttachmentExpired':
          await tx.query(`delete from ${table} where attachment_id = $1`, [e.data.attachmentId]);
          break;
      }
    }
  },
};

// Readers: the only SQL that reads `chat_attachments_unsent`.

const unsent = liveTable(TABLE);

/** Where a page of unsent attachments ended: the next page starts after it. */
export type UnsentCursor = Readonly<{ attachmentId: string; requestedAt: string }>;

/**
 * Up to `limit` attachments requested before `before` and not sent, oldest
 * first, after `cursor` (the last of the page before) when given: a keyset
 * page, so a sweep visits each row once however many it cannot expire.
 */
export const unsentBefore = async (
  sql: SqlExecutor,
  before: Date,
  limit: number,
  cursor: UnsentCursor | null = null,
): Promise<UnsentCursor[]> => {
  const rows = await sql.query<{ attachment_id: string; requested_at: Date | string }>(
    `select attachment_id, requested_at from ${unsent}
      where requested_at < $1 and ($3::timestamptz is null or (requested_at, attachment_id) > ($3, $4::uuid))
      order by requested_at, attachment_id limit $2`,
    [before.toISOString(), limit, cursor?.requestedAt ?? null, cursor?.attachmentId ?? null],
  );
  return rows.map((r) => ({
    attachmentId: r.attachment_id,
    requestedAt: new Date(r.requested_at).toISOString(),
  }));
};
