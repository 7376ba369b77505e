import { chat as schema, type SniffedType } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { memberOf, type Room } from './room.ts';

/**
 * A chat attachment: requested (a presigned PUT handed out), stored (the
 * object checked at completion), linked (one message carries it, for good),
 * or expired (no message took it within a day of its request: it can no
 * longer be completed or sent, and its file is deleted).
 */
type Declared = Readonly<{
  attachmentId: string;
  roomId: string;
  uploaderId: string;
  key: string;
  contentType: schema.AttachmentType;
  size: number;
  fileName: string | null;
  requestedAt: string;
}>;
export type Attachment =
  | Readonly<{ status: 'none' }>
  | (Declared & Readonly<{ status: 'requested' }>)
  | (Declared & Readonly<{ status: 'stored' }>)
  | (Declared & Readonly<{ status: 'linked'; messageEventId: string }>)
  | (Declared & Readonly<{ status: 'expired'; expiredAt: string }>);

/** What the storage holds under the attachment's key, as the handler found it; null when nothing. */
export type StoredObject = Readonly<{ size: number; sniffed: SniffedType | null }> | null;

export type AttachmentCommand =
  | Readonly<{
      type: 'RequestAttachment';
      attachmentId: string;
      room: Room;
      uploaderId: string;
      contentType: string;
      size: number;
      fileName: string | null;
      at: string;
    }>
  | Readonly<{ type: 'CompleteAttachment'; roomId: string; by: string; stored: StoredObject; at: string }>
  | Readonly<{
      type: 'LinkAttachment';
      attachmentId: string;
      roomId: string;
      by: string;
      messageEventId: string;
      at: string;
    }>
  /**
   * By the expiry sweep: expires the attachment if no message took it and it
   * was requested at or before `requestedBy` (the sweep's time less the
   * bound; both ISO instants in UTC, as every time here, so they compare as text).
   */
  | Readonly<{ type: 'ExpireAttachment'; requestedBy: string; at: string }>;

export const initialState = (): Attachment => ({ status: 'none' });

/** The type as one we take, with its limit: 415 for another type, 413 past the type's limit. */
export const checkAttachmentType = (
  contentType: string,
  size: number,
): Readonly<{ contentType: schema.AttachmentType; limit: number }> => {
  if (!schema.isAttachmentType(contentType))
    throw new Problem(
      'unsupported_type',
      'attachment_type_not_allowed',
      `A chat attachment cannot be ${contentType}.`,
      {
        issues: [{ path: '/contentType', message: 'is not a type chat takes' }],
        extra: { contentType, allowed: schema.attachmentTypes },
      },
    );
  const limit = schema.attachmentLimits[contentType];
  if (size > limit)
    throw new Problem('too_large', 'attachment_too_large', `A ${contentType} is at most ${limit} bytes.`, {
      extra: { size, maxBytes: limit },
    });
  return { contentType, limit };
};

/**
 * The attachment as its uploader may act on it. Another room's, another
 * uploader's and an unknown one are the same answer, so nobody learns
 * which ids exist.
 */
export const ownAttachment = (a: Attachment, roomId: string, userId: string) => {
  if (a.status === 'none' || a.roomId !== roomId || a.uploaderId !== userId)
    throw new Problem('not_found', 'attachment_not_found', 'You have no such attachment in this room.');
  return a;
};

const expired = (a: Readonly<{ attachmentId: string; expiredAt: string }>) =>
  new Problem(
    'conflict',
    'attachment_expired',
    'This attachment was not sent within a day of its request; upload the file again.',
    { extra: { attachmentId: a.attachmentId, expiredAt: a.expiredAt } },
  );

/** Refusals after which the object is not kept: it is not what was declared. */
export const DISCARDED = new Set([
  'attachment_type_mismatch',
  'attachment_too_large',
  'attachment_size_mismatch',
]);

export const decide = (cmd: AttachmentCommand, a: Attachment): schema.AttachmentStreamEvent[] => {
  switch (cmd.type) {
    case 'RequestAttachment': {
      const room = memberOf(cmd.room, cmd.uploaderId);
      const { contentType } = checkAttachmentType(cmd.contentType, cmd.size);
      // The id comes from the command id: a retried request finds it requested and is answered again.
      if (a.status !== 'none') {
        if (a.uploaderId !== cmd.uploaderId)
          throw new Error('an attachment id derived from a command was taken');
        if (a.status === 'expired') throw expired(a);
        if (a.status !== 'requested')
          throw new Problem('conflict', 'attachment_already_stored', 'This attachment has its file.');
        return [];
      }
      const data: schema.AttachmentRequested = {
        attachmentId: cmd.attachmentId,
        roomId: room.roomId,
        uploaderId: cmd.uploaderId,
        key: schema.attachmentKey(room.roomId, cmd.attachmentId),
        contentType,
        size: cmd.size,
        fileName: cmd.fileName,
        requestedAt: cmd.at,
      };
      return [{ type: 'chat.AttachmentRequested', data }];
    }
    case 'CompleteAttachment': {
      const own = ownAttachment(a, cmd.roomId, cmd.by);
      if (own.status === 'expired') throw expired(own);
      // Completing again changes nothing: the file is in.
      if (own.status !== 'requested') return [];
      const { stored } = cmd;
      if (!stored)
        throw new Problem('conflict', 'attachment_not_uploaded', 'Nothing was uploaded for this attachment.');
      checkAttachmentType(own.contentType, stored.size);
      if (stored.size !== own.size)
        throw new Problem(
          'validation',
          'attachment_size_mismatch',
          'The file is not the size that was declared.',
          { extra: { declared: own.size, found: stored.size } },
        );
      if (stored.sniffed !== own.contentType)
        throw new Problem(
          'validation',
          'attachment_type_mismatch',
          `The file is not the ${own.contentType} it was declared as.`,
          { extra: { declared: own.contentType, found: stored.sniffed } },
        );
      return [
        {
          type: 'chat.AttachmentStored',
          data: { attachmentId: own.attachmentId, roomId: own.roomId, storedAt: cmd.at },
        },
      ];
    }
    case 'LinkAttachment': {
      let own;
      try {
        own = ownAttachment(a, cmd.roomId, cmd.by);
      } catch {
        // On a send, the id is a field of the body, not the resource addressed.
        throw new Problem('validation', 'unknown_attachment', 'You have no such attachment in this room.', {
          issues: [{ path: '/attachments', message: `has ${cmd.attachmentId}, not yours in this room` }],
          extra: { attachmentId: cmd.attachmentId },
        });
      }
      if (own.status === 'expired') throw expired(own);
      if (own.status === 'requested')
        throw new Problem('conflict', 'attachment_not_stored', 'Complete the upload before sending it.', {
          extra: { attachmentId: own.attachmentId },
        });
      if (own.status === 'linked') {
        // The same message again (a retried send) keeps its link.
        if (own.messageEventId === cmd.messageEventId) return [];
        throw new Problem(
          'conflict',
          'attachment_already_linked',
          'Another message carries this attachment.',
          {
            extra: { attachmentId: own.attachmentId },
          },
        );
      }
      const data: schema.AttachmentLinked = {
        attachmentId: own.attachmentId,
        roomId: own.roomId,
        messageEventId: cmd.messageEventId,
        linkedAt: cmd.at,
      };
      return [{ type: 'chat.AttachmentLinked', data }];
    }
    case 'ExpireAttachment': {
      // A message took it, or it has expired already: nothing to do. So is one not yet due.
      if (a.status !== 'requested' && a.status !== 'stored') return [];
      if (a.requestedAt > cmd.requestedBy) return [];
      const data: schema.AttachmentExpired = {
        attachmentId: a.attachmentId,
        roomId: a.roomId,
        expiredAt: cmd.at,
      };
      return [{ type: 'chat.AttachmentExpired', data }];
    }
  }
};

export const evolve = (a: Attachment, e: schema.AttachmentStreamEvent): Attachment => {
  switch (e.type) {
    case 'chat.AttachmentRequested':
      return { status: 'requested', ...e.data };
    case 'chat.AttachmentStored':
      return a.status === 'none' ? a : { ...a, status: 'stored' };
    case 'chat.AttachmentLinked':
      return a.status === 'none' ? a : { ...a, status: 'linked', messageEventId: e.data.messageEventId };
    case 'chat.AttachmentExpired':
      return a.status === 'none' ? a : { ...a, status: 'expired', expiredAt: e.data.expiredAt };
    default:
      return unknownEvent(e, a);
  }
};

export const attachmentDecider: Decider<Attachment, AttachmentCommand, schema.AttachmentStreamEvent> = {
  initialState,
  decide,
  evolve,
};

/** What a message shows of an attachment it carries. */
export const refOf = (a: Attachment): schema.AttachmentRef | null =>
  a.status === 'none'
    ? null
    : { attachmentId: a.attachmentId, contentType: a.contentType, size: a.size, fileName: a.fileName };
