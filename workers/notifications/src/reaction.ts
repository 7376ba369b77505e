import type { RecordedEvent } from '@lectern/schemas';
import { decisionEventsOf, isDeliveryEvent } from '@lectern/schemas/notifications/events';
import { scopeText, unsubscribeUrl } from '@lectern/schemas/notifications/subscriptions';
import { canBeSwitchedOff, templateById, type Template } from '@lectern/schemas/notifications/templates';
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
import {
  decide,
  decideMany,
  deliveryById,
  openDeliveries,
  openDelivery,
  type Decision,
  type Delivery,
  type NewDelivery,
} from './deliveries.ts';
import { decisionsEvents, recordDecision } from './decisions.ts';
import {
  identityMessageEvents,
  identityMessages,
  type PlannedMessage,
  type Recipient,
} from './identity-messages.ts';
import { requestedMessages, type Preferences } from './requested-messages.ts';
import { coursePublishedMessages, type Follower, type Topic } from './fanout.ts';
import { pipelinePages } from './pipeline.ts';

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
  /** The users an address is (the recipients and subscriptions read models): a bare send honours their choices. */
  ownersOf: (channel: 'email' | 'sms' | 'push', address: string) => Promise<readonly string[]>;
  /** A page's recipients and channels at once (a fan-out). */
  recipientsOf: (userIds: readonly string[]) => Promise<ReadonlyMap<string, Recipient>>;
  /** Those of the users the recipients read model has caught up with (see `FanoutDeps`). */
  recipientsApplied: (userIds: readonly string[]) => Promise<ReadonlySet<string>>;
  preferencesOfUsers: (userIds: readonly string[]) => Promise<ReadonlyMap<string, Preferences>>;
  /** A page of the users following any of the topics (the subscriptions read model). */
  followersOf: (
    topics: readonly Topic[],
    page: { afterUserId: string | null; limit: number },
  ) => Promise<readonly Follower[]>;
  /** Each channel's provider pace (see `pacer`); none = as fast as the provider answers. */
  pace?: Readonly<Partial<Record<'email' | 'sms' | 'push', { take(): Promise<void> }>>>;
  /** Messages of a fan-out in flight at once (default `SEND_CONCURRENCY`). */
  concurrency?: number;
  clock: Clock;
}>;

/** Messages of a fan-out in flight at once, by default: what a provider's connection pool is sized for. */
export const SEND_CONCURRENCY = 64;

/** The id of one notification: the causing event, the recipient (user, else address; and device) and the channel. */
export const notificationId = (
  eventId: string,
  m: Pick<PlannedMessage, 'channel' | 'userId' | 'address' | 'deviceId'>,
) =>
  deterministicUuid(
    `notification/${eventId}/${m.channel}/${m.userId ?? m.address}${m.deviceId ? `/${m.deviceId}` : ''}`,
  );

/** An address as the delivery log keeps it: enough to tell two apart, not to write to. */
export const maskAddress = (address: string): string => {
  // By code point: a cut through a surrogate pair would leave text that is not Unicode.
  if (address.includes('@')) return address.replace(/^(.).*(@.*)$/su, '$1…$2');
  const points = Array.from(address);
  return points.length > 8 ? `${points.slice(0, 3).join('')}…${points.slice(-2).join('')}` : '…';
};

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

  type Attempt = Readonly<{ number: number; final: boolean }>;
  /** A try's outcome: the decision to record, and the failure to raise once it is recorded. */
  type Tried = Readonly<{ decision: Omit<Decision, 'notificationId'>; failure: unknown }>;

  const rowOf = (event: RecordedEvent, m: PlannedMessage, template: Template, id: string): NewDelivery => ({
    notificationId: id,
    eventId: event.id,
    eventType: event.type,
    correlationId: event.metadata.correlationId ?? null,
    template: template.id,
    templateVersion: template.version,
    channel: m.channel,
    userId: m.userId ?? m.ownerId ?? null,
    address: maskAddress(m.address),
  });

  /** Why a message is not worth sending or not wanted (security messages go whatever the user chose); null to send. */
  const suppression = (m: PlannedMessage, template: Template): string | null =>
    m.expiresAt !== null && Date.parse(m.expiresAt) <= deps.clock.now().getTime()
      ? 'expired'
      : m.address === ''
        ? `no ${m.channel === 'email' ? 'address' : m.channel === 'sms' ? 'phone number' : 'push device'}`
        : canBeSwitchedOff(template) && m.preferences && !m.preferences[m.channel]
          ? `the user turned ${m.channel} off`
          : null;

  /**
   * Renders a message and hands it to its channel's provider: what happened,
   * as a decision, never thrown. The recipient's language, and the system's
   * variables: a message a user may refuse says how (RFC 8058: a signed
   * one-click link for the header, a page of the web app for the footer).
   */
  const attemptSend = async (
    event: RecordedEvent,
    m: PlannedMessage,
    template: Template,
    id: string,
    attempt: Attempt,
  ): Promise<Tried> => {
    const gaveUp = (
      reason: string,
      failure: unknown,
      provider: string | null = null,
      final = true,
    ): Tried => ({
      decision: {
        status: final ? 'dead' : 'failed',
        reason,
        provider,
        providerRef: null,
        attempts: attempt.number,
      },
      failure,
    });
    try {
      const locale = m.locale ?? (m.userId ? (await deps.recipientOf(m.userId))?.locale : null) ?? 'en';
      // The link turns off the topic the message came by, or e-mail when it came by none: only an
      // e-mail carries it (a push or an SMS gets the settings page), and a message that cannot be
      // switched off (security, account) carries none.
      const unsubscribe =
        m.channel === 'email' && m.userId && canBeSwitchedOff(template)
          ? unsubscribeToken(
              deps.keys,
              m.userId,
              scopeText(m.topic ? { kind: 'topic', topic: m.topic } : { kind: 'all-email' }),
            )
          : null;
      const system: Record<string, string> = {
        appUrl: deps.appUrl,
        unsubscribeUrl: unsubscribe
          ? `${deps.appUrl}/unsubscribe#token=${unsubscribe}`
          : `${deps.appUrl}/settings/notifications`,
      };
      const variables = Object.fromEntries(
        Object.entries({ ...system, ...m.variables }).filter(([k]) => Object.hasOwn(template.variables, k)),
      );
      const rendered = await deps.renderer.render(template.id, { locale, variables, channels: [m.channel] });
      if (!rendered.ok) {
        const reason = `template ${template.id} cannot be rendered: ${rendered.problems.map((p) => `${p.pointer} ${p.code}`).join(', ')}`;
        return gaveUp(reason, new PermanentFailure(reason));
      }
      const r = rendered.value;
      const common = {
        messageId: `<${id}@${domain}>`,
        tag: template.id,
        cause: { eventId: event.id, correlationId: event.metadata.correlationId ?? null },
      };
      await deps.pace?.[m.channel]?.take();
      let accepted: { provider: string; providerMessageId: string };
      if (m.channel === 'email' && r.email)
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
      else if (m.channel === 'sms' && r.sms)
        accepted = await deps.senders.sms.send({ ...common, to: m.address, text: r.sms.text });
      else if (m.channel === 'push' && r.push)
        accepted = await deps.senders.push.send({
          ...common,
          token: m.address,
          title: r.push.title,
          body: r.push.body,
          data: r.push.data,
        });
      else {
        const reason = `template ${template.id} has no ${m.channel}`;
        return gaveUp(reason, new PermanentFailure(reason));
      }
      return {
        decision: {
          status: 'sent',
          reason: null,
          provider: accepted.provider,
          providerRef: accepted.providerMessageId,
          attempts: attempt.number,
        },
        failure: null,
      };
    } catch (error) {
      const provider = error instanceof SendError ? error.provider : null;
      const reason = (error as Error)?.message ?? String(error);
      if (error instanceof PermanentFailure) return gaveUp(reason, error, provider);
      if (error instanceof SendError && error.failure === 'permanent')
        return gaveUp(reason, new PermanentFailure(reason, { cause: error }), provider);
      return gaveUp(reason, error, provider, attempt.final);
    }
  };

  /** One message, its row and its decision event each written on its own (identity's, a request's). */
  const deliver = async (event: RecordedEvent, m: PlannedMessage, attempt: Attempt): Promise<string> => {
    const id = notificationId(event.id, m);
    const template = templateById(m.template);
    if (!template) throw new PermanentFailure(`no template ${m.template}`);
    // 1. Once, forever.
    const status = await openDelivery(deps.sql, rowOf(event, m, template, id), now());
    if (status === 'sent' || status === 'suppressed') {
      // Its decision may not have reached the log if a worker died right after the row: again, harmlessly.
      await recordDecision(deps.store, (await deliveryById(deps.sql, id))!, event);
      return 'skipped';
    }
    const settle = async (decision: Omit<Decision, 'notificationId'>) =>
      recordDecision(deps.store, await decide(deps.sql, id, decision, now()), event);
    // 2. Sendable, worth sending, wanted?
    if (m.refusal) {
      await settle({
        status: 'dead',
        reason: m.refusal,
        provider: null,
        providerRef: null,
        attempts: attempt.number,
      });
      throw new PermanentFailure(m.refusal);
    }
    const suppressed = suppression(m, template);
    if (suppressed) {
      await settle({
        status: 'suppressed',
        reason: suppressed,
        provider: null,
        providerRef: null,
        attempts: attempt.number,
      });
      return 'suppressed';
    }
    // 3. Rendered and handed over; what happened is recorded before any failure is raised.
    const tried = await attemptSend(event, m, template, id, attempt);
    await settle(tried.decision);
    if (tried.failure) throw tried.failure;
    return 'sent';
  };

  /**
   * A fan-out, a page at a time, each page in a few statements rather than a
   * few per message: its rows opened at once, its messages sent
   * `concurrency` at a time, its decisions recorded at once, and appended to
   * the fan-out's own stream (`notificationfanout-<id of the cause>`) in one
   * append, as a few `NotificationsDecided` events of up to 500 decisions
   * each. That stream is read first, so a retried fan-out appends only the
   * decisions the log lacks. One recipient's permanent failure is theirs
   * (recorded dead), not the event's; transient ones make the event tried
   * again once every page is through, and what was sent is skipped then.
   *
   * Pages overlap (`pipelinePages`): while one page's messages are with
   * the provider, the next page is read and its rows opened, and the page
   * before is recorded; the messages of all pages share `concurrency`
   * slots. Records stay in page order (each append states the revision the
   * last one left), and a page is sent only once its rows are open, so what
   * a crash leaves is what it left before: rows pending for messages the
   * provider may have taken (sent again on takeover, with the same key).
   * On a failure nothing more is sent, what is under way settles, and the
   * failure is the event's.
   */
  const fanOut = async (
    event: RecordedEvent,
    attempt: Parameters<Reaction['handle']>[1],
  ): Promise<ReactionResult> => {
    const stream = `notificationfanout-${deterministicUuid(`fanout/${event.id}`)}`;
    const earlier = await deps.store.readStream(stream);
    // By decision: the stream may hold single decisions (before NotificationsDecided) and pages of them.
    const logged = new Set(
      earlier.flatMap((e) => (isDeliveryEvent(e) ? decisionEventsOf(e).map((d) => d.id) : [])),
    );
    let revision: number | 'no_stream' = earlier.length ? earlier[earlier.length - 1]!.revision : 'no_stream';
    const template = templateById('course-published')!;
    const counts = new Map<string, number>();
    const count = (k: string, n = 1) => counts.set(k, (counts.get(k) ?? 0) + n);
    let transient: unknown = null;
    /** Followers the recipients read model did not know yet: the event is tried again for them. */
    let lagging = 0;

    type Page = Readonly<{ decisions: Decision[]; final: Delivery[]; toSend: [PlannedMessage, string][] }>;
    const pages = coursePublishedMessages(event, deps);
    /** The next page read, its rows made where new (pending, or suppressed at once), and sorted. */
    const prepare = async (): Promise<Page | null> => {
      const next = await pages.next();
      if (next.done) return null;
      const page = next.value.messages;
      lagging += next.value.lagging.length;
      await attempt.keepAlive();
      const ids = page.map((m) => notificationId(event.id, m));
      // Not worth sending or not wanted: suppressed as the row is made (or, on a retry, decided so below).
      const suppressions = page.map((m) => suppression(m, template));
      const opened = await openDeliveries(
        deps.sql,
        page.map((m, i) => {
          const reason = suppressions[i];
          return {
            ...rowOf(event, m, template, ids[i]!),
            suppressed: reason ? { reason, attempts: attempt.number } : null,
          };
        }),
        now(),
      );
      const decisions: Decision[] = [];
      const final: Delivery[] = [];
      const toSend: [PlannedMessage, string][] = [];
      page.forEach((m, i) => {
        const { row, made } = opened.get(ids[i]!)!;
        if (row.status === 'sent' || row.status === 'suppressed') {
          count(made ? 'suppressed' : 'skipped');
          return void final.push(row);
        }
        const suppressed = suppressions[i];
        if (suppressed)
          decisions.push({
            notificationId: row.notificationId,
            status: 'suppressed',
            reason: suppressed,
            provider: null,
            providerRef: null,
            attempts: attempt.number,
          });
        else toSend.push([m, row.notificationId]);
      });
      return { decisions, final, toSend };
    };
    /** A sent page recorded: its rows at once, then every decision the log lacks in one append. */
    const record = async ({ decisions, final }: Page): Promise<void> => {
      for (const d of decisions) count(d.status);
      const decided = await decideMany(deps.sql, decisions, now());
      const events = decisionsEvents([...final, ...decided], event, logged);
      if (events.length === 0) return;
      const appended = await deps.store.append(stream, events, { expectedRevision: revision });
      revision = appended.nextExpectedRevision;
      for (const e of events) for (const d of e.data.decisions) logged.add(d.decisionId);
    };

    try {
      await pipelinePages({
        next: prepare,
        items: (page) => page.toSend,
        send: async ([m, id], page) => {
          const tried = await attemptSend(event, m, template, id, attempt);
          page.decisions.push({ notificationId: id, ...tried.decision });
          if (tried.failure && !(tried.failure instanceof PermanentFailure)) transient ??= tried.failure;
        },
        record,
        concurrency: deps.concurrency ?? SEND_CONCURRENCY,
      });
    } finally {
      await pages.return(undefined);
    }
    if (transient) throw transient;
    // Not "no address" but not projected yet: a try later (the reactor's backoff) finds them.
    if (lagging)
      throw new Error(`${lagging} followers are not yet in the recipients read model; trying again`);
    const summary = [...counts]
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
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
