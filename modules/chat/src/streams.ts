import { attachmentDecider, blocklistDecider, roomDecider } from '@lectern/chat-commands';
import { aggregateStream, recordStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import type { MessageStreamEvent } from '@lectern/schemas/chat/events';
import { chatEvents } from '@lectern/schemas/chat/events';

/** Chat's streams, as the audit tools read them. */
export const chatStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'chatroom',
    description: 'a room: its members and settings',
    decider: roomDecider,
    catalogue: chatEvents,
    types: {
      'chat.RoomCreated': true,
      'chat.MemberInvited': true,
      'chat.MemberLeft': true,
      'chat.SlowModeSet': true,
    },
  }),
  // The room decides; its messages are appended here in order, and no decider folds them.
  recordStream<MessageStreamEvent>({
    category: 'chatmessages',
    description: "a room's messages, edits and removals",
    catalogue: chatEvents,
    types: { 'chat.MessageSent': true, 'chat.MessageEdited': true, 'chat.MessageRedacted': true },
  }),
  aggregateStream({
    category: 'chatblocks',
    description: "a user's blocklist",
    decider: blocklistDecider,
    catalogue: chatEvents,
    types: { 'chat.UserBlocked': true, 'chat.UserUnblocked': true },
  }),
  aggregateStream({
    category: 'chatattachment',
    description: 'an attachment: requested, stored, linked to a message, or expired unsent',
    decider: attachmentDecider,
    catalogue: chatEvents,
    types: {
      'chat.AttachmentRequested': true,
      'chat.AttachmentStored': true,
      'chat.AttachmentLinked': true,
      'chat.AttachmentExpired': true,
    },
  }),
];
