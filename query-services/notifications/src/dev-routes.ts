import { Router } from 'express';
import { outboxAddress } from '@lectern/schemas/notifications/api';
import type { DevMailbox } from '@lectern/infra/notify/dev-mailbox';
import { validationProblem } from '@lectern/infra/runtime/errors';

/**
 * DEVELOPMENT ONLY, never mounted with NODE_ENV=production: `GET
 * /api/dev/outbox?to=` shows what the notifications worker handed to the
 * development mailbox (the embedded profile's provider), with its links
 * and codes, so the README's walkthrough needs nothing but `./dev start`.
 */
export const devMailboxRoutes = (mailbox: DevMailbox): Router => {
  const router = Router();
  router.get('/api/dev/outbox', async (req, res) => {
    const to = outboxAddress(typeof req.query.to === 'string' ? req.query.to.trim() : '', '/to');
    if (!to.ok)
      throw validationProblem([
        { path: '/to', message: 'must be an e-mail address or an E.164 phone number' },
      ]);
    res.setHeader('X-Development-Only', 'true');
    res.json({ items: await mailbox.list(to.value.includes('@') ? to.value.toLowerCase() : to.value) });
  });
  return router;
};
