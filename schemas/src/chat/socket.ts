import { actionFrame, itemFrame, replyFrame } from '../realtime/protocol.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  partialObject,
  string,
  uuid,
} from '../validation.ts';
import { MESSAGE_MAX_CHARS, roomKinds, type RoomKind } from './events.ts';
import { attachmentIds, attachmentView } from './attachments.ts';

/**
 * Chat on the socket (`/ws`): the `room:<roomId>` channel and the
 * `chat.send` action, as the AsyncAPI document shows them.
 */

/** A change to one message: the fields present replace what the client holds for `message.seq`. */
export const messageChange = describe(
  object({
    message: describe(
      partialObject({
        roomId: uuid(),
        seq: integer({ min: 0 }),
        messageId: uuid(),
        senderId: uuid(),
        body: nullable(string()),
        sentAt: isoTime(),
        editedAt: nullable(isoTime()),
        redacted: boolean(),
        redactedAt: nullable(isoTime()),
        cursor: string(),
        attachments: arrayOf(attachmentView),
      }),
      {
        description:
          'From history, the whole message as it is now (as `ChatMessage`); live, what the change says: ' +
          'a send the whole message, an edit `body` and `editedAt`, a removal `body: null`, `redacted`, ' +
          '`redactedAt`. `roomId` and `seq` are always there.',
      },
    ),
  }),
  { title: 'ChatMessageChange' },
);

export const roomItemFrame = describe(
  itemFrame(/^room:[0-9a-f-]{36}$/, messageChange, 'A message sent, edited or removed in a room you are in.'),
  { title: 'RoomItemFrame' },
);

/** `chat.send`'s data: the room, and what `POST …/messages` takes. */
export const sendOnSocket = describe(
  object(
    {
      roomId: uuid(),
      clientMessageId: uuid(),
      body: string({ max: MESSAGE_MAX_CHARS }),
      attachments: attachmentIds,
    },
    { optional: ['attachments'] },
  ),
  { title: 'ChatSendData' },
);

export const chatSendFrame = describe(
  actionFrame(
    'chat.send',
    sendOnSocket,
    'Send a message, refused as over REST: `blocked`, `message_not_allowed`; `rate_limited` beyond 20 per 10 s and `slow_mode`, both with `retryAfter`.',
  ),
  { title: 'ChatSendFrame' },
);

export const chatSentReplyFrame = describe(
  replyFrame(
    object({
      roomId: uuid(),
      seq: integer({ min: 0 }),
      messageId: uuid(),
      cursor: string(),
      consistencyToken: describe(string({ pattern: /^\d+$/ }), {
        description: 'As `X-Consistency-Token` over REST: send it with a query to read this message back.',
      }),
    }),
    'The message is stored: its seq and cursor.',
  ),
  { title: 'ChatSentReplyFrame' },
);

/** A room the user joined or left, on their own channel (`user:<userId>`). */
export type UserRoomChange =
  | Readonly<{
      change: 'room_joined';
      roomId: string;
      kind: RoomKind;
      /** A group's name, null for a direct room; absent for an invitation (read the room). */
      name?: string | null;
      /** Who created the room or invited the user. */
      by: string;
      at: string;
    }>
  | Readonly<{ change: 'room_left'; roomId: string; at: string }>;

/**
 * A change to whom the user blocks, made on any of their clients: a
 * group room's live feed to them hides (or shows again) what `userId` says
 * from this item on.
 */
export type UserBlockChange = Readonly<{
  change: 'user_blocked' | 'user_unblocked';
  userId: string;
  at: string;
}>;

/** What chat puts on `user:<userId>`. */
export type UserChatChange = UserRoomChange | UserBlockChange;

export const userRoomChange = describe(
  object(
    {
      change: describe(oneOf(['room_joined', 'room_left', 'user_blocked', 'user_unblocked'] as const), {
        description:
          '`room_joined`: a room was created with you in it, or you were invited (subscribe to ' +
          '`room:<roomId>`); `room_left`: you left it (on another device, say); `user_blocked`, ' +
          '`user_unblocked`: you blocked or unblocked `userId` (on any device): from this item on, ' +
          'the group rooms you follow on this connection hide, or show again, what they say.',
      }),
      roomId: uuid(),
      kind: oneOf(roomKinds),
      name: nullable(string()),
      by: describe(string({ min: 1, max: 128 }), { description: 'Who created the room or invited you.' }),
      userId: describe(uuid(), { description: 'Whom you blocked or unblocked.' }),
      at: isoTime(),
    },
    { optional: ['roomId', 'kind', 'name', 'by', 'userId'] },
  ),
  { title: 'ChatUserChange' },
);

export const chatUserItemFrame = describe(
  itemFrame(
    /^user:[A-Za-z0-9._:@-]{1,128}$/,
    userRoomChange,
    'A room you joined or left, a user you blocked or unblocked (chat).',
  ),
  { title: 'ChatUserItemFrame' },
);
