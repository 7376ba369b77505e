import { Router, type Request } from 'express';
import * as schema from '@lectern/schemas/notifications/subscriptions';
import { uuid, type Result } from '@lectern/schemas/validation';
import type { MessageKeys } from '@lectern/infra/auth/message-secrets';
import { authenticate, type VerifiedToken } from '@lectern/infra/http/auth';
import { jsonBody } from '@lectern/infra/http/app';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { parseUnsubscribeToken } from '@lectern/infra/notify/unsubscribe';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { deviceWithToken, subscriptionsDecider, type SubscriptionCommand } from './domain/subscriptions.ts';

export type SubscriptionCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
  /** What one-click unsubscribe tokens are checked with: the keys the worker signs the links with. */
  messageKeys: MessageKeys;
}>;

const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

const userIdOf = uuid();

/**
 * Commands on the caller's own subscriptions (`/api/subscriptions/…`, with
 * a bearer token), and the one-click unsubscribe link of e-mails (RFC 8058,
 * with the link's signed token instead).
 */
export const subscriptionCommandRoutes = (deps: SubscriptionCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const now = () => deps.clock.now().toISOString();

  /** Decides on the user's stream; `If-Match` holds when the caller sent one. */
  const run = (req: Request, userId: string, command: SubscriptionCommand, expectedRevision?: number) =>
    handleCommand({
      store: deps.store,
      catalogue: schema.subscriptionEvents,
      commandId: req.ctx.commandId,
      occurredAt: now(),
      metadata: eventMetadata(req.ctx),
      streamId: schema.subscriptionsStreamId(userId),
      decider: subscriptionsDecider,
      command,
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
  const caller = (req: Request): string => req.ctx.actor!.userId!;
  // Both parameters are checked at once, so a bad kind and a bad id are both named.
  const topicOf = (req: Request): schema.Topic =>
    validated(schema.topic({ kind: req.params.kind, id: req.params.id }));

  router.put('/api/subscriptions/channels', auth, async (req, res) => {
    const changes = validated(schema.channelChanges(jsonBody(req)));
    const expected = ifMatchRevision(req);
    const userId = caller(req);
    const outcome = await run(
      req,
      userId,
      { type: 'ChangeChannels', userId, changes, via: 'user', at: now() },
      expected,
    );
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ userId, revision: outcome.revision, channels: outcome.state.channels });
  });

  router.put('/api/subscriptions/topics/:kind/:id', auth, async (req, res) => {
    const topic = topicOf(req);
    const expected = ifMatchRevision(req);
    const userId = caller(req);
    const outcome = await run(req, userId, { type: 'SubscribeTopic', userId, topic, at: now() }, expected);
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ userId, revision: outcome.revision, topic, subscribed: true });
  });

  router.delete('/api/subscriptions/topics/:kind/:id', auth, async (req, res) => {
    const topic = topicOf(req);
    const expected = ifMatchRevision(req);
    const userId = caller(req);
    const outcome = await run(
      req,
      userId,
      { type: 'UnsubscribeTopic', userId, topic, via: 'user', at: now() },
      expected,
    );
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ userId, revision: outcome.revision, topic, subscribed: false });
  });

  // The device id comes from the command id, so a retry under the same
  // Idempotency-Key names the same device; a token registered already is
  // the device it was registered as, and that one is answered.
  router.post('/api/subscriptions/devices', auth, async (req, res) => {
    const body = validated(schema.pushDeviceRegistration(jsonBody(req)));
    const expected = ifMatchRevision(req);
    const userId = caller(req);
    const outcome = await run(
      req,
      userId,
      {
        type: 'RegisterPushDevice',
        userId,
        deviceId: deterministicUuid(`push-device/${req.ctx.commandId}`),
        token: body.token,
        platform: body.platform,
        at: now(),
      },
      expected,
    );
    const { deviceId } = deviceWithToken(outcome.state, body.token)!;
    setCommandHeaders(res, outcome.revision, outcome.position);
    res
      .status(outcome.events.length ? 201 : 200)
      .location(`/api/subscriptions/devices/${deviceId}`)
      .json({ deviceId, revision: outcome.revision });
  });

  router.delete('/api/subscriptions/devices/:deviceId', auth, async (req, res) => {
    const deviceId = validated(schema.deviceParams.deviceId(req.params.deviceId, '/deviceId'));
    const expected = ifMatchRevision(req);
    const userId = caller(req);
    const outcome = await run(
      req,
      userId,
      { type: 'RemovePushDevice', userId, deviceId, at: now() },
      expected,
    );
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ deviceId, revision: outcome.revision });
  });

  // One-click unsubscribe (RFC 8058). Mail clients post the link with the
  // form body `List-Unsubscribe=One-Click`; the token in the URL says who
  // and what, so no body is read. It is open to anyone holding the link,
  // and the signature is what makes it the user's own.
  router.post(schema.UNSUBSCRIBE_PATH, async (req, res) => {
    const raw = req.query.token;
    const claim = typeof raw === 'string' ? parseUnsubscribeToken(deps.messageKeys, raw) : null;
    const scope = claim && userIdOf(claim.userId).ok ? schema.parseScope(claim.scope) : null;
    if (!claim || !scope)
      throw new Problem('validation', 'unsubscribe_token_invalid', 'This unsubscribe link is not valid.');
    const { userId } = claim;
    const command: SubscriptionCommand =
      scope.kind === 'all-email'
        ? { type: 'ChangeChannels', userId, changes: { email: false }, via: 'link', at: now() }
        : { type: 'UnsubscribeTopic', userId, topic: scope.topic, via: 'link', at: now() };
    const outcome = await run(req, userId, command);
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ status: 'unsubscribed', scope: schema.scopeText(scope) });
  });

  return router;
};
