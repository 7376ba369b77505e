import type { DomainEvent } from '../envelope.ts';
import {
  arrayOf,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  record,
  string,
  uuid,
  type Validator,
} from '../validation.ts';

/**
 * Chat attachments: a file a member uploads to a room through a presigned
 * PUT (the bytes never pass through the API), checked when completed (it
 * exists, has the declared size, its first bytes are the declared type),
 * then linked to one message by `chat.MessageSent`. Each attachment is a
 * small stream of its own, `chatattachment-<id>`.
 */

const MiB = 1024 * 1024;

/** What a chat attachment may be, and how large: images and PDFs, each type sniffable at completion. */
export const attachmentLimits = {
  'image/png': 10 * MiB,
  'image/jpeg': 10 * MiB,
  'image/gif': 10 * MiB,
  'image/webp': 10 * MiB,
  'application/pdf': 20 * MiB,
} as const;
export const attachmentTypes = Object.keys(attachmentLimits) as (keyof typeof attachmentLimits)[];
export type AttachmentType = keyof typeof attachmentLimits;
export const isAttachmentType = (t: string): t is AttachmentType => Object.hasOwn(attachmentLimits, t);
/** The largest any attachment may be. */
export const ATTACHMENT_MAX_BYTES = 20 * MiB;
/**
 * How long an attachment may wait for a message after its request: past it,
 * one not sent expires and its file is deleted (a day, as for any upload
 * left incomplete).
 */
export const ATTACHMENT_UNLINKED_TTL_MS = 24 * 60 * 60_000;
/** The most attachments one message carries. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 4;

/** Where an attachment's file lives: named by the room and the attachment, never by the file name. */
export const attachmentKey = (roomId: string, attachmentId: string): string =>
  `chat/${roomId}/${attachmentId}`;
export const attachmentStreamId = (attachmentId: string): string => `chatattachment-${attachmentId}`;

/** A file name to show, nothing more: no path separators, no control characters. */
export const attachmentFileName = describe(
  // eslint-disable-next-line no-control-regex -- control characters are what the pattern refuses
  string({ min: 1, max: 255, pattern: /^[^/\\\u0000-\u001f\u007f]+$/ }),
  {
    description:
      'What the file is called on the client, shown to the room; never part of the storage key. ' +
      'No `/`, `\\` or control characters.',
    example: 'diagram.png',
  },
);

/** What a message shows of each of its attachments (in the event, and every read model). */
export type AttachmentRef = Readonly<{
  attachmentId: string;
  contentType: AttachmentType;
  size: number;
  fileName: string | null;
}>;

export const attachmentRef: Validator<AttachmentRef> = object({
  attachmentId: uuid(),
  contentType: oneOf(attachmentTypes),
  size: integer({ min: 1, max: ATTACHMENT_MAX_BYTES }),
  fileName: nullable(attachmentFileName),
});

export type AttachmentRequested = Readonly<{
  attachmentId: string;
  roomId: string;
  uploaderId: string;
  key: string;
  contentType: AttachmentType;
  size: number;
  fileName: string | null;
  requestedAt: string;
}>;
export type AttachmentStored = Readonly<{ attachmentId: string; roomId: string; storedAt: string }>;
/** The attachment belongs to this message (by its event id) for good; no other message may carry it. */
export type AttachmentLinked = Readonly<{
  attachmentId: string;
  roomId: string;
  messageEventId: string;
  linkedAt: string;
}>;

/**
 * An attachment no message took within {@link ATTACHMENT_UNLINKED_TTL_MS} of
 * its request: it can no longer be completed or sent, and its file is
 * deleted.
 */
export type AttachmentExpired = Readonly<{ attachmentId: string; roomId: string; expiredAt: string }>;

export type AttachmentStreamEvent =
  | DomainEvent<'chat.AttachmentRequested', AttachmentRequested>
  | DomainEvent<'chat.AttachmentStored', AttachmentStored>
  | DomainEvent<'chat.AttachmentLinked', AttachmentLinked>
  | DomainEvent<'chat.AttachmentExpired', AttachmentExpired>;

export const attachmentEvents = {
  'chat.AttachmentRequested': [
    {
      version: 1,
      validate: object({
        attachmentId: uuid(),
        roomId: uuid(),
        uploaderId: uuid(),
        key: string({ min: 1, max: 512 }),
        contentType: oneOf(attachmentTypes),
        size: integer({ min: 1, max: ATTACHMENT_MAX_BYTES }),
        fileName: nullable(attachmentFileName),
        requestedAt: isoTime(),
      }) as Validator<unknown>,
    },
  ],
  'chat.AttachmentStored': [
    {
      version: 1,
      validate: object({ attachmentId: uuid(), roomId: uuid(), storedAt: isoTime() }) as Validator<unknown>,
    },
  ],
  'chat.AttachmentLinked': [
    {
      version: 1,
      validate: object({
        attachmentId: uuid(),
        roomId: uuid(),
        messageEventId: uuid(),
        linkedAt: isoTime(),
      }) as Validator<unknown>,
    },
  ],
  'chat.AttachmentExpired': [
    {
      version: 1,
      validate: object({ attachmentId: uuid(), roomId: uuid(), expiredAt: isoTime() }) as Validator<unknown>,
    },
  ],
} as const;

/** `POST /api/chat/rooms/:roomId/attachments`. */
export const attachmentRequest = describe(
  object(
    {
      contentType: describe(oneOf(attachmentTypes), {
        description:
          'The type of the file, sent again as `Content-Type` with the upload. Any other is 400 ' +
          '`validation_failed` with a pointer to `/contentType`.',
        example: 'image/png',
      }),
      size: describe(integer({ min: 1, max: 2 ** 40 }), {
        description:
          'The exact size of the file in bytes: images at most 10 MiB, PDFs 20 MiB (413 `attachment_too_large`).',
        example: 48213,
      }),
      fileName: attachmentFileName,
    },
    { optional: ['fileName'] },
  ),
  { title: 'AttachmentRequest' },
);

/** The ids a message carries (`POST …/messages`, `chat.send`): each once, at most four. */
export const attachmentIds = describe(arrayOf(uuid(), { max: MAX_ATTACHMENTS_PER_MESSAGE }), {
  description:
    `Attachments you uploaded to this room and completed, at most ${MAX_ATTACHMENTS_PER_MESSAGE}, each once; ` +
    'each belongs to one message for good.',
});

const presignedRequest = object({
  method: oneOf(['PUT', 'GET'] as const),
  url: string(),
  headers: describe(record(string()), {
    description: 'Send these headers exactly (the storage holds the upload to them).',
  }),
  expiresAt: isoTime(),
});

export const attachmentRequested = describe(
  object({
    attachmentId: uuid(),
    roomId: uuid(),
    contentType: oneOf(attachmentTypes),
    size: integer({ min: 1 }),
    upload: describe(presignedRequest, {
      description: 'One PUT of the file straight to the storage, with its `headers`; good for 10 minutes.',
    }),
  }),
  { title: 'AttachmentRequested' },
);

export const attachmentStored = describe(
  object({
    attachmentId: uuid(),
    roomId: uuid(),
    contentType: oneOf(attachmentTypes),
    size: integer({ min: 1 }),
    status: oneOf(['stored'] as const),
  }),
  { title: 'AttachmentStored' },
);

/** An attachment as history, search and the socket show it. */
export const attachmentView = describe(
  object(
    {
      attachmentId: uuid(),
      contentType: oneOf(attachmentTypes),
      size: integer({ min: 1 }),
      fileName: nullable(string()),
      url: describe(string(), {
        description: 'A presigned GET of the file, for a few minutes; absent on live socket items.',
      }),
      urlExpiresAt: isoTime(),
    },
    { optional: ['url', 'urlExpiresAt'] },
  ),
  { title: 'ChatAttachment' },
);
