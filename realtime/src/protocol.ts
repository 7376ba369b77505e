import { Problem } from '@lectern/infra/runtime/errors';

/**
 * The WebSocket protocol of `/ws` (docs/contexts/chat.md shows a session;
 * the AsyncAPI document describes every frame). Frames are JSON text, one
 * object each, with a `type`; a client's request may carry a `ref` (a
 * string of up to 64 characters, or an integer) that its answer repeats.
 *
 * Client → server:
 * - `auth {token}`: first, within the handshake bound; again later to
 *   carry a fresh token (same user) before the first one expires.
 * - `subscribe {channel, cursor?}`: `cursor` is the last seq the client has;
 *   the gateway sends everything after it, then live items.
 * - `unsubscribe {channel}`, `presence {channel}` (who is there), `ping`.
 * - `<context>.<verb> {data}`: an action a context offers (`chat.send`).
 *
 * Server → client: `welcome`, `subscribed`, `unsubscribed`, `item {channel,
 * seq, data}`, `presence {channel, change}`, `reply {data}`, `pong`, and
 * `error {code, detail, retryAfter?, channel?}` with a stable code.
 */

/** Close codes (4000–4999 are the application's): the client acts on the code, the reason repeats it. */
export const CLOSE = {
  /** The server is stopping: reconnect (to another process) with your cursors. */
  goingAway: { code: 1001, reason: 'going_away' },
  /** The token was missing, invalid or of no use: get one, then reconnect. */
  unauthenticated: { code: 4001, reason: 'unauthenticated' },
  /** The token expired during the connection: refresh it, reconnect with your cursors. */
  tokenExpired: { code: 4002, reason: 'token_expired' },
  /** No `auth` frame in time. */
  authTimeout: { code: 4003, reason: 'auth_timeout' },
  /** The client read too slowly and its send buffer filled: reconnect with your cursors. */
  slowConsumer: { code: 4008, reason: 'slow_consumer' },
  /** Frames kept coming far past the limit after `rate_limited` errors. */
  flood: { code: 4029, reason: 'rate_limited' },
  /** This user has the most connections allowed open already. */
  tooManyConnections: { code: 4030, reason: 'too_many_connections' },
  /** No answer to the server's pings: the connection is gone. */
  heartbeatTimeout: { code: 4031, reason: 'heartbeat_timeout' },
} as const;

export type Ref = string | number | null;

export type ClientFrame =
  | Readonly<{ type: 'auth'; ref: Ref; token: string }>
  | Readonly<{ type: 'subscribe'; ref: Ref; channel: string; cursor: number | null }>
  | Readonly<{ type: 'unsubscribe'; ref: Ref; channel: string }>
  | Readonly<{ type: 'presence'; ref: Ref; channel: string }>
  | Readonly<{ type: 'ping'; ref: Ref }>
  | Readonly<{ type: 'action'; action: string; ref: Ref; data: unknown }>;

/** A channel's name: `<kind>:<id>`. */
const CHANNEL = /^([a-z][a-z0-9_]{0,31}):([A-Za-z0-9._:@/-]{1,200})$/;
const ACTION = /^[a-z][a-z0-9_]{0,31}\.[a-z][A-Za-z0-9_]{0,63}$/;
const MAX_TOKEN_CHARS = 8192;

const bad = (detail: string) => new Problem('validation', 'bad_frame', detail);

/** A channel name split into its kind and id, or null when it is not one. */
export const parseChannel = (channel: unknown): { kind: string; id: string } | null => {
  const m = typeof channel === 'string' ? CHANNEL.exec(channel) : null;
  return m ? { kind: m[1]!, id: m[2]! } : null;
};

const refOf = (v: unknown): Ref => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' && v.length <= 64) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw bad('ref must be a string of at most 64 characters or an integer');
};

const channelOf = (v: unknown): string => {
  if (!parseChannel(v)) throw bad('channel must be <kind>:<id>, as in room:<uuid>');
  return v as string;
};

/**
 * A client's frame, checked; a `Problem` with code `bad_frame` otherwise
 * (answered with an error frame; the connection stays open). The ref is
 * recovered where it can be, so the error names the request it answers.
 */
export const parseClientFrame = (text: string): ClientFrame => {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('a frame is one JSON object');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('a frame is one JSON object');
  const f = v as Record<string, unknown>;
  const ref = refOf(f.ref);
  switch (f.type) {
    case 'auth':
      if (typeof f.token !== 'string' || f.token.length === 0 || f.token.length > MAX_TOKEN_CHARS)
        throw bad('auth carries the access token as token');
      return { type: 'auth', ref, token: f.token };
    case 'subscribe': {
      const cursor = f.cursor ?? null;
      if (cursor !== null && (typeof cursor !== 'number' || !Number.isSafeInteger(cursor) || cursor < 0))
        throw bad('cursor is the last seq received: an integer, 0 or more');
      return { type: 'subscribe', ref, channel: channelOf(f.channel), cursor };
    }
    case 'unsubscribe':
    case 'presence':
      return { type: f.type, ref, channel: channelOf(f.channel) };
    case 'ping':
      return { type: 'ping', ref };
    default:
      if (typeof f.type === 'string' && ACTION.test(f.type))
        return { type: 'action', action: f.type, ref, data: f.data ?? null };
      throw bad('type is auth, subscribe, unsubscribe, presence, ping or <context>.<action>');
  }
};

/** Recovers the ref of a frame that failed to parse, for its error frame. */
export const refOfText = (text: string): Ref => {
  try {
    return refOf((JSON.parse(text) as { ref?: unknown })?.ref);
  } catch {
    return null;
  }
};

/** An error frame for a Problem; anything else is `internal`, its details kept in the log. */
export const errorFrame = (error: unknown, ref: Ref, extra: Record<string, unknown> = {}) =>
  error instanceof Problem
    ? {
        type: 'error',
        ref,
        code: error.code,
        detail: error.message,
        ...(error.retryAfterSeconds === undefined ? {} : { retryAfter: error.retryAfterSeconds }),
        ...(error.issues ? { issues: error.issues } : {}),
        ...extra,
      }
    : {
        type: 'error',
        ref,
        code: 'internal',
        detail: 'The server failed; the details are in its log.',
        ...extra,
      };
