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
  directPeer,
  mayWrite,
  roomDecider,
  slowModeFor,
  type Original,
  type Room,
  type RoomCommand,
} from './domain/room.ts';
import { blocklistDecider, hasBlocked } from './domain/blocks.ts';
import { chatBlockRoutes } from './blocks.ts';
import type { ProfanityFilter } from './profanity.ts';

export type ChatCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
  /** Counts each user's messages across every process. */
  limiter: RateLimiter;
  /** Whether the read model shows the message at `seq` removed (an edit of it is refused). */
  isRedacted: (roomId: string, seq: number) => Promise<boolean>;
  /** Whether a message's text may be stored (sends and edits). */
  profanityFilter: ProfanityFilter;
  /** Where attachments are uploaded to; a removed message's files are deleted from it. */
  blobs: BlobStore;
}>;

const roomIdParam = uuid();

/** At most 20 messages per 10 s per user, on REST and the socket alike. */
export const SEND_LIMIT: RateLimit = { limit: 20, windowMs: 10_000 };

/** The rate_limits key of a member's turn in a slow room. */
const turnKey = (roomId: string, userId: string): string => `chat:slow:${roomId}:${userId}`;

/** The direct room of a pair: one id per unordered pair, so it is opened once. */
export const directRoomId = (a: string, b: string): string =>
  deterministicUuid(`chat/direct/${[a, b].sort().join('/')}`);

/**
 * Whether `owner` has blocked `userId`, from `owner`'s own stream: a block
 * holds from the moment it is stored, whatever a read model has seen.
 */
export const isBlockedBy = async (store: EventStore, owner: string, userId: string): Promise<boolean> =>
  hasBlocked(fold(blocklistDecider, await store.readStream(schema.blocksStreamId(owner))), userId);

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
  /** In a direct room, whether the other member has blocked `userId`; a group reads no blocklist. */
  const blockedByPeer = async (state: Room, userId: string): Promise<boolean> => {
    const peer = directPeer(state, userId);
    return peer !== null && (await isBlockedBy(deps.store, peer, userId));
  };
  /** Why the filter refuses `body`, or null. */
  const textRefused = async (body: string): Promise<string | null> => {
    const verdict = await deps.profanityFilter.check(body);
    return verdict.allowed ? null : verdict.reason;
  };
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

  /**
   * Slow mode: one message per `seconds` per member, counted in the shared
   * `rate_limits` table (limit 1 per window), so every process agrees. The
   * message that took a turn is marked under its own key for the same
   * window: sent again (its answer was lost), it is let through to the
   * append, which the store answers as the first, instead of a 429 for a
   * message that was in fact stored. A retry after the window takes a new
   * turn but is still the same message.
   */
  const takeTurn = async (roomId: string, userId: string, messageId: string, seconds: number) => {
    const window: RateLimit = { limit: 1, windowMs: seconds * 1000 };
    const now = deps.clock.now();
    const turn = await deps.limiter.hit(turnKey(roomId, userId), window, now);
    const marker = `${turnKey(roomId, userId)}:${messageId}`;
    if (turn.allowed) {
      await deps.limiter.hit(marker, window, now);
      return;
    }
    if (!(await deps.limiter.peek(marker, window, now)).allowed) return;
    throw new Problem('rate_limited', 'slow_mode', `Slow mode: one message per ${seconds} s in this room.`, {
      retryAfterSeconds: turn.retryAfterSeconds,
    });
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
      // Refused before anything is spent or linked: not a member, blocked by the peer, a text the
      // filter refuses.
      const writer = {
        blockedByPeer: await blockedByPeer(state, caller.userId),
        textRefused: await textRefused(body),
      };
      mayWrite(state, caller.userId, writer);
      // The room's own limit first: a send it refuses spends nothing of the sender's flood budget.
      const seconds = slowModeFor(state, caller.userId, caller.roles.includes('admin'));
      if (seconds > 0) await takeTurn(roomId, caller.userId, clientMessageId, seconds);
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
        ...writer,
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
        blockedByPeer: await blockedByPeer(state, caller.userId),
        textRefused: await textRefused(body),
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
  router.use(chatBlockRoutes(deps));
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
    const owner = caller(req).userId;
    const members = body.members ?? [];
    // Naming members at creation is inviting them: nobody who blocked the owner is added.
    const blocked = await Promise.all(members.map((m) => isBlockedBy(deps.store, m, owner)));
    const outcome = await runRoom(req, roomId, {
      type: 'CreateGroup',
      roomId,
      name: body.name,
      ownerId: owner,
      members,
      ownerBlockedByAMember: blocked.includes(true),
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
      openerBlocked: await isBlockedBy(deps.store, other, me),
      at: deps.clock.now().toISOString(),
    });
    res.json(answerRoom(res, roomId, outcome));
  });

  router.post('/api/chat/rooms/:roomId/members', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const { userId } = validated(schema.inviteRequest(jsonBody(req)));
    const by = caller(req).userId;
    const outcome = await runRoom(req, roomId, {
      type: 'Invite',
      userId,
      by,
      inviterBlocked: await isBlockedBy(deps.store, userId, by),
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

  router.put('/api/chat/rooms/:roomId/slow-mode', auth, async (req, res) => {
    const roomId = roomIdOf(req);
    const { seconds } = validated(schema.slowModeRequest(jsonBody(req)));
    const me = caller(req);
    const outcome = await runRoom(req, roomId, {
      type: 'SetSlowMode',
      seconds,
      by: me.userId,
      admin: me.roles.includes('admin'),
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
