import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  boolean,
  describe,
  isoTime as isoTimeOf,
  object,
  oneOf,
  partialObject,
  string,
  uuid as uuidOf,
  type Validator,
} from '../validation.ts';

/*
 * A user's subscriptions: the channels they accept, their push devices and
 * the topics they follow. One stream per user, `subscriptions-<userId>`.
 *
 * Security messages (e-mail verification, password reset, phone codes) are
 * not governed by any of this: the worker sends them whatever the user
 * chose, so there is no switch for them here to turn off.
 */

/** The channels a user can accept or refuse (the same as the worker's `channels`, in events.ts). */
export const channelNames = ['email', 'sms', 'push'] as const;
export type Channels = Readonly<Record<(typeof channelNames)[number], boolean>>;

/** Before a user chooses, every channel is on. */
export const defaultChannels: Channels = { email: true, sms: true, push: true };

/** What a user can follow: a course (its updates), or an author (their new courses). */
export const topicKinds = ['course', 'author'] as const;
export type TopicKind = (typeof topicKinds)[number];
export type Topic = Readonly<{ kind: TopicKind; id: string }>;

export const pushPlatforms = ['ios', 'android', 'web'] as const;
export type PushPlatform = (typeof pushPlatforms)[number];

/** How an unsubscription came: from the user's settings, or from a link in a message (RFC 8058). */
export const unsubscribeVias = ['user', 'link'] as const;
export type UnsubscribeVia = (typeof unsubscribeVias)[number];

/** The most push devices a user may register: more is a 409 `too_many_devices`. */
export const MAX_PUSH_DEVICES = 10;
/** The most topics a user may follow: more is a 409 `too_many_topics`. */
export const MAX_TOPICS = 500;
/** The longest push token we keep: the push services' own are far shorter. */
export const PUSH_TOKEN_MAX = 4096;

/** The channels as they are after the change (not a difference), so a reader needs no history. */
export type ChannelsChanged = Readonly<{
  userId: string;
  email: boolean;
  sms: boolean;
  push: boolean;
  /** `link`: the one-click unsubscribe link of an e-mail turned e-mail off. */
  via: UnsubscribeVia;
  changedAt: string;
}>;

export type TopicSubscribed = Readonly<{ userId: string; topic: Topic; subscribedAt: string }>;

export type TopicUnsubscribed = Readonly<{
  userId: string;
  topic: Topic;
  via: UnsubscribeVia;
  unsubscribedAt: string;
}>;

/**
 * A device that accepts push messages. The token is the push service's
 * address of the app on the device (APNs, FCM, Web Push), not a credential
 * of ours: the worker needs it as it is to send.
 */
export type PushDeviceRegistered = Readonly<{
  userId: string;
  deviceId: string;
  token: string;
  platform: PushPlatform;
  registeredAt: string;
}>;

export type PushDeviceRemoved = Readonly<{ userId: string; deviceId: string; removedAt: string }>;

/** The events of a `subscriptions-<userId>` stream, as its decider states them. */
export type SubscriptionEvent =
  | DomainEvent<'notifications.ChannelsChanged', ChannelsChanged>
  | DomainEvent<'notifications.TopicSubscribed', TopicSubscribed>
  | DomainEvent<'notifications.TopicUnsubscribed', TopicUnsubscribed>
  | DomainEvent<'notifications.PushDeviceRegistered', PushDeviceRegistered>
  | DomainEvent<'notifications.PushDeviceRemoved', PushDeviceRemoved>;

/** The same events as read back from the store or the log, narrowed by `type`. */
export type RecordedSubscriptionEvent = RecordedEventOf<SubscriptionEvent>;

const isoTime = isoTimeOf();
const uuid = uuidOf();
const flag = boolean();
const via = oneOf(unsubscribeVias);

/** A topic: its kind and the id of the course or the author. */
export const topic: Validator<Topic> = describe(object({ kind: oneOf(topicKinds), id: uuid }), {
  title: 'NotificationTopic',
  description: 'A course (its updates) or an author (their new courses), by id.',
  example: { kind: 'course', id: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d' },
});

export const subscriptionEvents: CatalogueOf<SubscriptionEvent> = {
  'notifications.ChannelsChanged': [
    {
      version: 1,
      validate: object({
        userId: uuid,
        email: flag,
        sms: flag,
        push: flag,
        via,
        changedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'notifications.TopicSubscribed': [
    {
      version: 1,
      validate: object({ userId: uuid, topic, subscribedAt: isoTime }) as Validator<unknown>,
    },
  ],
  'notifications.TopicUnsubscribed': [
    {
      version: 1,
      validate: object({ userId: uuid, topic, via, unsubscribedAt: isoTime }) as Validator<unknown>,
    },
  ],
  'notifications.PushDeviceRegistered': [
    {
      version: 1,
      validate: object({
        userId: uuid,
        deviceId: uuid,
        token: string({ min: 1, max: PUSH_TOKEN_MAX, trim: false }),
        platform: oneOf(pushPlatforms),
        registeredAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
  'notifications.PushDeviceRemoved': [
    {
      version: 1,
      validate: object({ userId: uuid, deviceId: uuid, removedAt: isoTime }) as Validator<unknown>,
    },
  ],
};

/** Narrows a recorded event to the subscriptions' union (see `eventGuard`). */
export const isSubscriptionEvent = eventGuard<SubscriptionEvent>(subscriptionEvents);

export const subscriptionsStreamId = (userId: string): string => `subscriptions-${userId}`;

/** Two topics are one when kind and id are. */
export const sameTopic = (a: Topic, b: Topic): boolean => a.kind === b.kind && a.id === b.id;

// Requests: what the routes accept. The routes validate with these, and the API document is generated from them.

/** `PUT /api/subscriptions/channels`: any subset of the channels, each on or off. */
export const channelChanges = describe(partialObject({ email: flag, sms: flag, push: flag }), {
  title: 'ChannelChanges',
  description: 'The channels to turn on (`true`) or off (`false`); channels left out stay as they are.',
  example: { sms: false },
});

/** Path parameters of `/api/subscriptions/topics/:kind/:id`. */
export const topicParams = {
  kind: describe(oneOf(topicKinds), { description: 'What to follow: a `course` or an `author`.' }),
  id: describe(uuid, {
    description: 'The id of the course or of the author (a user id).',
    example: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d',
  }),
} as const;

/** `POST /api/subscriptions/devices`. */
export const pushDeviceRegistration: Validator<Readonly<{ token: string; platform: PushPlatform }>> =
  describe(
    object({
      token: describe(string({ min: 1, max: PUSH_TOKEN_MAX, trim: false }), {
        description: `The push service's token of the app on this device, as the platform gave it (at most ${PUSH_TOKEN_MAX} characters).`,
      }),
      platform: describe(oneOf(pushPlatforms), { description: 'Which push service the token is of.' }),
    }),
    {
      title: 'PushDeviceRegistration',
      example: { token: 'fcm:APA91bH-example-token', platform: 'android' },
    },
  );

/** Path parameter of `/api/subscriptions/devices/:deviceId`. */
export const deviceParams = {
  deviceId: describe(uuid, { description: 'The `deviceId` registering the device answered.' }),
} as const;

/**
 * What a one-click unsubscribe link turns off: e-mail as a whole, or one
 * topic. Written into the link's token as `all-email`, `course:<id>` or
 * `author:<id>`.
 */
export type UnsubscribeScope = Readonly<{ kind: 'all-email' }> | Readonly<{ kind: 'topic'; topic: Topic }>;

/**
 * A scope as a link's token carries it.
 *
 * @example scopeText({ kind: 'topic', topic: { kind: 'course', id } }) // `course:${id}`
 */
export const scopeText = (scope: UnsubscribeScope): string =>
  scope.kind === 'all-email' ? 'all-email' : `${scope.topic.kind}:${scope.topic.id}`;

/** The scope a token's text names; null when it names none. */
export const parseScope = (text: string): UnsubscribeScope | null => {
  if (text === 'all-email') return { kind: 'all-email' };
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const parsed = topic({ kind: text.slice(0, colon), id: text.slice(colon + 1) });
  return parsed.ok ? { kind: 'topic', topic: parsed.value } : null;
};

/** Where a one-click unsubscribe link posts to (RFC 8058): the API's, not the web app's. */
export const UNSUBSCRIBE_PATH = '/api/subscriptions/unsubscribe';

/**
 * The one-click unsubscribe URL of a message, for its `List-Unsubscribe`
 * header (with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`) and its
 * footer link.
 *
 * @example unsubscribeUrl('https://api.lectern.dev', unsubscribeToken(keys, userId, 'all-email'))
 */
export const unsubscribeUrl = (apiBaseUrl: string, token: string): string =>
  `${apiBaseUrl.replace(/\/+$/, '')}${UNSUBSCRIBE_PATH}?token=${encodeURIComponent(token)}`;
