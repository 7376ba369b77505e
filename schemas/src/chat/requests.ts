import { requiredParam } from '../openapi.ts';
import { arrayOf, describe, integer, integerString, object, string, uuid } from '../validation.ts';
import { MESSAGE_MAX_CHARS, ROOM_NAME_MAX_CHARS, SLOW_MODE_MAX_SECONDS } from './events.ts';
import { attachmentIds } from './attachments.ts';

/** The most members a group may be created with at once (invite the rest). */
export const GROUP_INITIAL_MAX = 100;

const userId = describe(uuid(), {
  description: 'A user id.',
  example: '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a',
});
const messageBody = describe(string({ min: 1, max: MESSAGE_MAX_CHARS }), {
  description: `The text, at most ${MESSAGE_MAX_CHARS} characters.`,
  example: 'Has anyone finished the second exercise?',
});

/** `POST /api/chat/rooms`: a group room, owned by the caller. */
export const newGroupRoom = describe(
  object(
    {
      name: describe(string({ min: 1, max: ROOM_NAME_MAX_CHARS }), { example: 'Study group' }),
      members: describe(arrayOf(userId, { max: GROUP_INITIAL_MAX }), {
        description: `Who else is in it from the start (at most ${GROUP_INITIAL_MAX}); the owner is always a member.`,
      }),
    },
    { optional: ['members'] },
  ),
  { title: 'NewGroupRoom', example: { name: 'Study group' } },
);

/** `POST /api/chat/direct`: the one direct room of the caller and another user. */
export const directRoomRequest = describe(object({ userId }), {
  title: 'DirectRoomRequest',
  example: { userId: '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a' },
});

/** `POST /api/chat/rooms/:roomId/members`. */
// No whole-body examples on a room's routes: a body means something only in a room that exists.
export const inviteRequest = describe(object({ userId }), { title: 'InviteRequest' });

/** `POST /api/chat/rooms/:roomId/messages`. */
export const sendMessage = describe(
  object(
    {
      clientMessageId: describe(uuid(), {
        description:
          'Your id for this message: sending again with the same id (after a lost answer) is the same message, ' +
          'never a second one.',
        example: '0b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10',
      }),
      body: describe(string({ max: MESSAGE_MAX_CHARS }), {
        description: `The text, at most ${MESSAGE_MAX_CHARS} characters; empty only with attachments.`,
        example: 'Has anyone finished the second exercise?',
      }),
      attachments: attachmentIds,
    },
    { optional: ['attachments'] },
  ),
  { title: 'SendMessage' },
);

/** `PATCH /api/chat/rooms/:roomId/messages/:seq`. */
export const editMessage = describe(object({ body: messageBody }), { title: 'EditMessage' });

/** Query of `DELETE /api/chat/rooms/:roomId/messages/:seq`: why (admins removing another's message should say). */
export const redactQuery = {
  reason: describe(string({ min: 1, max: 500 }), {
    description: 'Why it was removed; kept in the audit event.',
  }),
} as const;

/** `PUT /api/chat/rooms/:roomId/slow-mode`. */
export const slowModeRequest = describe(
  object({
    seconds: describe(integer({ min: 0, max: SLOW_MODE_MAX_SECONDS }), {
      description: `One message per this many seconds per member (0 turns slow mode off; at most ${SLOW_MODE_MAX_SECONDS}).`,
      example: 30,
    }),
  }),
  { title: 'SlowModeRequest' },
);

/** Path of `PUT` and `DELETE /api/chat/blocks/:userId`. */
export const blockParams = {
  userId: describe(uuid(), { description: 'The user you block or unblock.' }),
} as const;

/** A message's place in its room. */
export const seqParam = describe(integerString({ min: 0, max: 2 ** 53 - 1 }), {
  description: "The message's seq in its room, as sending it answered.",
  example: 0,
});

/** Page size of history and search when the query names none. */
export const CHAT_LIMIT_DEFAULT = 50;

const cursor = describe(string({ min: 1, max: 200, trim: false }), {
  description: 'A cursor this API returned (history, search hit); opaque (400 `invalid_cursor` otherwise).',
});
const limit = describe(integerString({ min: 1, max: 200 }), {
  description: 'How many per page (400 `invalid_limit` outside 1–200).',
  default: CHAT_LIMIT_DEFAULT,
});

/** Query of `GET /api/chat/rooms/:roomId/messages`: the newest page, or the page before or after a cursor. */
export const historyQuery = { before: cursor, after: cursor, limit } as const;

/** Query of `GET /api/chat/search`. */
export const searchQuery = {
  q: requiredParam(
    describe(string({ min: 1, max: 200 }), {
      description: 'Words to find (web search syntax: `"a phrase"`, `-word`, `or`).',
      example: 'exercise',
    }),
  ),
  limit,
} as const;
