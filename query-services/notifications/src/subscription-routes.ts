import { Router } from 'express';
import { subscriptionsStreamId } from '@lectern/schemas/notifications/subscriptions';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import { preferencesOf, subscriptionsProjection } from '@lectern/notifications-projection-subscriptions';

export type SubscriptionQueryDeps = Readonly<{
  /** The database holding the read models. */
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
}>;

/** How much of a push token is shown: enough to tell a user's devices apart, too little to send to. */
const TOKEN_END = 6;

/** `GET /api/subscriptions`: the caller's own subscriptions, through the projection's reader. */
export const subscriptionQueryRoutes = (deps: SubscriptionQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  router.get('/api/subscriptions', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    await awaitConsistency(
      req,
      res,
      deps.waitFor,
      subscriptionsProjection.name,
      subscriptionsStreamId(userId),
    );
    const found = await preferencesOf(deps.sql, userId);
    // A user who never changed anything has the defaults, at no revision yet.
    res.setHeader('ETag', `"${found.revision}"`);
    res.json({
      userId,
      channels: found.channels,
      // The token is the address pushes are sent to: it never leaves the server whole.
      devices: found.devices.map((d) => ({
        deviceId: d.deviceId,
        platform: d.platform,
        // By code point: a cut through a surrogate pair would not be Unicode (nor JSON a client can read).
        tokenEnd: Array.from(d.token).slice(-TOKEN_END).join(''),
      })),
      topics: found.topics,
    });
  });

  return router;
};
