import {
  notificationRecipientsProjection,
  recipientById,
  recipientIdsByAddress,
  registrationsOf,
  recipientsByIds,
} from '@lectern/notifications-projection-recipients';
import { notificationLogProjection } from '@lectern/notifications-projection-deliveries';
import { sendRoutes, subscriptionCommandRoutes } from '@lectern/notifications-commands';
import {
  channelsOfUsers,
  followersOfAny,
  preferencesOf,
  usersOfPushToken,
  subscriptionsProjection,
} from '@lectern/notifications-projection-subscriptions';
import {
  devMailboxRoutes,
  notificationAdminRoutes,
  subscriptionQueryRoutes,
  notificationsUserChannel,
} from '@lectern/notifications-queries';
import {
  migrateDeliveries,
  notificationsReaction,
  pacer,
  SEND_CONCURRENCY,
  type Senders,
} from '@lectern/notifications-worker';
import {
  notificationsApi,
  notificationsDevApi,
  notificationsDevTags,
  notificationsTags,
} from '@lectern/schemas/notifications/api';
import { templateRenderer } from '@lectern/schemas/notifications/render';
import { subscriptionsApi, subscriptionsTags } from '@lectern/schemas/notifications/subscriptions-api';
import { devMailbox } from '@lectern/infra/notify/dev-mailbox';
import { failoverSender, failoverWarning, tracedSender } from '@lectern/infra/notify/failover';
import { httpPushSender, httpSmsSender } from '@lectern/infra/notify/http-sender';
import { smtpSender } from '@lectern/infra/notify/smtp-sender';
import { SendError, type ChannelSender, type MessageCause } from '@lectern/infra/ports/channel-sender';
import type { ContextModule, Platform } from '@lectern/infra/runtime/context-module';
import { reactorWorker } from '@lectern/infra/runtime/reactor';
import { notificationEvents } from '@lectern/schemas/notifications/catalogue';
import { notificationsUserItemFrame } from '@lectern/schemas/notifications/socket';
import { notificationStreams } from './streams.ts';

/** A channel's provider as configured: its URL and the file holding its credential. */
export type Provider = Readonly<{
  name: string;
  url: string;
  user: string | null;
  secretFile: string | null;
}>;

export type NotificationsSettings = Readonly<{
  /** The web app: links point there. */
  appUrl: string;
  /** Where clients reach the API: the base of one-click unsubscribe URLs. */
  apiUrl: string;
  /** Who the e-mails are from. */
  from: string;
  /** Per channel, the primary then the fallback; none = the development mailbox (refused in production). */
  providers: Readonly<{ email: readonly Provider[]; sms: readonly Provider[]; push: readonly Provider[] }>;
  /** Per channel, the most messages a second this process hands its provider (their quotas). */
  perSecond: Readonly<{ email: number; sms: number; push: number }>;
}>;

/**
 * The senders of a process: the configured providers of each channel with
 * failover from the first to the next, or, for a channel with none outside
 * production, the development mailbox. In production a channel with no
 * provider refuses every message permanently, so it is dead-lettered and
 * recorded with its reason, never dropped in silence (the configuration
 * already demands SMTP there).
 */
const sendersOf = async (p: Platform, settings: NotificationsSettings): Promise<Senders> => {
  const mailbox = p.production ? null : await devMailbox(p.sql);
  const channel = async <M extends Readonly<{ cause?: MessageCause }>>(
    providers: readonly Provider[],
    make: (provider: Provider) => Promise<ChannelSender<M>>,
    fallback: ChannelSender<M> | undefined,
    what: string,
  ): Promise<ChannelSender<M>> => {
    if (providers.length) {
      const senders = await Promise.all(providers.map(make));
      return tracedSender(what, failoverSender(senders, failoverWarning(p.logger, what)));
    }
    if (fallback) return tracedSender(what, fallback);
    return {
      name: 'none',
      send: async () => {
        throw new SendError('none', 'permanent', null, `no ${what} provider is configured`);
      },
      close: async () => {},
    };
  };
  return {
    email: await channel(
      settings.providers.email,
      (pr) => smtpSender({ url: pr.url, user: pr.user, passwordFile: pr.secretFile, name: pr.name }),
      mailbox?.email,
      'e-mail',
    ),
    sms: await channel(
      settings.providers.sms,
      (pr) =>
        httpSmsSender({
          name: pr.name,
          url: pr.url,
          tokenFile: pr.secretFile,
          connections: SEND_CONCURRENCY,
        }),
      mailbox?.sms,
      'SMS',
    ),
    push: await channel(
      settings.providers.push,
      (pr) =>
        httpPushSender({
          name: pr.name,
          url: pr.url,
          tokenFile: pr.secretFile,
          connections: SEND_CONCURRENCY,
        }),
      mailbox?.push,
      'push',
    ),
  };
};

/**
 * Notifications: identity's messages (welcome, verification, e-mail change,
 * password reset, phone codes) rendered from versioned templates and
 * delivered through the channels' providers by the `notifications` worker,
 * once per (event, recipient, channel), forever. Outside production it
 * mounts the development mailbox, `GET /api/dev/outbox`.
 */
export const notificationsModule = (settings: NotificationsSettings): ContextModule => ({
  name: 'notifications',
  streams: notificationStreams,
  projections: [notificationRecipientsProjection, notificationLogProjection, subscriptionsProjection],
  workers: [
    reactorWorker({
      name: 'notifications',
      contexts: ['identity', 'notifications', 'content'],
      reaction: async (p) => {
        await migrateDeliveries(p.sql);
        const senders = await sendersOf(p, settings);
        return {
          reaction: notificationsReaction({
            sql: p.sql,
            store: p.store,
            senders,
            keys: p.messageKeys,
            renderer: templateRenderer(),
            appUrl: settings.appUrl,
            apiUrl: settings.apiUrl,
            from: settings.from,
            recipientOf: (userId) => recipientById(p.sql, userId),
            preferencesOf: (userId) => preferencesOf(p.sql, userId),
            ownersOf: (channel, address) =>
              channel === 'push'
                ? usersOfPushToken(p.sql, address)
                : recipientIdsByAddress(p.sql, channel, address),
            followersOf: (topics, page) => followersOfAny(p.sql, topics, page),
            recipientsOf: (userIds) => recipientsByIds(p.sql, userIds),
            recipientsApplied: async (userIds) => {
              const registered = await registrationsOf(p.store, userIds);
              const caughtUp = await Promise.all(
                [...registered].map(async ([userId, r]) =>
                  (await p.waitFor(notificationRecipientsProjection.name, r.streamId, r.position))
                    ? [userId]
                    : [],
                ),
              );
              return new Set([...userIds.filter((u) => !registered.has(u)), ...caughtUp.flat()]);
            },
            preferencesOfUsers: (userIds) => channelsOfUsers(p.sql, userIds),
            pace: {
              email: pacer(settings.perSecond.email),
              sms: pacer(settings.perSecond.sms),
              push: pacer(settings.perSecond.push),
            },
            clock: p.clock,
          }),
          close: async () => {
            await Promise.all([senders.email.close(), senders.sms.close(), senders.push.close()]);
          },
        };
      },
    }),
  ],
  routes: async (p) => [
    sendRoutes({
      store: p.store,
      verify: p.auth.verify,
      clock: p.clock,
      renderer: templateRenderer(),
      appUrl: settings.appUrl,
    }),
    subscriptionCommandRoutes({
      store: p.store,
      verify: p.auth.verify,
      clock: p.clock,
      messageKeys: p.messageKeys,
    }),
    subscriptionQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor }),
    notificationAdminRoutes({ sql: p.sql, verify: p.auth.verify }),
    ...(p.production ? [] : [devMailboxRoutes(await devMailbox(p.sql))]),
  ],
  realtime: async () => ({ channels: [notificationsUserChannel()] }),
  asyncApi: {
    context: 'notifications',
    topics: [
      {
        name: 'notifications.events',
        description: 'Subscriptions, sends and what each delivery did.',
        events: notificationEvents,
      },
    ],
    socket: {
      items: [
        {
          kind: 'user',
          description: 'Your own channel: notifications sent to you.',
          frame: notificationsUserItemFrame,
        },
      ],
    },
  },
  api: [
    { name: 'notifications', operations: notificationsApi, tags: notificationsTags },
    { name: 'notifications-subscriptions', operations: subscriptionsApi, tags: subscriptionsTags },
    {
      name: 'notifications-development',
      operations: notificationsDevApi,
      tags: notificationsDevTags,
      developmentOnly: true,
    },
  ],
});
