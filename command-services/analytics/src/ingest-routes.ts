import { Router, type Request, type RequestHandler } from 'express';
import { analytics as schema } from '@lectern/schemas';
import { ingestTopic, type IngestMessage } from '@lectern/schemas/analytics/ingest';
import { jsonBody } from '@lectern/infra/http/app';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import type { MessageLog, OutgoingMessage } from '@lectern/infra/ports/message-log';
import type { RequestContext } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { ingestKeyChecker } from './ingest-keys.ts';

export type IngestRouteDeps = Readonly<{
  /** Where accepted batches go: `ingestTopic(namespace)`, which must exist (`log.ensureTopics`). */
  log: MessageLog;
  namespace: string;
  verify: (token: string) => Promise<VerifiedToken>;
  /** SHA-256 digests (hex) of the ingest keys server-side sources may send; none → bearer tokens only. */
  ingestKeys: readonly string[];
  clock: Clock;
}>;

/**
 * Who sent a batch: a user by bearer token, or a server-side source by
 * ingest key. `scope` keeps derived event ids of different callers apart.
 */
export type IngestCaller =
  | Readonly<{ kind: 'user'; userId: string; admin: boolean; scope: string }>
  | Readonly<{ kind: 'key'; keyId: string; scope: string }>;

declare module 'express-serve-static-core' {
  interface Locals {
    ingestCaller?: IngestCaller;
  }
}

/**
 * The events of a batch as the messages produced for them.
 *
 * An event's id is the client's `id`, else derived from the caller, the
 * request's command id (server-made, or the one a claimed `Idempotency-Key`
 * gave, so a batch retried after its answer was lost gets the same ids and
 * ClickHouse counts its copies once) and the event's index. The caller is
 * part of the name as well, so that no two callers' events collapse.
 *
 * The key is the user (one user's events stay in order on one partition),
 * else the event id (spread evenly).
 */
export const ingestMessages = (
  events: readonly schema.IngestEvent[],
  opts: Readonly<{
    caller: IngestCaller;
    ctx: Pick<RequestContext, 'commandId' | 'correlationId' | 'requestId' | 'traceparent'>;
    receivedAt: number;
  }>,
): OutgoingMessage[] => {
  const { caller, ctx } = opts;
  const headers = {
    'correlation-id': ctx.correlationId,
    'request-id': ctx.requestId,
    traceparent: ctx.traceparent,
  };
  return events.map((e, index) => {
    const message: IngestMessage = {
      id: e.id ?? deterministicUuid(`analytics-ingest/${caller.scope}/${ctx.commandId}/${index}`),
      type: e.type,
      userId: e.userId ?? (caller.kind === 'user' ? caller.userId : null),
      source: e.source,
      occurredAt: e.time,
      payload: e.payload,
      receivedAt: opts.receivedAt,
    };
    return {
      key: message.userId ?? message.id,
      value: JSON.stringify(message),
      headers: { ...headers, 'event-id': message.id },
    };
  });
};

/**
 * `POST /api/analytics/ingest`: telemetry batches onto the log.
 *
 * 1. Caller: an ingest key in `X-Ingest-Key` (checked against digests, in
 *    constant time), else a bearer token. A key, when sent, decides: a
 *    wrong one is 401 even beside a good token.
 * 2. Size: the body parser refuses more than 1 MiB (413
 *    `payload_too_large`); more than 1000 events is 413 `too_many_events`,
 *    before any event is read.
 * 3. Every event is validated; any problem refuses the whole batch (400,
 *    each problem under its item's pointer).
 * 4. A user may send only their own events (`userId` absent or theirs),
 *    unless they are an admin (403 `user_not_yours`).
 * 5. One produce of the whole batch to `<ns>.analytics.ingest`; 202 only
 *    once the log has acknowledged it, so an accepted event outlives this
 *    process. The event store is not involved: telemetry is no aggregate's
 *    state.
 *
 * @example app.use(analyticsIngestRoutes({ log, namespace, verify, ingestKeys, clock }));
 */
export const analyticsIngestRoutes = (deps: IngestRouteDeps): Router => {
  const router = Router();
  const topic = ingestTopic(deps.namespace);
  const checkKey = ingestKeyChecker(deps.ingestKeys);
  const bearer = authenticate(deps.verify);
  const keyHeader = schema.INGEST_KEY_HEADER;

  const caller: RequestHandler = (req, res, next) => {
    const key = req.get(keyHeader);
    if (key === undefined) {
      return bearer(req, res, (error?: unknown) => {
        if (error) return next(error);
        const actor = req.ctx.actor!;
        res.locals.ingestCaller = {
          kind: 'user',
          userId: actor.userId!,
          admin: actor.roles.includes('admin'),
          scope: `user:${actor.userId}`,
        };
        next();
      });
    }
    const match = checkKey(key);
    if (!match)
      return next(
        new Problem('unauthenticated', 'ingest_key_invalid', `The ${keyHeader} is not a valid key.`),
      );
    res.locals.ingestCaller = { kind: 'key', keyId: match.keyId, scope: `key:${match.keyId}` };
    next();
  };

  const ownEventsOnly = (events: readonly schema.IngestEvent[], who: IngestCaller): void => {
    if (who.kind !== 'user' || who.admin) return;
    const issues = events.flatMap((e, i) =>
      e.userId !== undefined && e.userId !== who.userId
        ? [{ path: `/events/${i}/userId`, message: 'must be your own user id (or left out)' }]
        : [],
    );
    if (issues.length)
      throw new Problem('forbidden', 'user_not_yours', 'Only admins may send events of other users.', {
        issues,
      });
  };

  router.post(schema.INGEST_PATH, caller, async (req: Request, res) => {
    const who = res.locals.ingestCaller!;
    const body = jsonBody(req);
    const tooMany = schema.tooManyEvents(body);
    if (tooMany)
      throw new Problem(
        'too_large',
        'too_many_events',
        `A batch holds at most ${schema.INGEST_LIMITS.maxEvents} events; split it.`,
        { issues: [tooMany] },
      );
    const receivedAt = deps.clock.now().getTime();
    const r = schema.ingestRequestAt(receivedAt)(body);
    if (!r.ok) throw validationProblem(r.issues, 'The batch is not valid; none of its events were taken.');
    const { events } = r.value;
    ownEventsOnly(events, who);

    if (events.length > 0) {
      const messages = ingestMessages(events, { caller: who, ctx: req.ctx, receivedAt });
      try {
        await deps.log.produce(topic, messages);
      } catch (error) {
        req.log.error({ err: error, events: events.length }, 'analytics ingest: the log refused the batch');
        throw new Problem(
          'unavailable',
          'log_unavailable',
          'The batch could not be stored; send it again (with the same Idempotency-Key).',
          { retryAfterSeconds: 1 },
        );
      }
    }
    res.status(202).json({ accepted: events.length });
  });

  return router;
};
