import { chatCommandRoutes } from '@lectern/chat-commands';
import { chatQueryRoutes } from '@lectern/chat-queries';
import { chatMessagesProjection, isRedacted } from '@lectern/chat-projection-messages';
import { chatRoomsProjection } from '@lectern/chat-projection-rooms';
import { chatApi, chatTags } from '@lectern/schemas/chat/api';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import type { ContextModule } from '@lectern/infra/runtime/context-module';

/** Chat: direct and group rooms, their messages, history by cursor and search. */
export const chatModule = (): ContextModule => ({
  name: 'chat',
  projections: [chatRoomsProjection, chatMessagesProjection],
  routes: async (p) => [
    chatCommandRoutes({
      store: p.store,
      verify: p.auth.verify,
      clock: p.clock,
      limiter: await sqlRateLimiter(p.sql),
      isRedacted: (roomId, seq) => isRedacted(p.sql, roomId, seq),
    }),
    chatQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
  ],
  api: [{ name: 'chat', operations: chatApi, tags: chatTags }],
});
