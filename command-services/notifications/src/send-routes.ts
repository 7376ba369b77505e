import { Router } from 'express';
import { templateById, type Template } from '@lectern/schemas/notifications/templates';
import type { templateRenderer } from '@lectern/schemas/notifications/render';
import {
  notificationRequestStreamId,
  previewRequest,
  sendEvents,
  sendRequest,
  type SendRecipient,
} from '@lectern/schemas/notifications/sends';
import type { Channel } from '@lectern/schemas/notifications/events';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { jsonBody } from '@lectern/infra/http/app';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { sendDecider } from './domain/send.ts';

export type SendDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
  renderer: ReturnType<typeof templateRenderer>;
  /** The web app: the value previews give the system variable `appUrl`. */
  appUrl: string;
}>;

/** Who may send and preview: admins (and the services that hold an admin token). */
const SENDERS = ['admin'] as const;

/** What a preview or a send is rendered with besides the caller's variables: examples of what the worker fills in. */
const systemExamples = (appUrl: string): Record<string, string> => ({
  appUrl,
  unsubscribeUrl: `${appUrl}/unsubscribe#token=example`,
});

/** The channels a template has texts for. */
const offeredBy = (t: Template): Channel[] =>
  (['email', 'sms', 'push'] as const).filter((c) => t[c] !== undefined);

const channelOf = (r: SendRecipient): Channel | null =>
  'email' in r ? 'email' : 'phone' in r ? 'sms' : 'pushToken' in r ? 'push' : null;

/**
 * `POST /api/notify/preview` renders the channels asked for (every one of
 * the template when none are) with the given variables and sends nothing; `POST /api/notify/send` asks the
 * notifications worker to send it (202). Both refuse, with a pointer per
 * problem, what the worker could not send: an unknown template, a missing,
 * unknown or ill-typed variable (never a blank in a sent message), an SMS
 * over three segments, a channel the template does not have.
 */
export const sendRoutes = (deps: SendDeps): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole(...SENDERS)];

  const rendered = async (
    template: string,
    locale: string,
    variables: Readonly<Record<string, string | number>>,
    channels?: readonly Channel[],
  ) => {
    const t = templateById(template);
    if (!t)
      throw new Problem('validation', 'template_unknown', `There is no template '${template}'.`, {
        issues: [{ path: '/template', message: 'is not a template' }],
      });
    // The caller gives the caller's variables; system ones are the worker's, filled with examples here.
    const system = systemExamples(deps.appUrl);
    const forbidden = Object.keys(variables).filter((k) => t.variables[k]?.source === 'system');
    if (forbidden.length)
      throw validationProblem(
        forbidden.map((k) => ({
          path: `/variables/${k}`,
          message: 'is filled in by the notifications worker',
        })),
      );
    const all = {
      ...Object.fromEntries(Object.entries(system).filter(([k]) => t.variables[k]?.source === 'system')),
      ...variables,
    };
    const r = await deps.renderer.render(template, {
      locale,
      variables: all,
      ...(channels ? { channels } : {}),
    });
    if (!r.ok) {
      const codes = [...new Set(r.problems.map((p) => p.code))];
      throw new Problem(
        'validation',
        codes.length === 1 ? codes[0]! : 'template_variables_invalid',
        'The template cannot be rendered with these variables.',
        { issues: r.problems.map((p) => ({ path: p.pointer, message: p.message })) },
      );
    }
    return { template: t, value: r.value };
  };

  router.post('/api/notify/preview', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...SENDERS);
    const body = previewRequest(jsonBody(req));
    if (!body.ok) throw validationProblem(body.issues);
    const asked = body.value.channels;
    const t = templateById(body.value.template);
    // A channel the template lacks is refused, not left out in silence: the caller would
    // otherwise take a missing part of the answer for a channel that renders to nothing.
    if (t && asked) {
      const offered = offeredBy(t);
      const missing = asked.flatMap((c, i) => (offered.includes(c) ? [] : [i]));
      if (missing.length)
        throw new Problem(
          'validation',
          'channel_not_in_template',
          `Template '${t.id}' has no ${missing.map((i) => asked[i]).join(' or ')}.`,
          {
            issues: missing.map((i) => ({
              path: `/channels/${i}`,
              message: `the template has ${offered.join(', ')}`,
            })),
          },
        );
    }
    const { value } = await rendered(
      body.value.template,
      body.value.locale ?? 'en',
      body.value.variables,
      asked ? [...new Set(asked)] : undefined,
    );
    res.setHeader('Cache-Control', 'no-store');
    res.json(value);
  });

  router.post('/api/notify/send', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, ...SENDERS);
    const body = sendRequest(jsonBody(req));
    if (!body.ok) throw validationProblem(body.issues);
    const { template: id, recipient, variables, locale } = body.value;
    const t = templateById(id);
    const offered = t ? offeredBy(t) : [];
    // 1. The channels: those asked for (or all the template has), and for an address only its own.
    //    Asking an address for another channel is refused, not narrowed in silence: the caller
    //    would otherwise believe a push or an SMS went out that never could.
    const direct = channelOf(recipient);
    const foreign = direct ? (body.value.channels ?? []).flatMap((c, i) => (c === direct ? [] : [i])) : [];
    if (foreign.length)
      throw new Problem(
        'validation',
        'channel_not_for_recipient',
        `A bare ${direct === 'sms' ? 'phone number' : direct === 'push' ? 'push token' : 'e-mail address'} is reached by ${direct} only.`,
        {
          issues: foreign.map((i) => ({
            path: `/channels/${i}`,
            message: `the recipient takes ${direct} only`,
          })),
        },
      );
    let channels = body.value.channels ? [...new Set(body.value.channels)] : offered;
    if (direct) channels = channels.filter((c) => c === direct);
    const missing = (body.value.channels ?? (direct ? [direct] : [])).filter((c) => !offered.includes(c));
    if (t && (missing.length || channels.length === 0))
      throw new Problem(
        'validation',
        'channel_not_in_template',
        `Template '${id}' cannot go out by that channel.`,
        {
          issues: [
            {
              path: body.value.channels ? '/channels' : '/recipient',
              message: `the template has ${offered.join(', ')}`,
            },
          ],
        },
      );
    // 2. Rendered now, so what the worker would refuse is refused here.
    const { template } = await rendered(id, locale ?? 'en', variables, channels);
    // 3. The request, once (its id from the command id).
    const requestId = deterministicUuid(`notification-request/${req.ctx.commandId}`);
    const outcome = await handleCommand({
      store: deps.store,
      catalogue: sendEvents,
      streamId: notificationRequestStreamId(requestId),
      decider: sendDecider,
      commandId: req.ctx.commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: eventMetadata(req.ctx),
      command: {
        type: 'RequestNotification',
        requestId,
        template: template.id,
        templateVersion: template.version,
        channels,
        recipient,
        variables,
        locale: locale ?? null,
        requestedBy: req.ctx.actor!.userId!,
        requestedAt: deps.clock.now().toISOString(),
      },
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(202).json({ requestId, template: template.id, templateVersion: template.version, channels });
  });

  return router;
};
