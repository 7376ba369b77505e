import { randomUUID } from 'node:crypto';
import type { Lectern } from '../src/server.ts';
import { jsonClient, type Reply } from './http-client.ts';

/**
 * What the chat flows call the API with: a JSON client, users with fresh
 * tokens, reading after a write, and a send.
 *
 * @example const { call, user, after, send } = chatClient(sharedLectern(test, setup));
 */
export const chatClient = (lectern: () => Promise<Lectern>) => {
  const call = jsonClient(async () => (await lectern()).url);
  return {
    call,
    user: async (roles: string[] = ['learner']) => {
      const id = randomUUID();
      return { id, token: (await (await lectern()).signAccessToken({ sub: id, roles })).token };
    },
    /** Reads after a write, through its consistency token. */
    after: (reply: Reply) => ({ 'x-consistency-token': reply.headers.get('x-consistency-token')! }),
    send: (token: string, roomId: string, body: string, clientMessageId = randomUUID()) =>
      call('POST', `/api/chat/rooms/${roomId}/messages`, { token, body: { clientMessageId, body } }),
  };
};
