import { chat as schema, decodeEvent, type EventMetadata } from '@lectern/schemas';
import { EventIdConflict, type EventStore } from '@lectern/infra/ports/event-store';
import type { RateLimit, RateLimiter } from '@lectern/infra/ports/rate-limiter';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { VerifiedToken } from '@lectern/infra/http/auth';
import { fold } from '@lectern/infra/runtime/decider';
import { Problem } from '@lectern/infra/runtime/errors';
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
} from './domain/room.ts';
import { blocklistDecider, hasBlocked } from './domain/blocks.ts';
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
