/**
 * The one cursor of chat: a message's place in its room. History pages,
 * search hits and the socket's resume all speak it. Opaque to clients
 * (base64url of `<roomId>:<seq>`); a cursor of another room, or one this
 * API never made, reads as null.
 */
export type ChatCursor = Readonly<{ roomId: string; seq: number }>;

export const encodeChatCursor = (c: ChatCursor): string =>
  Buffer.from(`${c.roomId}:${c.seq}`).toString('base64url');

const SHAPE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(0|[1-9]\d{0,15})$/;

export const decodeChatCursor = (cursor: string): ChatCursor | null => {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const m = SHAPE.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!m) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { roomId: m[1]!, seq } : null;
};
