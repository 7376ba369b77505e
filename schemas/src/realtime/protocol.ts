import {
  arrayOf,
  boolean,
  describe,
  integer,
  isoTime,
  json,
  nullable,
  object,
  oneOf,
  string,
  uuid,
  withSchema,
  type Validator,
} from '../validation.ts';

/**
 * The frames of the WebSocket protocol at `/ws` (realtime/ serves it), as
 * validators: the gateway checks every client frame with these, and the
 * AsyncAPI document describes both directions from them. A frame is one
 * JSON object with a `type`; a request may carry a `ref` that its answer
 * repeats. What a context adds (its channel kinds' items, its actions) is
 * declared by the context (see asyncapi.ts).
 */

/** A client's name for a request, repeated in its answer: up to 64 characters, or an integer. */
export const frameRef: Validator<string | number | null> = withSchema(
  (input, path = '') =>
    input === undefined || input === null
      ? { ok: true, value: null }
      : (typeof input === 'string' && [...input].length <= 64) ||
          (typeof input === 'number' && Number.isSafeInteger(input))
        ? { ok: true, value: input }
        : {
            ok: false,
            issues: [{ path, message: 'must be a string of at most 64 characters or an integer' }],
          },
  {
    type: ['string', 'integer', 'null'],
    maxLength: 64,
    description: 'Your name for this request; its answer (reply, error) repeats it.',
    examples: [7],
  },
);

/** `<kind>:<id>`: `room:<uuid>`. */
export const CHANNEL_PATTERN = /^[a-z][a-z0-9_]{0,31}:[A-Za-z0-9._:@/-]{1,200}$/;
export const channelName = describe(string({ min: 3, max: 233, pattern: CHANNEL_PATTERN, trim: false }), {
  description: 'A channel: `<kind>:<id>`, as `room:<roomId>`.',
  example: 'room:3f1c9a2e-5b7d-4e8f-9a01-2c3d4e5f6a7b',
});

/** `<context>.<action>`: `chat.send`. */
export const ACTION_PATTERN = /^[a-z][a-z0-9_]{0,31}\.[a-z][A-Za-z0-9_]{0,63}$/;

const typed = <const T extends string>(type: T, description: string) =>
  describe(oneOf([type] as const), { description });

/** The largest token a frame may carry. */
export const MAX_TOKEN_CHARS = 8192;

// --- client → server --------------------------------------------------------

export const authFrame = describe(
  object(
    {
      type: typed('auth', 'First, within 10 s; again later with a fresh token of the same user.'),
      ref: frameRef,
      token: describe(string({ min: 1, max: MAX_TOKEN_CHARS, trim: false }), {
        description: 'An access token (as for `Authorization: Bearer`). Never put it in the URL.',
      }),
    },
    { optional: ['ref'] },
  ),
  { title: 'AuthFrame' },
);

export const subscribeFrame = describe(
  object(
    {
      type: typed('subscribe', 'Receive a channel: what came after `cursor` from history, then live.'),
      ref: frameRef,
      channel: channelName,
      cursor: describe(nullable(integer({ min: -1 })), {
        description:
          'The last seq you received on this channel: every item after it comes, once each, in order. ' +
          '-1 for everything; absent or null for new items only.',
        example: 41,
      }),
    },
    { optional: ['ref', 'cursor'] },
  ),
  { title: 'SubscribeFrame' },
);

export const unsubscribeFrame = describe(
  object(
    { type: typed('unsubscribe', 'Stop receiving a channel.'), ref: frameRef, channel: channelName },
    { optional: ['ref'] },
  ),
  { title: 'UnsubscribeFrame' },
);

export const presenceRequestFrame = describe(
  object(
    {
      type: typed('presence', 'Who is in a channel with presence you subscribe to (answered `reply`).'),
      ref: frameRef,
      channel: channelName,
    },
    { optional: ['ref'] },
  ),
  { title: 'PresenceRequestFrame' },
);

export const consistencyFrame = describe(
  object(
    {
      type: typed(
        'consistency',
        'Tell me when a read model has applied my write (read-your-writes, pushed): answered `reply` ' +
          '`{caughtUp}` once it has, or `caughtUp: false` after a few seconds.',
      ),
      ref: frameRef,
      readModel: describe(string({ min: 1, max: 63, pattern: /^[a-z][a-z0-9_]*$/, trim: false }), {
        description: 'The read model, as `X-Consistency` names it (`chat_messages`, `profiles`…).',
        example: 'chat_messages',
      }),
      stream: describe(string({ min: 1, max: 200, pattern: /^[a-z]+-[A-Za-z0-9-]+$/, trim: false }), {
        description: 'The stream the write went to (`chatmessages-<roomId>`).',
      }),
      token: describe(string({ min: 1, max: 16, pattern: /^\d+$/, trim: false }), {
        description:
          'The consistency token the command answered (`X-Consistency-Token`, `consistencyToken`).',
        example: '1234',
      }),
    },
    { optional: ['ref'] },
  ),
  { title: 'ConsistencyFrame' },
);

export const consistencyReply = describe(object({ readModel: string({ min: 1 }), caughtUp: boolean() }), {
  title: 'ConsistencyReply',
});

export const pingFrame = describe(
  object({ type: typed('ping', 'Answered `pong`.'), ref: frameRef }, { optional: ['ref'] }),
  { title: 'PingFrame' },
);

/** An action's frame, `{type: '<context>.<action>', ref, data}`, for an action whose data `data` checks. */
export const actionFrame = (type: string, data: Validator<unknown>, description: string) =>
  object({ type: typed(type, description), ref: frameRef, data }, { optional: ['ref'] });

/** Any action's frame, before its data is checked by the action. */
export const anyActionFrame = object(
  {
    type: string({ min: 3, max: 97, pattern: ACTION_PATTERN, trim: false }),
    ref: frameRef,
    data: json(),
  },
  { optional: ['ref', 'data'] },
);

/** The protocol's own client frames by type (an action is any other `<context>.<action>`). */
export const clientFrames = {
  auth: authFrame,
  subscribe: subscribeFrame,
  unsubscribe: unsubscribeFrame,
  presence: presenceRequestFrame,
  consistency: consistencyFrame,
  ping: pingFrame,
} as const;

// --- server → client --------------------------------------------------------

export const welcomeFrame = describe(
  object({
    type: typed('welcome', 'The token was accepted.'),
    ref: frameRef,
    connectionId: uuid(),
    userId: string({ min: 1, max: 128 }),
    heartbeatMs: describe(integer({ min: 1 }), {
      description: 'The server pings this often; a client that answers none of two is disconnected.',
    }),
    expiresAt: describe(nullable(isoTime()), {
      description:
        'When the token expires: send `auth` with a fresh one before, or the connection closes 4002.',
    }),
  }),
  { title: 'WelcomeFrame' },
);

export const subscribedFrame = describe(
  object({
    type: typed('subscribed', 'The subscription holds; items follow.'),
    ref: frameRef,
    channel: channelName,
    cursor: nullable(integer({ min: -1 })),
  }),
  { title: 'SubscribedFrame' },
);

export const unsubscribedFrame = describe(
  object(
    {
      type: typed('unsubscribed', 'No more items of the channel.'),
      ref: frameRef,
      channel: channelName,
      reason: describe(oneOf(['revoked'] as const), {
        description:
          'Absent when you asked; `revoked` when you lost the right to read it (you left the room).',
      }),
    },
    { optional: ['reason'] },
  ),
  { title: 'UnsubscribedFrame' },
);

/** An item of a channel kind whose `data` the kind's `item` validator describes. */
export const itemFrame = (kindPattern: RegExp, data: Validator<unknown>, description: string) =>
  object({
    type: typed('item', description),
    channel: string({ min: 3, max: 233, pattern: kindPattern, trim: false }),
    seq: describe(integer({ min: -1 }), {
      description:
        'A room: strictly increasing and contiguous; keep the last one, it is your cursor on reconnecting. ' +
        "A live-only channel (`user`, `course`): the event's place in the log, unique per channel, not " +
        'contiguous, and there is no resume: read over REST, then subscribe.',
    }),
    data,
  });

export const presenceChangeFrame = describe(
  object({
    type: typed('presence', 'Someone joined or left a channel with presence.'),
    channel: channelName,
    change: object(
      {
        type: oneOf(['join', 'leave'] as const),
        userId: string({ min: 1, max: 128 }),
        online: describe(boolean(), {
          description:
            'Whether the user is still in the channel (on another connection, say) after this change.',
        }),
        reason: describe(oneOf(['untracked', 'expired'] as const), {
          description: 'A leave: closed (`untracked`), or gone silent for 4 s (`expired`: a crash).',
        }),
      },
      { optional: ['reason'] },
    ),
  }),
  { title: 'PresenceChangeFrame' },
);

export const presenceListReply = describe(
  object({
    channel: channelName,
    members: arrayOf(object({ userId: string({ min: 1, max: 128 }), connections: integer({ min: 1 }) })),
  }),
  { title: 'PresenceList' },
);

/** A reply whose data `data` describes. */
export const replyFrame = (data: Validator<unknown>, description: string) =>
  object({ type: typed('reply', description), ref: frameRef, data });

export const pongFrame = describe(object({ type: typed('pong', 'The answer to `ping`.'), ref: frameRef }), {
  title: 'PongFrame',
});

export const errorFrame = describe(
  object(
    {
      type: typed('error', 'A request was refused or failed; the connection stays open.'),
      ref: frameRef,
      code: describe(string({ min: 1, max: 64 }), {
        description:
          'Stable: `bad_frame`, `unknown_channel`, `unknown_action`, `forbidden`, `not_subscribed`, ' +
          '`too_many_subscriptions`, `rate_limited`, `resume_failed`, `internal`, and the codes of the REST API.',
        example: 'rate_limited',
      }),
      detail: string({ min: 1, max: 2000 }),
      retryAfter: describe(integer({ min: 0 }), { description: 'With `rate_limited`: seconds to wait.' }),
      channel: channelName,
      issues: arrayOf(object({ path: string({ trim: false }), message: string() })),
    },
    { optional: ['retryAfter', 'channel', 'issues'] },
  ),
  { title: 'ErrorFrame' },
);

/**
 * Close codes (4000–4999 are the application's): the code says what to do,
 * the reason repeats it as a word.
 */
export const CLOSE_CODES = {
  goingAway: {
    code: 1001,
    reason: 'going_away',
    meaning: 'The server is stopping: reconnect (to another process) with your cursors.',
  },
  unauthenticated: {
    code: 4001,
    reason: 'unauthenticated',
    meaning: 'The token was missing, invalid, or of another user: get one, then reconnect.',
  },
  tokenExpired: {
    code: 4002,
    reason: 'token_expired',
    meaning: 'The token expired: refresh it, reconnect with your cursors.',
  },
  authTimeout: { code: 4003, reason: 'auth_timeout', meaning: 'No `auth` frame within 10 s.' },
  slowConsumer: {
    code: 4008,
    reason: 'slow_consumer',
    meaning: 'You read too slowly and your send buffer filled: reconnect with your cursors.',
  },
  flood: {
    code: 4029,
    reason: 'rate_limited',
    meaning: 'Frames kept coming far past the limit after `rate_limited` errors.',
  },
  tooManyConnections: {
    code: 4030,
    reason: 'too_many_connections',
    meaning: 'This user has the most connections allowed open already.',
  },
  heartbeatTimeout: {
    code: 4031,
    reason: 'heartbeat_timeout',
    meaning: 'No answer to two pings: the connection was taken for dead.',
  },
} as const;
