import { actionFrame, itemFrame, replyFrame } from '../realtime/protocol.ts';
import {
  boolean,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  partialObject,
  string,
  uuid,
} from '../validation.ts';
import { MESSAGE_MAX_CHARS } from './events.ts';

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
  object({ roomId: uuid(), clientMessageId: uuid(), body: string({ min: 1, max: MESSAGE_MAX_CHARS }) }),
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
