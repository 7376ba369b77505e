import { Router, type Request } from 'express';
import { chat as schema, uuid } from '@lectern/schemas';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem, validated } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { withAttachmentUrls, type AttachmentView } from './attachments.ts';
import {
  chatRoomsProjection,
  memberRoomsOf,
  roomById,
  roomsOf,
  type RoomRow,
} from '@lectern/chat-projection-rooms';
import { blocksOf, chatBlocksProjection } from '@lectern/chat-projection-blocks';
import {
  chatMessagesProjection,
  historyPage,
  lastSeqs,
  searchMessages,
  type MessageRow,
} from '@lectern/chat-projection-messages';

export type ChatQueryDeps = Readonly<{
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
  /** Where attachments are; history signs a short-lived GET of each. */
  blobs: BlobStore;
}>;

const roomIdParam = uuid();

/** A message as the API answers it: the read model's row and its cursor. */
export const messageView = (m: MessageRow) => ({
  roomId: m.roomId,
  seq: m.seq,
  messageId: m.messageId,
  senderId: m.senderId,
  body: m.body,
  sentAt: m.sentAt,
  editedAt: m.editedAt,
  redacted: m.redacted,
  redactedAt: m.redactedAt,
  cursor: schema.encodeChatCursor({ roomId: m.roomId, seq: m.seq }),
  attachments: m.attachments.map((a): AttachmentView => ({ ...a })),
});

const limitOf = (raw: unknown): number => {
  if (raw === undefined) return schema.CHAT_LIMIT_DEFAULT;
  const r = schema.historyQuery.limit(raw, '/limit');
  if (!r.ok)
    throw new Problem('validation', 'invalid_limit', 'limit must be an integer from 1 to 200.', {
      issues: [{ path: '/limit', message: 'must be an integer from 1 to 200' }],
    });
  return r.value;
};

/** The seq a cursor names, refused unless this API made it for this room. */
const seqOfCursor = (raw: unknown, roomId: string, name: string): number | undefined => {
  if (raw === undefined) return undefined;
  const c = typeof raw === 'string' ? schema.decodeChatCursor(raw) : null;
  if (!c || c.roomId !== roomId)
    throw new Problem(
      'validation',
      'invalid_cursor',
      'The cursor is not one this API returned for this room.',
      {
        issues: [{ path: `/${name}`, message: 'is not a cursor of this room' }],
      },
    );
  return c.seq;
};

/** Queries of the chat context: rooms, history by cursor, search, the caller's blocklist. Only members read a room. */
export const chatQueryRoutes = (deps: ChatQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  /** The room, when the caller is in it; otherwise 404 (no such room) or 403. */
  const roomIdOf = (req: Request): string => {
    return validated(roomIdParam(req.params.roomId, '/roomId'));
  };
  /**
   * The room, if the caller may read it. `existsElsewhere`: another model has shown the room's
   * events (the messages model reached a send's token), so a room missing here is one the
   * rooms model, another consumer, has not applied yet: wait for it, within the same budget.
   */
  const readableRoom = async (req: Request, existsElsewhere = false): Promise<RoomRow> => {
    const roomId = roomIdOf(req);
    let room = await roomById(deps.sql, roomId);
    if (
      !room &&
      existsElsewhere &&
      (await deps.waitFor(chatRoomsProjection.name, schema.roomStreamId(roomId), 0))
    )
      room = await roomById(deps.sql, roomId);
    if (!room) throw new Problem('not_found', 'room_not_found', 'No such room.');
    if (!room.members.includes(req.ctx.actor!.userId!))
      throw new Problem('forbidden', 'not_a_member', 'You are not a member of this room.');
    return room;
  };
  const withLastSeq = async (rooms: readonly RoomRow[]) => {
    const last = await lastSeqs(
      deps.sql,
      rooms.map((r) => r.roomId),
    );
    return rooms.map((r) => ({ ...r, lastSeq: last.get(r.roomId) ?? -1 }));
  };

  router.get('/api/chat/rooms', auth, async (req, res) => {
    const rooms = await roomsOf(deps.sql, req.ctx.actor!.userId!);
    res.json({
      items: await withLastSeq(rooms),
    });
  });

  router.get('/api/chat/rooms/:roomId', auth, async (req, res) => {
    await awaitConsistency(
      req,
      res,
      deps.waitFor,
      chatRoomsProjection.name,
      schema.roomStreamId(roomIdOf(req)),
    );
    const room = await readableRoom(req);
    res.json((await withLastSeq([room]))[0]);
  });

  router.get('/api/chat/rooms/:roomId/messages', auth, async (req, res) => {
    // A send's token names the room's messages stream: wait for it before the room is checked.
    const reached = await awaitConsistency(
      req,
      res,
      deps.waitFor,
      chatMessagesProjection.name,
      schema.messagesStreamId(roomIdOf(req)),
    );
    const room = await readableRoom(req, reached === true);
    const limit = limitOf(req.query.limit);
    const before = seqOfCursor(req.query.before, room.roomId, 'before');
    const after = seqOfCursor(req.query.after, room.roomId, 'after');
    if (before !== undefined && after !== undefined)
      throw new Problem('validation', 'invalid_cursor', 'Send `before` or `after`, not both.', {
        issues: [{ path: '/after', message: 'cannot be sent with before' }],
      });
    const page = await historyPage(deps.sql, room.roomId, {
      limit,
      // In a group, what a user the caller blocks says is left out (a direct room's history is kept whole).
      ...(room.kind === 'group' ? { hiddenFor: req.ctx.actor!.userId! } : {}),
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    });
    const first = page.items[0];
    const last = page.items.at(-1);
    const cursor = (seq: number) => schema.encodeChatCursor({ roomId: room.roomId, seq });
    res.json({
      items: await withAttachmentUrls(deps.blobs, page.items.map(messageView)),
      before: first && page.older ? cursor(first.seq) : null,
      // Always where to ask for newer ones (also to poll): after the last shown, or where the caller was.
      after: last ? cursor(last.seq) : after !== undefined ? cursor(after) : null,
    });
  });

  router.get('/api/chat/search', auth, async (req, res) => {
    const q = validated(schema.searchQuery.q(req.query.q, '/q'));
    const limit = limitOf(req.query.limit);
    const me = req.ctx.actor!.userId!;
    const rooms = await memberRoomsOf(deps.sql, me);
    const groups = rooms.filter((r) => r.kind === 'group').map((r) => r.roomId);
    const found = await searchMessages(
      deps.sql,
      rooms.map((r) => r.roomId),
      q,
      limit,
      { viewer: me, roomIds: groups },
    );
    res.json({ items: await withAttachmentUrls(deps.blobs, found.map(messageView)) });
  });

  router.get('/api/chat/blocks', auth, async (req, res) => {
    const me = req.ctx.actor!.userId!;
    await awaitConsistency(req, res, deps.waitFor, chatBlocksProjection.name, schema.blocksStreamId(me));
    res.json({ items: await blocksOf(deps.sql, me) });
  });

  return router;
};
