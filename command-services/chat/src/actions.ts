import { chat as schema, uuid, type EventMetadata } from '@lectern/schemas';
import { Problem, validated } from '@lectern/infra/runtime/errors';
import type { RealtimeAction } from '@lectern/infra/runtime/realtime';
import { chatCommands, type ChatCommandDeps } from './commands.ts';

const roomId = uuid();

/**
 * Chat's actions on the socket, on the same commands (and so the same
 * refusals and limits) as REST:
 *
 * - `chat.send {roomId, clientMessageId, body}` → `{roomId, seq, messageId,
 *   cursor, consistencyToken}`; the message is in the event store before the
 *   reply leaves. Over the flood limit (20 per 10 s) an error frame
 *   `rate_limited`, before one's turn in a room in slow mode `slow_mode`,
 *   both with `retryAfter` (seconds); `blocked` in a direct room whose other
 *   member blocks the sender; `message_not_allowed` for a text the
 *   profanity filter refuses.
 *
 * @example
 *   ws.send(JSON.stringify({ type: 'chat.send', ref: 7, data: { roomId, clientMessageId, body: 'hi' } }));
 */
export const chatActions = (deps: ChatCommandDeps & Readonly<{ uuid: () => string }>): RealtimeAction[] => {
  const commands = chatCommands(deps);
  return [
    {
      type: 'chat.send',
      async handle(ctx, data) {
        if (typeof data !== 'object' || data === null || Array.isArray(data))
          throw new Problem('validation', 'validation_failed', 'data is {roomId, clientMessageId, body}.');
        const { roomId: room, ...message } = data as Record<string, unknown>;
        const id = validated(roomId(room, '/data/roomId'));
        const body = validated(schema.sendMessage(message, '/data'));
        // Each frame is a request of its own: its correlation starts here.
        const requestId = deps.uuid();
        const metadata: EventMetadata = {
          correlationId: requestId,
          causationId: null,
          actor: { userId: ctx.caller.userId, roles: [...ctx.caller.roles] },
          requestId,
          traceparent: null,
        };
        const sent = await commands.send(
          { userId: ctx.caller.userId, roles: ctx.caller.roles, commandId: requestId, metadata },
          id,
          body.body,
          body.clientMessageId,
          body.attachments,
        );
        const { position, ...answer } = sent;
        return { ...answer, consistencyToken: String(position) };
      },
    },
  ];
};
