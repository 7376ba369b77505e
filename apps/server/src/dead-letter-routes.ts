import { Router } from 'express';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { Problem } from '@lectern/infra/runtime/errors';
import { deadLetterAdmin, UnknownDeadLetterTopic } from '@lectern/infra/runtime/dead-letter-admin';
import { deadLetterLimit } from '@lectern/schemas/operations/dead-letters-api';
import type { RecordAdminAction } from './admin-actions.ts';

/**
 * The dead-letter topics of the deployment, for admins (`lectern dlq …`):
 * list them, show their letters, redrive them. They work through the log,
 * so any process with the `api` role serves them, whichever process runs
 * the consumers (see runtime/dead-letter-admin.ts).
 */
export const deadLetterRoutes = (deps: {
  log: MessageLog;
  /** Every dead-letter topic of the deployment: one per consumer. */
  topics: readonly string[];
  verify: (token: string) => Promise<VerifiedToken>;
  record: RecordAdminAction;
}): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('admin')];
  const admin = deadLetterAdmin(deps.log, deps.topics);

  const known = <T>(work: () => Promise<T>): Promise<T> =>
    work().catch((error: unknown) => {
      if (error instanceof UnknownDeadLetterTopic)
        throw new Problem('not_found', 'dead_letter_topic_not_found', error.message);
      throw error;
    });

  router.get('/api/admin/dead-letters', ...guard, async (_req, res) => {
    res.json({ items: await admin.list() });
  });

  router.get('/api/admin/dead-letters/:topic', ...guard, async (req, res) => {
    const topic = String(req.params.topic);
    let limit = 100;
    if (req.query.limit !== undefined) {
      const r = deadLetterLimit(req.query.limit, '/limit');
      if (!r.ok)
        throw new Problem('validation', 'invalid_limit', 'limit must be an integer from 1 to 1000.', {
          issues: [{ path: '/limit', message: 'must be an integer from 1 to 1000' }],
        });
      limit = r.value;
    }
    res.json({ topic, items: await known(() => admin.show(topic, limit)) });
  });

  router.post('/api/admin/dead-letters/:topic/redrive', ...guard, async (req, res) => {
    const topic = String(req.params.topic);
    const result = await known(() => admin.redrive(topic));
    req.log.info({ topic, actor: req.ctx.actor?.userId, ...result }, 'dead letters redriven');
    await deps.record(req, {
      action: 'deadletters.redrive',
      target: topic,
      parameters: {},
      outcome: 'done',
      result,
    });
    res.json({ topic, ...result });
  });

  return router;
};
