import { chat as schema } from '@lectern/schemas';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { Logger } from '@lectern/infra/runtime/logger';
import { periodic } from '@lectern/infra/runtime/periodic';
import type { Reaction } from '@lectern/infra/runtime/reactor';

/** Where a page ended; the next starts after it. */
export type UnsentCursor = Readonly<{ attachmentId: string; requestedAt: string }>;

/** What the sweep needs of chat: its read model of unsent attachments, and its command. */
export type AttachmentExpiry = Readonly<{
  /**
   * Up to `limit` attachments requested before `before` and not sent, oldest
   * first, after `cursor` (a read model: it may still list one a message just took).
   */
  unsentBefore(before: Date, limit: number, cursor: UnsentCursor | null): Promise<readonly UnsentCursor[]>;
  /** Expires the attachment if its own stream says it is due; true when this call expired it. */
  expire(attachmentId: string): Promise<boolean>;
}>;

export type ExpirySweepDeps = Readonly<{
  expiry: AttachmentExpiry;
  logger: Logger;
  now?: () => number;
  /** How long an attachment may wait for a message; default `ATTACHMENT_UNLINKED_TTL_MS` (a day). */
  ttlMs?: number;
  /** How often it looks; default 10 minutes. */
  everyMs?: number;
  /** Attachments asked about per page; default 100. */
  pageSize?: number;
}>;

/**
 * Expires the attachments no message took within a day of their request,
 * in every process with the `workers` role. Safe however many run: the
 * decider expires an attachment once and refuses nothing twice, and two
 * sweeps racing on one stream are ordered by its revision (the loser finds
 * it expired and appends nothing). One look pages through the due rows by
 * keyset, each once: a row the stream refuses (a message took it a moment
 * ago and the read model has not caught up) is passed, not looked at again.
 */
export const attachmentExpirySweep = (deps: ExpirySweepDeps) => {
  const now = deps.now ?? Date.now;
  const ttl = deps.ttlMs ?? schema.ATTACHMENT_UNLINKED_TTL_MS;
  const pageSize = deps.pageSize ?? 100;
  const log = deps.logger.child({ worker: 'chat-attachment-expiry' });

  const tick = async (): Promise<number> => {
    let expired = 0;
    const before = new Date(now() - ttl);
    for (let cursor: UnsentCursor | null = null; ;) {
      const page = await deps.expiry.unsentBefore(before, pageSize, cursor);
      for (const row of page) if (await deps.expiry.expire(row.attachmentId)) expired++;
      if (page.length < pageSize) break;
      cursor = page.at(-1)!;
    }
    if (expired) log.info({ expired }, 'unsent attachments expired');
    return expired;
  };

  return {
    /** One look; how many attachments it expired. */
    tick,
    ...periodic(tick, deps.everyMs ?? 10 * 60_000, (error) =>
      log.warn({ err: error }, 'unsent attachments not looked at; next time'),
    ),
  };
};

/**
 * Deletes the file of each expired attachment, once per event: the
 * event is stored before the file goes, so a crash in between deletes it
 * on the next delivery, and deleting a file already gone is no failure.
 */
export const attachmentFilesReaction = (deps: Readonly<{ blobs: BlobStore }>): Reaction => ({
  name: 'chat_attachments',
  contexts: ['chat'],
  eventTypes: ['chat.AttachmentExpired'],
  async handle(event) {
    if (!schema.isChatEvent(event) || event.type !== 'chat.AttachmentExpired') return { outcome: 'skipped' };
    // The key by the rule that made it, never a string from the event: only an attachment's file can go.
    const key = schema.attachmentKey(event.data.roomId, event.data.attachmentId);
    await deps.blobs.delete(key);
    return { outcome: 'deleted', ref: key };
  },
});
