import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  boolean,
  integer,
  isoTime as isoTimeOf,
  nullable,
  object,
  oneOf,
  string,
  uuid as uuidOf,
  type Validator,
} from '../validation.ts';

/**
 * The notifications worker's decisions, one stream per notification
 * (`notification-<id>`, the id derived from the causing event, the
 * recipient and the channel). They are what support reads ("why did user X
 * not get message Y": the delivery log, and ClickHouse's `events`), never
 * what makes a notification go out only once: that is the worker's own
 * table. Addresses are masked (`a…@example.org`): enough to tell two
 * apart, not to write to.
 */
export const channels = ['email', 'sms', 'push'] as const;
export type Channel = (typeof channels)[number];

/** What a notification is about, and to whom. */
export type NotificationSubject = Readonly<{
  notificationId: string;
  /** The event that caused it. */
  causeEventId: string;
  causeEventType: string;
  template: string;
  templateVersion: number;
  channel: Channel;
  userId: string | null;
  address: string;
}>;

export type NotificationSent = NotificationSubject &
  Readonly<{
    provider: string;
    /** The provider's id of the message. */
    providerRef: string;
    attempts: number;
    sentAt: string;
  }>;

/** Not sent, on purpose: the link had expired, or the recipient switched the channel or topic off. */
export type NotificationSuppressed = NotificationSubject & Readonly<{ reason: string; suppressedAt: string }>;

/** A try that failed; `deadLettered` when it was the last (or the failure permanent). */
export type NotificationFailed = NotificationSubject &
  Readonly<{
    provider: string | null;
    reason: string;
    attempts: number;
    deadLettered: boolean;
    failedAt: string;
  }>;

export type DeliveryDomainEvent =
  | DomainEvent<'notifications.NotificationSent', NotificationSent>
  | DomainEvent<'notifications.NotificationSuppressed', NotificationSuppressed>
  | DomainEvent<'notifications.NotificationFailed', NotificationFailed>;

export type DeliveryEvent = RecordedEventOf<DeliveryDomainEvent>;

const uuid = uuidOf();
const isoTime = isoTimeOf();
const subject = {
  notificationId: uuid,
  causeEventId: uuid,
  causeEventType: string({ min: 1, max: 200 }),
  template: string({ min: 1, max: 80 }),
  templateVersion: integer({ min: 1 }),
  channel: oneOf(channels),
  userId: nullable(uuid),
  address: string({ min: 1, max: 320, trim: false }),
};
const v1 = (shape: Record<string, Validator<unknown>>) => [
  { version: 1, validate: object({ ...subject, ...shape }) as Validator<unknown> },
];

export const deliveryEvents: CatalogueOf<DeliveryDomainEvent> = {
  'notifications.NotificationSent': v1({
    provider: string({ min: 1, max: 200 }),
    providerRef: string({ min: 1, max: 1000, trim: false }),
    attempts: integer({ min: 1 }),
    sentAt: isoTime,
  }),
  'notifications.NotificationSuppressed': v1({
    reason: string({ min: 1, max: 2000 }),
    suppressedAt: isoTime,
  }),
  'notifications.NotificationFailed': v1({
    provider: nullable(string({ min: 1, max: 200 })),
    reason: string({ min: 1, max: 2000, trim: false }),
    attempts: integer({ min: 1 }),
    deadLettered: boolean(),
    failedAt: isoTime,
  }),
};

/** Narrows a recorded event to the delivery decisions (see `eventGuard`). */
export const isDeliveryEvent = eventGuard<DeliveryDomainEvent>(deliveryEvents);

export const notificationStreamId = (notificationId: string): string => `notification-${notificationId}`;
