import type { RecordedEvent } from '@lectern/schemas';
import { unsubscribeUrl } from '@lectern/schemas/notifications/subscriptions';
import { canBeSwitchedOff, templateById } from '@lectern/schemas/notifications/templates';
import { unsubscribeToken } from '@lectern/infra/notify/unsubscribe';
import type { templateRenderer } from '@lectern/schemas/notifications/render';
import type { MessageKeys } from '@lectern/infra/auth/message-secrets';
import {
  SendError,
  type EmailSender,
  type PushSender,
  type SmsSender,
} from '@lectern/infra/ports/channel-sender';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { PermanentFailure, type Reaction, type ReactionResult } from '@lectern/infra/runtime/reactor';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { Sql } from '@lectern/infra/sql/index';
import { decide, deliveryById, openDelivery, type DeliveryStatus } from './deliveries.ts';
import { recordDecision } from './decisions.ts';
import {
  identityMessageEvents,
  identityMessages,
  type PlannedMessage,
  type Recipient,
} from './identity-messages.ts';
import { requestedMessages, type Preferences } from './requested-messages.ts';
import { coursePublishedMessages, type Topic } from './fanout.ts';
import { inPool } from './pace.ts';

export type Senders = Readonly<{ email: EmailSender; sms: SmsSender; push: PushSender }>;

export type NotificationsWorkerDeps = Readonly<{
  sql: Sql;
  /** Where each decision is recorded as an event (`notification-<id>`), for the delivery log and analytics. */
  store: EventStore;
  senders: Senders;
  keys: MessageKeys;
  renderer: ReturnType<typeof templateRenderer>;
  /** The web app: links and the system variable `appUrl`. */
  appUrl: string;
  /** Where this API is reached from outside (`LECTERN_PUBLIC_URL`): the one-click unsubscribe URL's base. */
  apiUrl: string;
  /** `Name <address>` the e-mails come from; its domain names our Message-IDs. */
  from: string;
  recipientOf: (userId: string) => Promise<Recipient | null>;
  /** A user's channels and push devices (the subscriptions read model). */
  preferencesOf: (userId: string) => Promise<Preferences>;
  /** A page of the users following any of the topics (the subscriptions read model). */
  followersOf: (
    topics: readonly Topic[],
    page: { afterUserId: string | null; limit: number },
  ) => Promise<string[]>;
  /** Each channel's provider pace (see `pacer`); none = as fast as the provider answers. */
  pace?: Readonly<Partial<Record<'email' | 'sms' | 'push', { take(): Promise<void> }>>>;
  /** Messages of one fan-out page in flight at once (default 32). */
  concurrency?: number;
  clock: Clock;
}>;

/** The id of one notification: the causing event, the recipient (user, else address; and device) and the channel. */
export const notificationId = (
  eventId: string,
  m: Pick<PlannedMessage, 'channel' | 'userId' | 'address' | 'deviceId'>,
) =>
  deterministicUuid(
    `notification/${eventId}/${m.channel}/${m.userId ?? m.address}${m.deviceId ? `/${m.deviceId}` : ''}`,
  );

/** An address as the delivery log keeps it: enough to tell two apart, not to write to. */
export const maskAddress = (address: string): string =>
  address.includes('@')
    ? address.replace(/^(.).*(@.*)$/, '$1…$2')
    : address.length > 8
      ? `${address.slice(0, 3)}…${address.slice(-2)}`
      : '…';

const fromDomain = (from: string): string => /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'lectern.invalid';

/**
 * The notifications worker's reaction (`worker.notifications`): identity's
 * messages (welcome, verification, e-mail change, password reset, phone
 * code) rendered from their templates and handed to the channel's provider.
 *
 * Per message, in order:
 * 1. Its row in `notification_deliveries` is made pending unless it exists;
 *    a row already `sent` or `suppressed` ends it (never twice).
 * 2. A link or code past its life is `suppressed` (`expired`), not sent.
 * 3. The template is rendered in the recipient's language; a message that
 *    cannot be rendered is `dead` at once (a template bug, not the provider).
 * 4. The provider takes it (`sent`, with its id), or refuses: a transient
 *    refusal is `failed` and the reactor tries the event again with backoff,
 *    the last one `dead`; a permanent refusal is `dead` at once.
 */
export const notificationsReaction = (deps: NotificationsWorkerDeps): Reaction => {
  const domain = fromDomain(deps.from);
  const now = () => deps.clock.now().toISOString();

  const deliver = async (
    event: RecordedEvent,
    m: PlannedMessage,
    attempt: Readonly<{ number: number; final: boolean }>,
  ): Promise<string> => {
    const id = notificationId(event.id, m);
    const template = templateById(m.template);
    if (!template) throw new PermanentFailure(`no template ${m.template}`);
    // 1. Once, forever.
    const status = await openDelivery(
      deps.sql,
      {
        notificationId: id,
        eventId: event.id,
        eventType: event.type,
        correlationId: event.metadata.correlationId ?? null,
        template: template.id,
        templateVersion: template.version,
        channel: m.channel,
        userId: m.userId,
        address: maskAddress(m.address),
      },
      now(),
    );
    if (status === 'sent' || status === 'suppressed') {
      // Its decision may not have reached the log if a worker died right after the row: again, harmlessly.
      await recordDecision(deps.store, (await deliveryById(deps.sql, id))!, event);
      return 'skipped';
    }
    const settle = async (
      status: Exclude<DeliveryStatus, 'pending'>,
      reason: string | null,
      provider: string | null = null,
      providerRef: string | null = null,
    ) => {
      const row = await decide(
        deps.sql,
        id,
        { status, reason, provider, providerRef, attempts: attempt.number },
        now(),
      );
      await recordDecision(deps.store, row, event);
    };
    const gaveUp = (status: 'failed' | 'dead', reason: string, provider: string | null = null) =>
      settle(status, reason, provider);
    if (m.refusal) {
      await gaveUp('dead', m.refusal);
      throw new PermanentFailure(m.refusal);
    }
    // 2. Worth sending, and wanted? Security messages go whatever the user chose.
    const suppressed =
      m.expiresAt !== null && Date.parse(m.expiresAt) <= deps.clock.now().getTime()
        ? 'expired'
        : m.address === ''
          ? `no ${m.channel === 'email' ? 'address' : m.channel === 'sms' ? 'phone number' : 'push device'}`
          : canBeSwitchedOff(template) && m.preferences && !m.preferences[m.channel]
            ? `the user turned ${m.channel} off`
            : null;
    if (suppressed) {
      await settle('suppressed', suppressed);
      return 'suppressed';
    }
    // 3. The recipient's language, the system's variables: a message a user may refuse says how
    //    (RFC 8058: a signed one-click link for the header, a page of the web app for the footer).
    const recipient = m.userId ? await deps.recipientOf(m.userId) : null;
    const unsubscribe =
      m.userId && canBeSwitchedOff(template) ? unsubscribeToken(deps.keys, m.userId, 'all-email') : null;
    const system: Record<string, string> = {
      appUrl: deps.appUrl,
      unsubscribeUrl: unsubscribe
        ? `${deps.appUrl}/unsubscribe#token=${unsubscribe}`
        : `${deps.appUrl}/settings/notifications`,
    };
    const variables = Object.fromEntries(
      Object.entries({ ...system, ...m.variables }).filter(([k]) => Object.hasOwn(template.variables, k)),
    );
    const rendered = await deps.renderer.render(template.id, {
      locale: m.locale ?? recipient?.locale ?? 'en',
      variables,
      channels: [m.channel],
    });
    if (!rendered.ok) {
      const reason = `template ${template.id} cannot be rendered: ${rendered.problems.map((p) => `${p.pointer} ${p.code}`).join(', ')}`;
      await gaveUp('dead', reason);
      throw new PermanentFailure(reason);
    }
    const r = rendered.value;
    // 4. The provider.
    const messageId = `<${id}@${domain}>`;
    const common = { messageId, tag: template.id };
    await deps.pace?.[m.channel]?.take();
    try {
      let accepted: { provider: string; providerMessageId: string };
      if (m.channel === 'email') {
        if (!r.email) throw new PermanentFailure(`template ${template.id} has no e-mail`);
        accepted = await deps.senders.email.send({
          ...common,
          from: deps.from,
          to: m.address,
          subject: r.email.subject,
          text: r.email.text,
          html: r.email.html,
          headers: {
            'X-Lectern-Template': template.id,
            'X-Lectern-Notification': id,
            ...(unsubscribe
              ? {
                  'List-Unsubscribe': `<${unsubscribeUrl(deps.apiUrl, unsubscribe)}>`,
                  'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
                }
              : {}),
          },
        });
      } else if (m.channel === 'sms') {
        if (!r.sms) throw new PermanentFailure(`template ${template.id} has no SMS`);
        accepted = await deps.senders.sms.send({ ...common, to: m.address, text: r.sms.text });
      } else {
        if (!r.push) throw new PermanentFailure(`template ${template.id} has no push`);
        accepted = await deps.senders.push.send({
          ...common,
          token: m.address,
          title: r.push.title,
          body: r.push.body,
          data: r.push.data,
        });
      }
      await settle('sent', null, accepted.provider, accepted.providerMessageId);
      return 'sent';
    } catch (error) {
      if (error instanceof PermanentFailure) {
        await gaveUp('dead', error.message);
        throw error;
      }
      const provider = error instanceof SendError ? error.provider : null;
      const reason = (error as Error)?.message ?? String(error);
      if (error instanceof SendError && error.failure === 'permanent') {
        await gaveUp('dead', reason, provider);
        throw new PermanentFailure(reason, { cause: error });
      }
      await gaveUp(attempt.final ? 'dead' : 'failed', reason, provider);
      throw error;
    }
  };

  /**
   * A fan-out, page by page: each page's messages go out `concurrency` at a
   * time, each recorded on its own. One recipient's permanent failure is
   * theirs (recorded dead), not the event's; transient ones make the event
   * tried again once every page is through, and what was sent is skipped then.
   */
  const fanOut = async (
    event: RecordedEvent,
    attempt: Parameters<Reaction['handle']>[1],
  ): Promise<ReactionResult> => {
    const counts = new Map<string, number>();
    const transient: unknown[] = [];
    for await (const page of coursePublishedMessages(event, deps)) {
      await attempt.keepAlive();
      const errors = await inPool(page, deps.concurrency ?? 32, async (m) => {
        const outcome = await deliver(event, m, attempt);
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      });
      for (const error of errors) {
        if (error instanceof PermanentFailure) counts.set('dead', (counts.get('dead') ?? 0) + 1);
        else transient.push(error);
      }
    }
    if (transient.length) throw transient[0];
    const summary = [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
    return { outcome: summary ? `fanned out: ${summary}` : 'nobody follows', ref: null };
  };

  return {
    name: 'notifications',
    contexts: ['identity', 'notifications', 'content'],
    eventTypes: [...identityMessageEvents, 'notifications.NotificationRequested', 'content.CoursePublished'],
    async handle(event, attempt): Promise<ReactionResult> {
      if (event.type === 'content.CoursePublished') return fanOut(event, attempt);
      const planned =
        event.type === 'notifications.NotificationRequested'
          ? await requestedMessages(event, deps)
          : await identityMessages(event, {
              keys: deps.keys,
              appUrl: deps.appUrl,
              recipientOf: deps.recipientOf,
            });
      const outcomes: string[] = [];
      for (const m of planned) outcomes.push(await deliver(event, m, attempt));
      const outcome = outcomes.includes('sent') ? 'sent' : (outcomes[0] ?? 'nothing');
      return { outcome, ref: null };
    },
  };
};
