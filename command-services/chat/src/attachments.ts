import { Router, type Request } from 'express';
import { chat as schema, uuid } from '@lectern/schemas';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { authenticate } from '@lectern/infra/http/auth';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { jsonBody } from '@lectern/infra/http/app';
import { sniffedObject } from '@lectern/infra/blobs/stored';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { causedBy, eventMetadata } from '@lectern/infra/runtime/context';
import { fold } from '@lectern/infra/runtime/decider';
import { Problem, validated } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import type { EventMetadata } from '@lectern/schemas';
import {
  DISCARDED,
  attachmentDecider,
  ownAttachment,
  refOf,
  type Attachment,
  type AttachmentCommand,
} from './domain/attachment.ts';
import { roomDecider } from './domain/room.ts';

export type ChatAttachmentDeps = Readonly<{
  store: EventStore;
  blobs: BlobStore;
  clock: Clock;
}>;

/** How long the upload URL is good for: long enough for 20 MiB on a slow line, short for a replay. */
const UPLOAD_URL_SECONDS = 10 * 60;
/** How long a download URL in history is good for; reading history again gives fresh ones. */
export const DOWNLOAD_URL_SECONDS = 5 * 60;

const idParam = uuid();

const readAttachment = async (store: EventStore, attachmentId: string): Promise<Attachment> =>
  fold(attachmentDecider, await store.readStream(schema.attachmentStreamId(attachmentId)));

/**
 * Attachments as the send and the removal of a message use them: linking
 * each to the message (in its own stream, with its expected revision, so
 * two messages racing for one attachment cannot both have it), and
 * removing the files of a removed message.
 */
export const attachmentLinks = (deps: ChatAttachmentDeps) => ({
  /**
   * Links every attachment to the message with event id `messageEventId`,
   * in order; what the message shows of each. A retried send (the same
   * message event id) finds them linked to it and goes on.
   */
  async link(
    by: Readonly<{ userId: string; metadata: EventMetadata }>,
    roomId: string,
    attachmentIds: readonly string[],
    messageEventId: string,
  ): Promise<schema.AttachmentRef[]> {
    if (new Set(attachmentIds).size !== attachmentIds.length)
      throw new Problem('validation', 'validation_failed', 'Each attachment once.', {
        issues: [{ path: '/attachments', message: 'has an attachment twice' }],
      });
    const refs: schema.AttachmentRef[] = [];
    for (const attachmentId of attachmentIds) {
      const outcome = await handleCommand({
        store: deps.store,
        catalogue: schema.chatEvents,
        commandId: `${messageEventId}/link/${attachmentId}`,
        occurredAt: deps.clock.now().toISOString(),
        metadata: by.metadata,
        streamId: schema.attachmentStreamId(attachmentId),
        decider: attachmentDecider,
        command: {
          type: 'LinkAttachment',
          attachmentId,
          roomId,
          by: by.userId,
          messageEventId,
          at: deps.clock.now().toISOString(),
        },
      });
      const ref = refOf(outcome.state);
      if (!ref) throw new Error('a linked attachment has no state');
      refs.push(ref);
    }
    return refs;
  },

  /**
   * Deletes the files of a removed message. The event is stored first; a
   * file that cannot be deleted now is no longer served (no read model
   * shows it, so no URL is made for it again) and is left for a sweep.
   */
  async discard(roomId: string, refs: readonly schema.AttachmentRef[]): Promise<void> {
    await Promise.all(
      refs.map((r) => deps.blobs.delete(schema.attachmentKey(roomId, r.attachmentId)).catch(() => undefined)),
    );
  },
});

/**
 * The expiry sweep's command: expires the attachment when no message took
 * it within `ATTACHMENT_UNLINKED_TTL_MS` of its request, as its own stream
 * says. The event continues the upload's correlation (its cause is the
 * request), so `lectern related` shows it with the upload. True when this
 * call expired it; false when it was sent, expired already, or not due.
 */
export const expireAttachment = async (
  deps: Pick<ChatAttachmentDeps, 'store' | 'clock'>,
  attachmentId: string,
): Promise<boolean> => {
  const streamId = schema.attachmentStreamId(attachmentId);
  const request = (await deps.store.readStream(streamId)).find((e) => e.type === 'chat.AttachmentRequested');
  if (!request) return false;
  const now = deps.clock.now();
  const at = now.toISOString();
  const requestedBy = new Date(now.getTime() - schema.ATTACHMENT_UNLINKED_TTL_MS).toISOString();
  const outcome = await handleCommand({
    store: deps.store,
    catalogue: schema.chatEvents,
    commandId: `chat/attachment/${attachmentId}/expire`,
    occurredAt: at,
    metadata: causedBy(request),
    streamId,
    decider: attachmentDecider,
    command: { type: 'ExpireAttachment', requestedBy, at },
  });
  return outcome.events.length > 0;
};

/**
 * A member uploads a file for a room: request (a presigned PUT of the
 * exact type and size), upload straight to the storage, complete (the
 * object is stat'ed and sniffed; a wrong one is deleted). Sending a
 * message with the attachment's id links it to the message.
 */
export const chatAttachmentRoutes = (
  deps: ChatAttachmentDeps & Readonly<{ verify: Parameters<typeof authenticate>[0] }>,
): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const run = (req: Request, attachmentId: string, command: AttachmentCommand) =>
    handleCommand({
      store: deps.store,
      catalogue: schema.chatEvents,
      commandId: req.ctx.commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: eventMetadata(req.ctx),
      streamId: schema.attachmentStreamId(attachmentId),
      decider: attachmentDecider,
      command,
    });
  const roomIdOf = (req: Request) => validated(idParam(req.params.roomId, '/roomId'));

  router.post('/api/chat/rooms/:roomId/attachments', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const body = validated(schema.attachmentRequest(jsonBody(req)));
    const room = fold(roomDecider, await deps.store.readStream(schema.roomStreamId(roomId)));
    const attachmentId = deterministicUuid(`chat/attachment/${req.ctx.commandId}`);
    const outcome = await run(req, attachmentId, {
      type: 'RequestAttachment',
      attachmentId,
      room,
      uploaderId: req.ctx.actor!.userId!,
      contentType: body.contentType,
      size: body.size,
      fileName: body.fileName ?? null,
      at: deps.clock.now().toISOString(),
    });
    const a = outcome.state;
    if (a.status === 'none') throw new Error('an attachment was just requested');
    const upload = await deps.blobs.presignUpload({
      key: a.key,
      contentType: a.contentType,
      size: a.size,
      maxSize: schema.attachmentLimits[a.contentType],
      expiresInSeconds: UPLOAD_URL_SECONDS,
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(201).json({
      attachmentId,
      roomId,
      contentType: a.contentType,
      size: a.size,
      upload: { ...upload, expiresAt: upload.expiresAt.toISOString() },
    });
  });

  router.post('/api/chat/rooms/:roomId/attachments/:attachmentId/complete', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const attachmentId = validated(idParam(req.params.attachmentId, '/attachmentId'));
    const current = await readAttachment(deps.store, attachmentId);
    const command = {
      type: 'CompleteAttachment' as const,
      roomId,
      by: req.ctx.actor!.userId!,
      at: deps.clock.now().toISOString(),
    };
    // 1. Refuse before touching the storage (not yours, not this room's); completing again answers at once.
    const own = ownAttachment(current, roomId, command.by);
    const pending = own.status === 'requested' ? own : null;
    // 2. What the storage holds, checked by the decider; a file that fails is deleted.
    const stored = pending ? await sniffedObject(deps.blobs, pending.key) : null;
    let outcome;
    try {
      outcome = await run(req, attachmentId, { ...command, stored });
    } catch (error) {
      if (pending && error instanceof Problem && DISCARDED.has(error.code))
        await deps.blobs.delete(pending.key);
      throw error;
    }
    const a = outcome.state;
    if (a.status === 'none') throw new Error('a completed attachment has no state');
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ attachmentId, roomId, contentType: a.contentType, size: a.size, status: 'stored' });
  });

  return router;
};
