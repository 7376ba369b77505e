import { subscriptionsDecider } from '@lectern/notifications-commands';
import { sendDecider } from '@lectern/notifications-commands/domain/send';
import { aggregateStream, recordStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import {
  deliveryEvents,
  type DeliveryDomainEvent,
  type DeliveryLogDomainEvent,
} from '@lectern/schemas/notifications/events';
import { sendEvents } from '@lectern/schemas/notifications/sends';
import { subscriptionEvents } from '@lectern/schemas/notifications/subscriptions';

const decisions = {
  'notifications.NotificationSent': true,
  'notifications.NotificationSuppressed': true,
  'notifications.NotificationFailed': true,
} as const;

/** Notifications' streams, as the audit tools read them. */
export const notificationStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'subscriptions',
    description: "a user's channels, topics and push devices",
    decider: subscriptionsDecider,
    catalogue: subscriptionEvents,
    types: {
      'notifications.ChannelsChanged': true,
      'notifications.TopicSubscribed': true,
      'notifications.TopicUnsubscribed': true,
      'notifications.PushDeviceRegistered': true,
      'notifications.PushDeviceRemoved': true,
    },
    // A device's push address: not our credential, but it lets whoever holds the provider's key reach the device.
    redact: ['token'],
  }),
  aggregateStream({
    category: 'notificationrequest',
    description: 'an admin send: the template, recipient and variables asked for',
    decider: sendDecider,
    catalogue: sendEvents,
    types: { 'notifications.NotificationRequested': true },
    redact: ['pushToken'],
  }),
  // The worker's decisions, recorded after it acted: no decider folds them.
  recordStream<DeliveryDomainEvent>({
    category: 'notification',
    description: "one notification's decisions: sent, suppressed, failed",
    catalogue: deliveryEvents,
    types: decisions,
    redact: ['pushToken'],
  }),
  recordStream<DeliveryLogDomainEvent>({
    category: 'notificationfanout',
    description: "a fan-out's decisions, in pages, for one causing event",
    catalogue: deliveryEvents,
    types: { ...decisions, 'notifications.NotificationsDecided': true },
    redact: ['pushToken'],
  }),
];
