import {
  chatActions,
  chatAttachmentRoutes,
  chatCommandRoutes,
  type ChatCommandDeps,
} from '@lectern/chat-commands';
import { chatQueryRoutes, chatUserChannel, roomChannel } from '@lectern/chat-queries';
import { chatMessagesProjection, isRedacted } from '@lectern/chat-projection-messages';
import { chatRoomsProjection } from '@lectern/chat-projection-rooms';
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
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';

/** What REST and the socket share: one store, one limiter (20 messages per 10 s per user, on both). */
const commandDeps = async (p: Platform): Promise<ChatCommandDeps> => ({
  store: p.store,
  verify: p.auth.verify,
  clock: p.clock,
  limiter: await sqlRateLimiter(p.sql),
  isRedacted: (roomId, seq) => isRedacted(p.sql, roomId, seq),
  blobs: p.blobs,
});

/** Chat: direct and group rooms, their messages, history by cursor and search; rooms on the socket. */
export const chatModule = (): ContextModule => ({
  name: 'chat',
  projections: [chatRoomsProjection, chatMessagesProjection],
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
    topics: [{ name: 'chat.events', description: 'Rooms, members and messages.', events: chatEvents }],
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
});
