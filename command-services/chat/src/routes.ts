import { Router, type Request, type Response } from 'express';
import { chat as schema, decodeEvent, uuid, type EventMetadata } from '@lectern/schemas';
import { EventIdConflict, type EventStore } from '@lectern/infra/ports/event-store';
import type { RateLimit, RateLimiter } from '@lectern/infra/ports/rate-limiter';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { jsonBody } from '@lectern/infra/http/app';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { fold } from '@lectern/infra/runtime/decider';
import { Problem, validated } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { attachmentLinks } from './attachments.ts';
import {
  decideEdit,
  decideRedact,
  decideSend,
  memberOf,
  roomDecider,
  type Original,
  type Room,
  type RoomCommand,
} from './domain/room.ts';

export type ChatCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
  /** Counts each user's messages across every process. */
  limiter: RateLimiter;
  /** Whether the read model shows the message at `seq` removed (an edit of it is refused). */
  isRedacted: (roomId: string, seq: number) => Promise<boolean>;
  /** Where attachments are uploaded to; a removed message's files are deleted from it. */
  blobs: BlobStore;
}>;

const roomIdParam = uuid();

/** At most 20 messages per 10 s per user, on REST and the socket alike. */
export const SEND_LIMIT: RateLimit = { limit: 20, windowMs: 10_000 };

/** The direct room of a pair: one id per unordered pair, so it is opened once. */
export const directRoomId = (a: string, b: string): string =>
  deterministicUuid(`chat/direct/${[a, b].sort().join('/')}`);

/** Who acts, and how the events they cause are stamped: from a request or a socket. */
export type ChatCaller = Readonly<{
  userId: string;
  roles: readonly string[];
  /** The command id (Idempotency-Key, or the request id): what a retried edit or removal is recognised by. */
  commandId: string;
  metadata: EventMetadata;
}>;

export type Sent = Readonly<{
  roomId: string;
  seq: number;
  messageId: string;
  cursor: string;
  position: number;
}>;

/**
 * Chat's commands as functions of a caller, shared by the HTTP routes and
 * the socket's actions, so one decision and one limit serve both.
 */
export const chatCommands = (deps: ChatCommandDeps) => {
  const room = async (roomId: string): Promise<Room> =>
    fold(roomDecider, await deps.store.readStream(schema.roomStreamId(roomId)));
  const attachments = attachmentLinks(deps);

  /** Appends one message event at the room's next seq: no expected revision, the room already said yes. */
  const appendMessageEvent = async (
    caller: ChatCaller,
    event: schema.MessageStreamEvent,
    id: string,
  ): Promise<{ seq: number; position: number }> => {
    const schemaVersion = event.schemaVersion ?? 1;
    const checked = decodeEvent(schema.chatEvents, event.type, schemaVersion, event.data);
    if (!checked.ok)
      throw new Error(`decided ${event.type} fails its schema: ${JSON.stringify(checked.issues)}`);
    const result = await deps.store
      .append(
        schema.messagesStreamId(event.data.roomId),
        [
          {
            ...event,
            id,
            schemaVersion,
            occurredAt: deps.clock.now().toISOString(),
            metadata: caller.metadata,
          },
        ],
        { expectedRevision: 'any' },
      )
      .catch((error: unknown) => {
        if (error instanceof EventIdConflict)
          throw new Problem(
            'conflict',
            'event_id_conflict',
            'This message id was already used for another message; send it with a new clientMessageId.',
          );
        throw error;
      });
    return { seq: result.nextExpectedRevision, position: result.position };
  };

  /** What the store holds at `seq` of the room: the sent message, or null (nothing there, or not a message). */
  const original = async (roomId: string, seq: number): Promise<Original> => {
    const [e] = await deps.store.readStream(schema.messagesStreamId(roomId), {
      fromRevision: seq,
      maxCount: 1,
    });
    if (!e || e.revision !== seq || !schema.isChatEvent(e) || e.type !== 'chat.MessageSent') return null;
    return { senderId: e.data.senderId, ...(e.data.attachments ? { attachments: e.data.attachments } : {}) };
  };

  return {
    async send(
      caller: ChatCaller,
      roomId: string,
      body: schema.MessageSent['body'],
      clientMessageId: string,
      attachmentIds: readonly string[] = [],
    ): Promise<Sent> {
      const state = await room(roomId);
      memberOf(state, caller.userId);
      const allowed = await deps.limiter.hit(`chat:send:${caller.userId}`, SEND_LIMIT, deps.clock.now());
      if (!allowed.allowed)
        throw new Problem('rate_limited', 'rate_limited', 'Too many messages; wait a little.', {
          retryAfterSeconds: allowed.retryAfterSeconds,
        });
      // The sender is in the id: nobody can take, or collide with, another's message id.
      const id = deterministicUuid(`chat/message/${roomId}/${caller.userId}/${clientMessageId}`);
      const event = decideSend(state, {
        messageId: clientMessageId,
        senderId: caller.userId,
        body,
        attachments: await attachments.link(caller, roomId, attachmentIds, id),
      });
      const { seq, position } = await appendMessageEvent(caller, event, id);
      return {
        roomId,
        seq,
        messageId: clientMessageId,
        cursor: schema.encodeChatCursor({ roomId, seq }),
        position,
      };
    },

    async edit(caller: ChatCaller, roomId: string, seq: number, body: string) {
      const state = await room(roomId);
      const event = decideEdit(state, await original(roomId, seq), {
        seq,
        editorId: caller.userId,
        body,
        redacted: state.status === 'open' && (await deps.isRedacted(roomId, seq)),
      });
      const id = deterministicUuid(`${caller.commandId}/chat/edit/${roomId}/${seq}`);
      return appendMessageEvent(caller, event, id);
    },

    async redact(caller: ChatCaller, roomId: string, seq: number, reason: string | null) {
      const state = await room(roomId);
      const found = await original(roomId, seq);
      const event = decideRedact(state, found, {
        seq,
        actorId: caller.userId,
        admin: caller.roles.includes('admin'),
        reason,
      });
      const id = deterministicUuid(`${caller.commandId}/chat/redact/${roomId}/${seq}`);
      const done = await appendMessageEvent(caller, event, id);
      await attachments.discard(roomId, found?.attachments ?? []);
      return done;
    },
  };
};

/** Chat's commands over HTTP: rooms, membership, and messages. */
export const chatCommandRoutes = (deps: ChatCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const commands = chatCommands(deps);
  const caller = (req: Request): ChatCaller => ({
    userId: req.ctx.actor!.userId!,
    roles: req.ctx.actor!.roles,
    commandId: req.ctx.commandId,
    metadata: eventMetadata(req.ctx),
  });
  const roomIdOf = (req: Request): string => validated(roomIdParam(req.params.roomId, '/roomId'));
  const seqOf = (req: Request): number => validated(schema.seqParam(req.params.seq, '/seq'));
  const runRoom = async (req: Request, roomId: string, command: RoomCommand) => {
    const expectedRevision = ifMatchRevision(req);
    return handleCommand({
      store: deps.store,
      catalogue: schema.chatEvents,
      commandId: req.ctx.commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: eventMetadata(req.ctx),
      streamId: schema.roomStreamId(roomId),
      decider: roomDecider,
      command,
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
  };
  const answerRoom = (
    res: Response,
    roomId: string,
    outcome: { revision: number; position: number | null },
  ) => {
    setCommandHeaders(res, outcome.revision, outcome.position);
    return { roomId, revision: outcome.revision };
  };

  router.post('/api/chat/rooms', auth, async (req, res) => {
    const body = validated(schema.newGroupRoom(jsonBody(req)));
    const roomId = deterministicUuid(`chat/room/${req.ctx.commandId}`);
    const outcome = await runRoom(req, roomId, {
      type: 'CreateGroup',
      roomId,
      name: body.name,
      ownerId: caller(req).userId,
      members: body.members ?? [],
      at: deps.clock.now().toISOString(),
    });
    res
      .status(201)
      .location(`/api/chat/rooms/${roomId}`)
      .json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/direct', auth, async (req, res) => {
    const { userId: other } = validated(schema.directRoomRequest(jsonBody(req)));
    const me = caller(req).userId;
    const roomId = directRoomId(me, other);
    const outcome = await runRoom(req, roomId, {
      type: 'OpenDirect',
      roomId,
      opener: me,
      other,
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/rooms/:roomId/members', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const { userId } = validated(schema.inviteRequest(jsonBody(req)));
    const outcome = await runRoom(req, roomId, {
      type: 'Invite',
      userId,
      by: caller(req).userId,
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.delete('/api/chat/rooms/:roomId/members/me', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const outcome = await runRoom(req, roomId, {
      type: 'Leave',
      userId: caller(req).userId,
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/rooms/:roomId/messages', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const body = validated(schema.sendMessage(jsonBody(req)));
    const sent = await commands.send(caller(req), roomId, body.body, body.clientMessageId, body.attachments);
    setCommandHeaders(res, sent.seq, sent.position);
    const { position: _, ...answer } = sent;
    res.status(201).json(answer);
  });

  router.patch('/api/chat/rooms/:roomId/messages/:seq', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const seq = seqOf(req);
    const { body } = validated(schema.editMessage(jsonBody(req)));
    const done = await commands.edit(caller(req), roomId, seq, body);
    setCommandHeaders(res, done.seq, done.position);
    res.json({ roomId, seq });
  });

  router.delete('/api/chat/rooms/:roomId/messages/:seq', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const seq = seqOf(req);
    const reason =
      req.query.reason === undefined
        ? null
        : validated(schema.redactQuery.reason(req.query.reason, '/reason'));
    const done = await commands.redact(caller(req), roomId, seq, reason);
    setCommandHeaders(res, done.seq, done.position);
    res.json({ roomId, seq });
  });

  return router;
};
