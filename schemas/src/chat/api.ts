import {
  commandHeaders,
  commandResponseHeaders,
  queryHeaders,
  queryResponseHeaders,
  type ApiOperation,
} from '../openapi.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  string,
  uuid,
} from '../validation.ts';
import { BLOCKLIST_MAX, roomKinds, SLOW_MODE_MAX_SECONDS } from './events.ts';
import {
  blockParams,
  directRoomRequest,
  editMessage,
  historyQuery,
  inviteRequest,
  newGroupRoom,
  redactQuery,
  searchQuery,
  sendMessage,
  seqParam,
  slowModeRequest,
} from './requests.ts';
import { attachmentView } from './attachments.ts';

/** What a send with `attachments` may be refused for. */
const sendAttachmentErrors = [
  {
    status: 400,
    description:
      'An attachment that is not yours, of another room, or unknown (`unknown_attachment`); one named twice, or ' +
      'an empty body without attachments (`validation_failed`).',
  },
  {
    status: 409,
    description:
      'An attachment not completed (`attachment_not_stored`), carried by another message (`attachment_already_linked`), ' +
      'or not sent within a day of its request (`attachment_expired`, with `attachmentId` and `expiredAt`).',
  },
] as const;

const cursor = describe(string(), {
  description: "This message's cursor: for history from here, or resume.",
});

export const chatRoom = describe(
  object({
    roomId: uuid(),
    kind: oneOf(roomKinds),
    name: nullable(string()),
    ownerId: describe(nullable(uuid()), { description: "A group's owner; `null` for a direct room." }),
    members: arrayOf(uuid()),
    createdAt: isoTime(),
    lastSeq: describe(integer({ min: -1 }), {
      description: 'The seq of its last message event; `-1` before any.',
    }),
    slowModeSeconds: describe(integer({ min: 0, max: SLOW_MODE_MAX_SECONDS }), {
      description:
        'Slow mode: each member other than the owner and admins sends one message per this many seconds; ' +
        '`0` when off.',
    }),
  }),
  { title: 'ChatRoom' },
);

export const chatRoomList = describe(object({ items: arrayOf(chatRoom) }), {
  title: 'ChatRoomList',
  description: "The caller's rooms, most recently active first.",
});

export const chatMessage = describe(
  object({
    roomId: uuid(),
    seq: integer({ min: 0 }),
    messageId: uuid(),
    senderId: uuid(),
    body: describe(nullable(string()), { description: '`null` once the message was removed.' }),
    sentAt: isoTime(),
    editedAt: nullable(isoTime()),
    redacted: boolean(),
    redactedAt: nullable(isoTime()),
    cursor,
    attachments: describe(arrayOf(attachmentView), {
      description:
        'Its files, each with a presigned GET for a few minutes; none once the message was removed.',
    }),
  }),
  { title: 'ChatMessage' },
);

export const chatHistoryPage = describe(
  object({
    items: arrayOf(chatMessage),
    before: describe(nullable(string()), {
      description: 'Send as `before` for the older page; `null` when this page starts the room.',
    }),
    after: describe(nullable(string()), {
      description: 'Send as `after` for the newer page; `null` when this page ends the room (for now).',
    }),
  }),
  { title: 'ChatHistoryPage', description: 'Messages in seq order (oldest first).' },
);

export const chatSearchPage = describe(object({ items: arrayOf(chatMessage) }), {
  title: 'ChatSearchPage',
  description: 'Matches in your rooms, best first; open one with `GET …/messages?after=` its cursor.',
});

export const chatBlockList = describe(
  object({
    items: arrayOf(
      describe(object({ userId: uuid(), blockedAt: isoTime() }), {
        title: 'ChatBlock',
        description: 'A user you block, and since when.',
      }),
    ),
  }),
  {
    title: 'ChatBlockList',
    description: `Everyone you block (at most ${BLOCKLIST_MAX}), most recently blocked first.`,
  },
);

const sent = describe(object({ roomId: uuid(), seq: integer({ min: 0 }), messageId: uuid(), cursor }), {
  title: 'SentMessage',
});
const changed = describe(object({ roomId: uuid(), seq: integer({ min: 0 }) }), { title: 'ChangedMessage' });
const roomRef = describe(object({ roomId: uuid(), revision: integer({ min: -1 }) }), { title: 'RoomRef' });

const roomId = describe(uuid(), { description: "The room's id." });
const roomParams = { roomId } as const;
const messageParams = { roomId, seq: seqParam } as const;
const notMember = {
  status: 403,
  description: 'You are not a member of this room (`not_a_member`), or the room does not allow it.',
} as const;
const noRoom = { status: 404, description: 'No such room (`room_not_found`).' } as const;
const notAllowed = {
  status: 400,
  description:
    'The body is not valid (`validation_failed`, with pointers), or the profanity filter refused the text ' +
    '(`message_not_allowed`, with a pointer to `/body`); nothing was stored.',
} as const;
const blocked = {
  status: 403,
  description: 'The other user has blocked you (`blocked`).',
} as const;

export const chatTags: Readonly<Record<string, string>> = {
  chat: 'Direct and group rooms, their messages, history and search.',
};

/** Every route chat mounts (command-services/chat and query-services/chat). */
export const chatApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/chat/rooms',
    operationId: 'createGroupRoom',
    summary: 'Create a group room',
    description:
      'You own it; the members named join with you. Only members read or write; the owner invites.',
    tags: ['chat'],
    security: 'bearer',
    headers: commandHeaders,
    body: newGroupRoom,
    responses: {
      201: {
        description: 'The room was created.',
        body: roomRef,
        headers: { ...commandResponseHeaders, Location: 'The room.' },
      },
    },
    errors: [412, { status: 403, description: 'A user you named has blocked you (`blocked`).' }],
  },
  {
    method: 'post',
    path: '/api/chat/direct',
    operationId: 'openDirectRoom',
    summary: 'Open your direct room with a user',
    description:
      'There is one direct room per pair of users: its id is derived from the pair, so opening it again answers ' +
      'the same room.',
    tags: ['chat'],
    security: 'bearer',
    headers: commandHeaders,
    body: directRoomRequest,
    responses: {
      200: { description: 'The room (new or existing).', body: roomRef, headers: commandResponseHeaders },
    },
    errors: [412, { status: 400, description: 'Not a user id, or your own (`direct_with_self`).' }, blocked],
  },
  {
    method: 'post',
    path: '/api/chat/rooms/:roomId/members',
    operationId: 'inviteToRoom',
    summary: 'Invite a user to a group room',
    description: 'Only the owner invites. Inviting a member again changes nothing.',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    headers: commandHeaders,
    body: inviteRequest,
    responses: {
      200: { description: 'The user is a member.', body: roomRef, headers: commandResponseHeaders },
    },
    errors: [
      412,
      {
        status: 403,
        description:
          'Only the owner invites (`not_the_owner`); a direct room has two members for good ' +
          '(`direct_room_fixed`); the user has blocked you (`blocked`).',
      },
      noRoom,
    ],
  },
  {
    method: 'delete',
    path: '/api/chat/rooms/:roomId/members/me',
    operationId: 'leaveRoom',
    summary: 'Leave a group room',
    description: 'You stop reading and writing it. The owner cannot leave (`owner_cannot_leave`).',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    headers: commandHeaders,
    responses: { 200: { description: 'You left.', body: roomRef, headers: commandResponseHeaders } },
    errors: [
      412,
      notMember,
      noRoom,
      { status: 409, description: 'The owner cannot leave (`owner_cannot_leave`).' },
    ],
  },
  {
    method: 'put',
    path: '/api/chat/rooms/:roomId/slow-mode',
    operationId: 'setSlowMode',
    summary: "Set a room's slow mode",
    description:
      `While on, each member other than the owner and admins sends one message per \`seconds\` in the room; ` +
      `\`0\` turns it off (at most ${SLOW_MODE_MAX_SECONDS}). The owner of a group sets it; an admin sets it in ` +
      'any room, as an audited event. Setting what is already set changes nothing.',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    headers: commandHeaders,
    body: slowModeRequest,
    responses: {
      200: { description: 'Slow mode is as asked.', body: roomRef, headers: commandResponseHeaders },
    },
    errors: [
      412,
      {
        status: 403,
        description: 'Not a member (`not_a_member`), or not the owner nor an admin (`not_the_owner`).',
      },
      noRoom,
    ],
  },
  {
    method: 'post',
    path: '/api/chat/rooms/:roomId/messages',
    operationId: 'sendMessage',
    summary: 'Send a message',
    description:
      'Answered once the message is durable, with its seq in the room. At most 20 messages per 10 s per user ' +
      '(429 `rate_limited` with `Retry-After`); in a room in slow mode, one per its `slowModeSeconds` for ' +
      'members other than the owner and admins (429 `slow_mode`). The same `clientMessageId` again is the same ' +
      'message, and answered as it was.',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    body: sendMessage,
    responses: {
      201: { description: 'The message is stored.', body: sent, headers: commandResponseHeaders },
    },
    errors: [
      notAllowed,
      notMember,
      { status: 403, description: 'In a direct room, the other member has blocked you (`blocked`).' },
      noRoom,
      { status: 409, description: 'This `clientMessageId` was used for another text (`event_id_conflict`).' },
      {
        status: 429,
        description:
          'Too many messages (`rate_limited`), or the room is in slow mode and your turn has not come ' +
          '(`slow_mode`); wait `Retry-After` seconds.',
      },
      ...sendAttachmentErrors,
    ],
  },
  {
    method: 'patch',
    path: '/api/chat/rooms/:roomId/messages/:seq',
    operationId: 'editMessage',
    summary: 'Edit your message',
    description:
      'Only the sender edits; the edit takes the next seq of the room. A removed message stays removed.',
    tags: ['chat'],
    security: 'bearer',
    params: messageParams,
    body: editMessage,
    responses: {
      200: { description: 'The edit is stored.', body: changed, headers: commandResponseHeaders },
    },
    errors: [
      notAllowed,
      {
        status: 403,
        description:
          'Not a member (`not_a_member`), not your message (`not_the_sender`), or in a direct room the other ' +
          'member has blocked you (`blocked`).',
      },
      { status: 404, description: 'No such room or message (`room_not_found`, `message_not_found`).' },
      { status: 409, description: 'The message was removed (`message_redacted`).' },
    ],
  },
  {
    method: 'delete',
    path: '/api/chat/rooms/:roomId/messages/:seq',
    operationId: 'redactMessage',
    summary: 'Remove a message',
    description:
      "The sender removes their own; an admin removes anyone's, with a `reason`, as an audited event. What it said " +
      'leaves every read model; history keeps its place, empty.',
    tags: ['chat'],
    security: 'bearer',
    params: messageParams,
    query: redactQuery,
    responses: {
      200: { description: 'The message is removed.', body: changed, headers: commandResponseHeaders },
    },
    errors: [
      { status: 403, description: 'Not a member (`not_a_member`), or not your message (`not_the_sender`).' },
      { status: 404, description: 'No such room or message (`room_not_found`, `message_not_found`).' },
    ],
  },
  {
    method: 'get',
    path: '/api/chat/rooms',
    operationId: 'listChatRooms',
    summary: 'List your rooms',
    description: 'The rooms you are a member of, newest first, with their members and last seq.',
    tags: ['chat'],
    security: 'bearer',
    responses: { 200: { description: 'Your rooms.', body: chatRoomList } },
  },
  {
    method: 'get',
    path: '/api/chat/rooms/:roomId',
    operationId: 'getChatRoom',
    summary: 'Read a room',
    description: 'A room you are a member of, with its members and the seq of its last message event.',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    headers: queryHeaders,
    responses: { 200: { description: 'The room.', body: chatRoom, headers: queryResponseHeaders } },
    errors: [notMember, noRoom],
  },
  {
    method: 'get',
    path: '/api/chat/rooms/:roomId/messages',
    operationId: 'listChatMessages',
    summary: "Read a room's history",
    description:
      'The newest page by default; `before` a cursor for older messages, `after` one for newer (keyset pages: ' +
      "none lost, none twice). A search hit's cursor opens the history at that message. In a group room, the " +
      'messages of users you block are left out.',
    tags: ['chat'],
    security: 'bearer',
    params: roomParams,
    query: historyQuery,
    headers: queryHeaders,
    responses: {
      200: { description: 'A page of messages.', body: chatHistoryPage, headers: queryResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          '`invalid_cursor` (also a cursor of another room), `invalid_limit`, or both `before` and `after`.',
      },
      notMember,
      noRoom,
    ],
  },
  {
    method: 'get',
    path: '/api/chat/search',
    operationId: 'searchChat',
    summary: 'Search your rooms',
    description:
      'Full-text search over the messages of the rooms you are a member of. Removed text is never found, nor ' +
      'what users you block said in group rooms.',
    tags: ['chat'],
    security: 'bearer',
    query: searchQuery,
    responses: { 200: { description: 'Matches.', body: chatSearchPage } },
    errors: [{ status: 400, description: '`q` is missing or blank, or `invalid_limit`.' }],
  },
  {
    method: 'put',
    path: '/api/chat/blocks/:userId',
    operationId: 'blockChatUser',
    summary: 'Block a user',
    description:
      'They can no longer open a direct room with you, write in yours, or invite you to a group; in group rooms ' +
      'you no longer see what they say (history and search; the live socket feed is not filtered yet). Blocking ' +
      'again changes nothing. Any user id is accepted: chat does not say whether it is an account.',
    tags: ['chat'],
    security: 'bearer',
    params: blockParams,
    responses: { 204: { description: 'You block them.', headers: commandResponseHeaders } },
    errors: [
      { status: 400, description: 'Not a user id, or your own (`block_self`).' },
      { status: 409, description: `You block ${BLOCKLIST_MAX} users already (\`blocklist_full\`).` },
    ],
  },
  {
    method: 'delete',
    path: '/api/chat/blocks/:userId',
    operationId: 'unblockChatUser',
    summary: 'Unblock a user',
    description: 'Undoes a block; unblocking someone you do not block changes nothing.',
    tags: ['chat'],
    security: 'bearer',
    params: blockParams,
    responses: { 204: { description: 'You no longer block them.', headers: commandResponseHeaders } },
  },
  {
    method: 'get',
    path: '/api/chat/blocks',
    operationId: 'listChatBlocks',
    summary: 'List whom you block',
    description: 'Everyone you block, most recently blocked first: the whole list, in one answer.',
    tags: ['chat'],
    security: 'bearer',
    headers: queryHeaders,
    responses: {
      200: { description: 'Your blocklist.', body: chatBlockList, headers: queryResponseHeaders },
    },
  },
];
