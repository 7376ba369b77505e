import {
  chatActions,
  chatAttachmentRoutes,
  chatCommandRoutes,
  expireAttachment,
  obscenityFilter,
  type ChatCommandDeps,
  type ProfanityFilter,
} from '@lectern/chat-commands';
import { chatQueryRoutes, chatUserChannel, roomChannel } from '@lectern/chat-queries';
import { chatMessagesProjection, isRedacted } from '@lectern/chat-projection-messages';
import { chatRoomsProjection } from '@lectern/chat-projection-rooms';
import { chatBlocksProjection } from '@lectern/chat-projection-blocks';
import { chatAttachmentsUnsentProjection, unsentBefore } from '@lectern/chat-projection-attachments';
import { attachmentExpirySweep, attachmentFilesReaction } from '@lectern/chat-attachments-worker';
import { chatApi, chatTags } from '@lectern/schemas/chat/api';
import { chatAttachmentApi } from '@lectern/schemas/chat/attachments-api';
import { chatEvents } from '@lectern/schemas/chat/events';
import {
  chatSendFrame,
  chatSentReplyFrame,
  chatUserItemFrame,
  roomItemFrame,
} from '@lectern/schemas/chat/socket';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import { reactorWorker } from '@lectern/infra/runtime/reactor';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';
import { chatStreams } from './streams.ts';

export type ChatModuleOptions = Readonly<{
  /** What decides whether a message's text may be stored; `obscenityFilter()` (English) when not given. */
  profanityFilter?: ProfanityFilter;
}>;

/**
 * Chat: direct and group rooms, their messages, history by cursor and
 * search, moderation (blocklist, profanity filter, slow mode); rooms on the
 * socket.
 *
 * @example chatModule({ profanityFilter: obscenityFilter({ allow: ['Penistone'] }) })
 */
export const chatModule = (opts: ChatModuleOptions = {}): ContextModule => {
  // One filter for the process: the matcher is built once, REST and the socket share it.
  const profanityFilter = opts.profanityFilter ?? obscenityFilter();
  /** What REST and the socket share: one store, one limiter (20 messages per 10 s per user, on both), one filter. */
  const commandDeps = async (p: Platform): Promise<ChatCommandDeps> => ({
    store: p.store,
    verify: p.auth.verify,
    clock: p.clock,
    limiter: await sqlRateLimiter(p.sql),
    isRedacted: (roomId, seq) => isRedacted(p.sql, roomId, seq),
    profanityFilter,
    blobs: p.blobs,
  });
  return {
    name: 'chat',
    streams: chatStreams,
    projections: [
      chatRoomsProjection,
      chatMessagesProjection,
      chatBlocksProjection,
      chatAttachmentsUnsentProjection,
    ],
    workers: [
      // Attachments never sent: the sweep that expires them a day after their request, and the
      // reaction that deletes the file of each one expired.
      reactorWorker({
        name: 'chat_attachments',
        contexts: ['chat'],
        reaction: async (p) => {
          const sweep = attachmentExpirySweep({
            expiry: {
              unsentBefore: (before, limit, cursor) => unsentBefore(p.sql, before, limit, cursor),
              expire: (attachmentId) => expireAttachment({ store: p.store, clock: p.clock }, attachmentId),
            },
            logger: p.logger,
            now: () => p.clock.now().getTime(),
          });
          sweep.start();
          return { reaction: attachmentFilesReaction({ blobs: p.blobs }), close: () => sweep.stop() };
        },
      }),
    ],
    routes: async (p) => [
      chatCommandRoutes(await commandDeps(p)),
      chatAttachmentRoutes({ store: p.store, blobs: p.blobs, clock: p.clock, verify: p.auth.verify }),
      chatQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor, blobs: p.blobs }),
    ],
    realtime: async (p) => ({
      channels: [roomChannel(p.sql, p.store, p.blobs), chatUserChannel()],
      actions: chatActions({ ...(await commandDeps(p)), uuid: p.ids.uuid }),
    }),
    asyncApi: {
      context: 'chat',
      topics: [
        {
          name: 'chat.events',
          description: 'Rooms, members, messages, blocklists and attachments.',
          events: chatEvents,
        },
      ],
      socket: {
        items: [
          { kind: 'room', description: 'A room you are a member of.', frame: roomItemFrame },
          {
            kind: 'user',
            description: 'Your own channel: rooms you join and leave.',
            frame: chatUserItemFrame,
          },
        ],
        actions: [{ type: 'chat.send', frame: chatSendFrame, reply: chatSentReplyFrame }],
      },
    },
    api: [{ name: 'chat', operations: [...chatApi, ...chatAttachmentApi], tags: chatTags }],
  };
};
