import { chat as schema, type RecordedEvent } from '@lectern/schemas';
import { changesAfter, chatMessagesProjection } from '@lectern/chat-projection-messages';
import { isMember, roomById } from '@lectern/chat-projection-rooms';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type {
  ChannelDelivery,
  ChannelItem,
  RealtimeChannelKind,
  SubscriberFilter,
} from '@lectern/infra/runtime/realtime';
import type { UserChatChange } from '@lectern/schemas/chat/socket';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { messageView } from './routes.ts';
import { withAttachmentUrls } from './attachments.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A change to one message, as a room's subscribers receive it: the fields
 * present replace what the client holds for the message at `message.seq`.
 * History sends whole messages (as they are now); the live feed sends what
 * each event says (a send whole, an edit its new body, a removal no text).
 */
export type MessageChange = Readonly<{
  message: Partial<ReturnType<typeof messageView>> & Readonly<{ roomId: string; seq: number }>;
}>;

const live = (e: RecordedEvent): MessageChange | null => {
  if (!schema.isChatEvent(e)) return null;
  const at = e.occurredAt;
  switch (e.type) {
    case 'chat.MessageSent':
      return {
        message: {
          roomId: e.data.roomId,
          seq: e.revision,
          messageId: e.data.messageId,
          senderId: e.data.senderId,
          body: e.data.body,
          sentAt: at,
          editedAt: null,
          redacted: false,
          redactedAt: null,
          cursor: schema.encodeChatCursor({ roomId: e.data.roomId, seq: e.revision }),
          // Routed without I/O: the kind's `complete` signs their URLs, once per event per gateway.
          attachments: [...(e.data.attachments ?? [])],
        },
      };
    case 'chat.MessageEdited':
      return {
        message: {
          roomId: e.data.roomId,
          seq: e.data.seq,
          body: e.data.body,
          editedAt: at,
        },
      };
    case 'chat.MessageRedacted':
      return {
        message: {
          roomId: e.data.roomId,
          seq: e.data.seq,
          body: null,
          redacted: true,
          redactedAt: at,
          attachments: [],
        },
      };
    default:
      return null;
  }
};

/**
 * Whose words a live item carries: a message's sender, an edit's editor
 * (only the sender edits). A removal carries none: it reaches everyone,
 * so a client that held the text from before a block drops it.
 */
const authorOf = (e: RecordedEvent): string | null => {
  if (!schema.isChatEvent(e)) return null;
  if (e.type === 'chat.MessageSent') return e.data.senderId;
  if (e.type === 'chat.MessageEdited') return e.data.editorId;
  return null;
};

/**
 * A subscriber's blocklist as a filter: hides the items whose author they
 * block. Read from their own stream (`chatblocks-<userId>`, never behind,
 * at most 1,000 users), then kept by the log's changes to it, each counted
 * once by its revision.
 */
const blocklistFilter = async (
  store: Pick<EventStore, 'readStream'>,
  userId: string,
): Promise<SubscriberFilter> => {
  const blocked = new Set<string>();
  let revision = -1;
  const apply = (e: RecordedEvent) => {
    if (!schema.isChatEvent(e) || e.revision <= revision) return;
    if (e.type === 'chat.UserBlocked' && e.data.userId === userId) blocked.add(e.data.blockedUserId);
    else if (e.type === 'chat.UserUnblocked' && e.data.userId === userId)
      blocked.delete(e.data.blockedUserId);
    else return;
    revision = e.revision;
  };
  for (const e of await store.readStream(schema.blocksStreamId(userId))) apply(e);
  return {
    accepts: (item) => item.author === undefined || !blocked.has(item.author),
    observe: apply,
  };
};

/**
 * `room:<roomId>`: a room's messages, edits and removals, for its members,
 * with presence. Its seq is the room's (the revision of its messages
 * stream). History is the messages read model by each message's last
 * change, so a resume gets every message changed since the cursor once, as
 * it is now; what a removal took out is not in it. A resume waits for it
 * to hold the room's newest event (read from the store) before reading.
 * In a group room, a subscriber is not shown what users they block say
 * (live or resumed), as REST history leaves it out; a live message's
 * attachments are signed once per gateway, as history signs them.
 */
export const roomChannel = (
  sql: SqlExecutor,
  store: Pick<EventStore, 'readStream'>,
  blobs: BlobStore,
): RealtimeChannelKind => ({
  kind: 'room',
  contexts: ['chat'],
  presence: true,
  authorize: async (caller, id) => UUID.test(id) && (await isMember(sql, id, caller.userId)),
  revoke: (e) =>
    schema.isChatEvent(e) && e.type === 'chat.MemberLeft'
      ? [{ id: e.data.roomId, userId: e.data.userId }]
      : [],
  route: (e): ChannelDelivery[] => {
    const change = live(e);
    if (!change) return [];
    const author = authorOf(e);
    return [
      {
        id: change.message.roomId,
        item: { seq: e.revision, data: change, ...(author === null ? {} : { author }) },
      },
    ];
  },
  complete: (_id, item) => {
    // Chat routed it: its data is a MessageChange.
    const { message } = item.data as MessageChange;
    if (!message.attachments?.length) return null;
    return withAttachmentUrls(blobs, [{ ...message, attachments: message.attachments }]).then(
      ([signed]): ChannelItem => ({ ...item, data: { message: signed! } satisfies MessageChange }),
    );
  },
  filter: {
    changes: (e) =>
      schema.isChatEvent(e) && (e.type === 'chat.UserBlocked' || e.type === 'chat.UserUnblocked')
        ? [e.data.userId]
        : [],
    // A direct room is shown whole, as its history is; in a group, what users the subscriber blocks say is not.
    of: async (caller, id) =>
      (await roomById(sql, id))?.kind === 'group' ? blocklistFilter(store, caller.userId) : null,
  },
  history: {
    projection: chatMessagesProjection.name,
    streamOf: (id) => schema.messagesStreamId(id),
    head: async (id) =>
      (await store.readStream(schema.messagesStreamId(id), { direction: 'backwards', maxCount: 1 }))[0]
        ?.position ?? null,
    async changesAfter(id, after, limit) {
      const page = await changesAfter(sql, id, after, limit);
      const views = await withAttachmentUrls(blobs, page.items.map(messageView));
      return {
        items: page.items.map((m, i) => ({
          seq: m.updatedSeq,
          data: { message: views[i]! } satisfies MessageChange,
          // As live: a removed message carries nobody's words.
          ...(m.redacted ? {} : { author: m.senderId }),
        })),
        more: page.more,
      };
    },
  },
});

const userChangesOf = (e: RecordedEvent): { userId: string; change: UserChatChange }[] => {
  if (!schema.isChatEvent(e)) return [];
  const at = e.occurredAt;
  switch (e.type) {
    case 'chat.RoomCreated': {
      const { roomId, kind, name, createdBy: by } = e.data;
      return e.data.members.map((userId) => ({
        userId,
        change: { change: 'room_joined', roomId, kind, name, by, at },
      }));
    }
    case 'chat.MemberInvited':
      // Only a group invites; its name is the room's, read with it (`GET /api/chat/rooms/:roomId`).
      return [
        {
          userId: e.data.userId,
          change: { change: 'room_joined', roomId: e.data.roomId, kind: 'group', by: e.data.invitedBy, at },
        },
      ];
    case 'chat.MemberLeft':
      return [{ userId: e.data.userId, change: { change: 'room_left', roomId: e.data.roomId, at } }];
    // The gateway applies an event's filter changes before any of its items: once a client has this
    // item, what its connection is offered after is filtered by the change.
    case 'chat.UserBlocked':
      return [
        {
          userId: e.data.userId,
          change: { change: 'user_blocked', userId: e.data.blockedUserId, at: e.data.blockedAt },
        },
      ];
    case 'chat.UserUnblocked':
      return [
        {
          userId: e.data.userId,
          change: { change: 'user_unblocked', userId: e.data.blockedUserId, at: e.data.unblockedAt },
        },
      ];
    default:
      return [];
  }
};

/**
 * Chat's part of `user:<userId>` (live only, the user's own): a room the
 * user is now in (created with them, or an invitation), and one they left,
 * so every open client of theirs can subscribe to a new room at once, or
 * drop one; a user they blocked or unblocked, so every client of theirs
 * can hide or show that user's words. An item's seq is its event's global
 * position.
 */
export const chatUserChannel = (): RealtimeChannelKind => ({
  kind: 'user',
  contexts: ['chat'],
  authorize: async (caller, id) => caller.userId === id,
  route: (e): ChannelDelivery[] =>
    userChangesOf(e).map(({ userId, change }) => ({ id: userId, item: { seq: e.position, data: change } })),
});
