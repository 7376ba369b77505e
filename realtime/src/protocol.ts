import { anyActionFrame, clientFrames, CLOSE_CODES, frameRef } from '@lectern/schemas/realtime/protocol';
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
export const CLOSE = CLOSE_CODES;

export type Ref = string | number | null;

export type ClientFrame =
  | Readonly<{ type: 'auth'; ref: Ref; token: string }>
  | Readonly<{ type: 'subscribe'; ref: Ref; channel: string; cursor: number | null }>
  | Readonly<{ type: 'unsubscribe'; ref: Ref; channel: string }>
  | Readonly<{ type: 'presence'; ref: Ref; channel: string }>
  | Readonly<{ type: 'ping'; ref: Ref }>
  | Readonly<{ type: 'consistency'; ref: Ref; readModel: string; stream: string; position: number }>
  | Readonly<{ type: 'action'; action: string; ref: Ref; data: unknown }>;

/** A channel's name split: `<kind>:<id>`. */
const CHANNEL = /^([a-z][a-z0-9_]{0,31}):([A-Za-z0-9._:@/-]{1,200})$/;

/** A channel name split into its kind and id, or null when it is not one. */
export const parseChannel = (channel: unknown): { kind: string; id: string } | null => {
  const m = typeof channel === 'string' ? CHANNEL.exec(channel) : null;
  return m ? { kind: m[1]!, id: m[2]! } : null;
};

const TYPES = 'type is auth, subscribe, unsubscribe, presence, consistency, ping or <context>.<action>';

/**
 * A client's frame, checked against the protocol's schemas
 * (`@lectern/schemas/realtime`); a `Problem` with code `bad_frame` and the
 * issues otherwise (answered with an error frame; the connection stays).
 */
export const parseClientFrame = (text: string): ClientFrame => {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Problem('validation', 'bad_frame', 'A frame is one JSON object.');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Problem('validation', 'bad_frame', 'A frame is one JSON object.');
  const type = (v as { type?: unknown }).type;
  const own = typeof type === 'string' && Object.hasOwn(clientFrames, type);
  const checked = (own ? clientFrames[type as keyof typeof clientFrames] : anyActionFrame)(v, '');
  if (!checked.ok)
    throw new Problem('validation', 'bad_frame', own ? 'The frame is not valid.' : TYPES, {
      issues: checked.issues,
    });
  const f = checked.value as Record<string, unknown>;
  const ref = (f.ref ?? null) as Ref;
  switch (type) {
    case 'auth':
      return { type, ref, token: f.token as string };
    case 'subscribe':
      return { type, ref, channel: f.channel as string, cursor: (f.cursor ?? null) as number | null };
    case 'unsubscribe':
    case 'presence':
      return { type, ref, channel: f.channel as string };
    case 'ping':
      return { type, ref };
    case 'consistency':
      return {
        type,
        ref,
        readModel: f.readModel as string,
        stream: f.stream as string,
        position: Number(f.token),
      };
    default:
      return { type: 'action', action: f.type as string, ref, data: f.data ?? null };
  }
};

/** Recovers the ref of a frame that failed to parse, for its error frame. */
export const refOfText = (text: string): Ref => {
  try {
    const r = frameRef((JSON.parse(text) as { ref?: unknown } | null)?.ref);
    return r.ok ? r.value : null;
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
