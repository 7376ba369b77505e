import { Router, type Request, type Response } from 'express';
import { chat as schema, uuid } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { validated } from '@lectern/infra/runtime/errors';
import type { Clock } from '@lectern/infra/runtime/ids';
import { blocklistDecider, type BlocklistCommand } from './domain/blocks.ts';

export type ChatBlockDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
}>;

const userIdParam = uuid();

/**
 * The caller's blocklist: `PUT` and `DELETE /api/chat/blocks/:userId`, both
 * idempotent and answered 204 with the `X-Consistency-Token` that
 * `GET /api/chat/blocks` (query-services/chat) reads back.
 *
 * The blocked id is not checked against identity: chat keeps no user
 * directory, blocking an id that is no one's harms nobody, and a 404 would
 * tell anyone which ids are accounts.
 */
export const chatBlockRoutes = (deps: ChatBlockDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  /** Blocks or unblocks the user named in the path, for the caller. */
  const change =
    (type: BlocklistCommand['type']) =>
    async (req: Request, res: Response): Promise<void> => {
      const userId = req.ctx.actor!.userId!;
      const blockedUserId = validated(userIdParam(req.params.userId, '/userId'));
      const outcome = await handleCommand({
        store: deps.store,
        catalogue: schema.chatEvents,
        commandId: req.ctx.commandId,
        occurredAt: deps.clock.now().toISOString(),
        metadata: eventMetadata(req.ctx),
        streamId: schema.blocksStreamId(userId),
        decider: blocklistDecider,
        command: { type, userId, blockedUserId, at: deps.clock.now().toISOString() },
      });
      setCommandHeaders(res, outcome.revision, outcome.position);
      res.status(204).end();
    };

  router.put('/api/chat/blocks/:userId', auth, change('Block'));
  router.delete('/api/chat/blocks/:userId', auth, change('Unblock'));

  return router;
};
