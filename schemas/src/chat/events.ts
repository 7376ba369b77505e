import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  arrayOf,
  boolean,
  integer,
  isoTime as isoTimeOf,
  nullable,
  object,
  oneOf,
  string,
  uuid as uuidOf,
  type Validator,
} from '../validation.ts';
import {
  MAX_ATTACHMENTS_PER_MESSAGE,
  attachmentEvents,
  attachmentRef,
  type AttachmentRef,
  type AttachmentStreamEvent,
} from './attachments.ts';

/**
 * Chat keeps two kinds of stream per room:
 *
 * - `chatroom-<roomId>`: the room aggregate (created, members invited and
 *   leaving, slow mode). Small: every message decision reads it whole.
 * - `chatmessages-<roomId>`: the room's messages, edits and redactions,
 *   appended with no expected revision after the room was consulted, never
 *   read whole. Its revision is the room's `seq`: a message, an edit and a
 *   redaction each take the next one, so a room's seqs are contiguous.
 *
 * - `chatblocks-<userId>`: whom one user blocks. Small (at most
 *   `BLOCKLIST_MAX` blocked at once); read whole by every decision it
 *   refuses (a direct message, an invitation), so a block holds the moment
 *   it is stored, not when a read model catches up.
 *
 * A message event carries no time of its own (the envelope's `occurredAt`
 * is when it was sent) and no seq (the store assigns the revision), so a
 * retried send is the same content and the store deduplicates it.
 */

export const roomKinds = ['direct', 'group'] as const;
export type RoomKind = (typeof roomKinds)[number];

/** The longest message, in code points. */
export const MESSAGE_MAX_CHARS = 4000;
/** The longest room name, in code points. */
export const ROOM_NAME_MAX_CHARS = 100;
/** The longest slow mode: one message per hour. */
export const SLOW_MODE_MAX_SECONDS = 3600;
/** The most users one user blocks at once: the blocklist stream stays small enough to read whole. */
export const BLOCKLIST_MAX = 1000;

export type RoomCreated = Readonly<{
  roomId: string;
  kind: RoomKind;
  /** A group's name; null for a direct room. */
  name: string | null;
  /** Who created it: a group's owner; for a direct room, the member who opened it. */
  createdBy: string;
  /** Every first member, the creator included. */
  members: readonly string[];
  createdAt: string;
}>;

export type MemberInvited = Readonly<{
  roomId: string;
  userId: string;
  invitedBy: string;
  invitedAt: string;
}>;
export type MemberLeft = Readonly<{ roomId: string; userId: string; leftAt: string }>;

/**
 * Slow mode: while `seconds` > 0, each member other than the owner and
 * admins sends at most one message per `seconds` in the room; 0 turns it off.
 */
export type SlowModeSet = Readonly<{
  roomId: string;
  seconds: number;
  setBy: string;
  /** True when an admin (not the room's owner) set it. */
  byAdmin: boolean;
  setAt: string;
}>;

/** `userId` blocks `blockedUserId`: no direct messages and no invitations from them, their group messages hidden. */
export type UserBlocked = Readonly<{ userId: string; blockedUserId: string; blockedAt: string }>;
export type UserUnblocked = Readonly<{ userId: string; blockedUserId: string; unblockedAt: string }>;

export type MessageSent = Readonly<{
  roomId: string;
  /** The client's id for the message (unique per sender and room): a retried send is the same event. */
  messageId: string;
  senderId: string;
  /** Empty only when the message carries attachments (v2). */
  body: string;
  /** Files linked to the message for good (v2; absent in v1 and when none). */
  attachments?: readonly AttachmentRef[];
}>;

export type MessageEdited = Readonly<{
  roomId: string;
  /** The seq of the message changed. */
  seq: number;
  editorId: string;
  body: string;
}>;

/**
 * What a message said is removed from every read model; the event keeps
 * who removed it and why (an admin's removal is an audited act), never the
 * text.
 */
export type MessageRedacted = Readonly<{
  roomId: string;
  seq: number;
  actorId: string;
  /** True when an admin removed someone else's message. */
  byAdmin: boolean;
  reason: string | null;
}>;

export type RoomStreamEvent =
  | DomainEvent<'chat.RoomCreated', RoomCreated>
  | DomainEvent<'chat.MemberInvited', MemberInvited>
  | DomainEvent<'chat.MemberLeft', MemberLeft>
  | DomainEvent<'chat.SlowModeSet', SlowModeSet>;

export type BlocklistStreamEvent =
  DomainEvent<'chat.UserBlocked', UserBlocked> | DomainEvent<'chat.UserUnblocked', UserUnblocked>;

export type MessageStreamEvent =
  | DomainEvent<'chat.MessageSent', MessageSent>
  | DomainEvent<'chat.MessageEdited', MessageEdited>
  | DomainEvent<'chat.MessageRedacted', MessageRedacted>;

export type ChatDomainEvent =
  RoomStreamEvent | MessageStreamEvent | BlocklistStreamEvent | AttachmentStreamEvent;
export type ChatEvent = RecordedEventOf<ChatDomainEvent>;

const uuid = uuidOf();
const isoTime = isoTimeOf();
const body = string({ min: 1, max: MESSAGE_MAX_CHARS, trim: false });
const seq = integer({ min: 0 });

export const chatEvents: CatalogueOf<ChatDomainEvent> = {
  'chat.RoomCreated': [
    {
      version: 1,
      validate: object({
        roomId: uuid,
        kind: oneOf(roomKinds),
        name: nullable(string({ min: 1, max: ROOM_NAME_MAX_CHARS })),
        createdBy: uuid,
        members: arrayOf(uuid, { max: 1000 }),
        createdAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'chat.MemberInvited': [
    {
      version: 1,
      validate: object({
        roomId: uuid,
        userId: uuid,
        invitedBy: uuid,
        invitedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'chat.MemberLeft': [
    { version: 1, validate: object({ roomId: uuid, userId: uuid, leftAt: isoTime }) as Validator<unknown> },
  ],
  'chat.SlowModeSet': [
    {
      version: 1,
      validate: object({
        roomId: uuid,
        seconds: integer({ min: 0, max: SLOW_MODE_MAX_SECONDS }),
        setBy: uuid,
        byAdmin: boolean(),
        setAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'chat.UserBlocked': [
    {
      version: 1,
      validate: object({ userId: uuid, blockedUserId: uuid, blockedAt: isoTime }) as Validator<unknown>,
    },
  ],
  'chat.UserUnblocked': [
    {
      version: 1,
      validate: object({ userId: uuid, blockedUserId: uuid, unblockedAt: isoTime }) as Validator<unknown>,
    },
  ],
  'chat.MessageSent': [
    {
      version: 1,
      validate: object({ roomId: uuid, messageId: uuid, senderId: uuid, body }) as Validator<unknown>,
      // Every v1 message is a v2 one without attachments.
      upcast: (data) => data,
    },
    {
      version: 2,
      validate: object(
        {
          roomId: uuid,
          messageId: uuid,
          senderId: uuid,
          body: string({ max: MESSAGE_MAX_CHARS, trim: false }),
          attachments: arrayOf(attachmentRef, { max: MAX_ATTACHMENTS_PER_MESSAGE }),
        },
        { optional: ['attachments'] },
      ) as Validator<unknown>,
    },
  ],
  'chat.MessageEdited': [
    { version: 1, validate: object({ roomId: uuid, seq, editorId: uuid, body }) as Validator<unknown> },
  ],
  'chat.MessageRedacted': [
    {
      version: 1,
      validate: object({
        roomId: uuid,
        seq,
        actorId: uuid,
        byAdmin: boolean(),
        reason: nullable(string({ min: 1, max: 500 })),
      }) as Validator<unknown>,
    },
  ],
  ...attachmentEvents,
};

/** Narrows a recorded event to chat's union. */
export const isChatEvent = eventGuard<ChatDomainEvent>(chatEvents);

export const roomStreamId = (roomId: string): string => `chatroom-${roomId}`;
export const messagesStreamId = (roomId: string): string => `chatmessages-${roomId}`;
export const blocksStreamId = (userId: string): string => `chatblocks-${userId}`;
/** The room of a `chatmessages-<roomId>` stream, or null for another stream. */
export const roomOfMessagesStream = (streamId: string): string | null =>
  streamId.startsWith('chatmessages-') ? streamId.slice('chatmessages-'.length) : null;
