import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  arrayOf,
  boolean,
  integer,
  isoTime as isoTimeOf,
  nullable,
  object,
  oneOf,
  string,
  uuid as uuidOf,
  withSchema,
  jsonSchemaOf,
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
 *
 * A fan-out records its decisions many to an event instead
 * (`NotificationsDecided`, on the fan-out's stream): each decision in it is
 * the single-decision event it stands for, with that event's id, and
 * readers take it as those events (`decisionEventsOf`).
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

/** What every decision of a `NotificationsDecided` names: the notification, and which single-decision event it is. */
type DecidedCommon = Readonly<{
  /** The id of the single-decision event this decision stands for. */
  decisionId: string;
  notificationId: string;
  channel: Channel;
  userId: string | null;
  address: string;
}>;

/** One decision among many: a `NotificationSent`, `…Suppressed` or `…Failed` less what the event's decisions share. */
export type Decided =
  | (DecidedCommon &
      Readonly<{ status: 'sent'; provider: string; providerRef: string; attempts: number; at: string }>)
  | (DecidedCommon & Readonly<{ status: 'suppressed'; reason: string; at: string }>)
  | (DecidedCommon &
      Readonly<{
        status: 'failed';
        provider: string | null;
        reason: string;
        attempts: number;
        deadLettered: boolean;
        at: string;
      }>);

/**
 * Decisions about many notifications of one cause and template (a page of a
 * fan-out), in one event: a fan-out to 100,000 followers is a few hundred
 * events on the log instead of 200,000, each consumer of the topic decoding
 * them all.
 */
export type NotificationsDecided = Readonly<{
  causeEventId: string;
  causeEventType: string;
  template: string;
  templateVersion: number;
  /** At most `MAX_DECISIONS_PER_EVENT`. */
  decisions: readonly Decided[];
}>;

/** The most decisions one `NotificationsDecided` holds. */
export const MAX_DECISIONS_PER_EVENT = 500;

export type DecisionsDomainEvent = DomainEvent<'notifications.NotificationsDecided', NotificationsDecided>;

/** What the delivery log is made of: single decisions, and decisions many to an event. */
export type DeliveryLogDomainEvent = DeliveryDomainEvent | DecisionsDomainEvent;
export type DeliveryLogEvent = RecordedEventOf<DeliveryLogDomainEvent>;

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

const sent = {
  provider: string({ min: 1, max: 200 }),
  providerRef: string({ min: 1, max: 1000, trim: false }),
  attempts: integer({ min: 1 }),
};
const suppressed = { reason: string({ min: 1, max: 2000 }) };
const failed = {
  provider: nullable(string({ min: 1, max: 200 })),
  reason: string({ min: 1, max: 2000, trim: false }),
  attempts: integer({ min: 1 }),
  deadLettered: boolean(),
};

const decidedCommon = {
  decisionId: uuid,
  notificationId: uuid,
  channel: oneOf(channels),
  userId: nullable(uuid),
  address: subject.address,
  at: isoTime,
};
const decidedByStatus: Readonly<Record<Decided['status'], Validator<unknown>>> = {
  sent: object({ status: oneOf(['sent']), ...decidedCommon, ...sent }),
  suppressed: object({ status: oneOf(['suppressed']), ...decidedCommon, ...suppressed }),
  failed: object({ status: oneOf(['failed']), ...decidedCommon, ...failed }),
};
const decided: Validator<Decided> = withSchema(
  (input, path = '') => {
    const status = (input as { status?: unknown } | null)?.status;
    const validate =
      typeof status === 'string' && Object.hasOwn(decidedByStatus, status)
        ? decidedByStatus[status as Decided['status']]
        : null;
    if (!validate)
      return {
        ok: false,
        issues: [{ path: `${path}/status`, message: 'must be one of: sent, suppressed, failed' }],
      };
    return validate(input, path) as ReturnType<Validator<Decided>>;
  },
  { oneOf: Object.values(decidedByStatus).map(jsonSchemaOf) },
);

export const deliveryEvents: CatalogueOf<DeliveryLogDomainEvent> = {
  'notifications.NotificationSent': v1({ ...sent, sentAt: isoTime }),
  'notifications.NotificationSuppressed': v1({ ...suppressed, suppressedAt: isoTime }),
  'notifications.NotificationFailed': v1({ ...failed, failedAt: isoTime }),
  'notifications.NotificationsDecided': [
    {
      version: 1,
      validate: object({
        causeEventId: subject.causeEventId,
        causeEventType: subject.causeEventType,
        template: subject.template,
        templateVersion: subject.templateVersion,
        decisions: arrayOf(decided, { max: MAX_DECISIONS_PER_EVENT }),
      }) as Validator<unknown>,
    },
  ],
};

/** Narrows a recorded event to the delivery log's: single decisions and decisions many to an event (see `eventGuard`). */
export const isDeliveryEvent = eventGuard<DeliveryLogDomainEvent>(deliveryEvents);

/**
 * The single decisions an event of the delivery log records: itself, or
 * each decision of a `NotificationsDecided` as the event it stands for
 * (its id, type and data; the envelope's place, the batch's). The delivery
 * log and analytics keep a row per decision, the same whichever way it was
 * recorded.
 *
 * @example for (const d of decisionEventsOf(e)) if (d.type === 'notifications.NotificationSent') d.data.providerRef;
 */
export const decisionEventsOf = (e: DeliveryLogEvent): DeliveryEvent[] => {
  if (e.type !== 'notifications.NotificationsDecided') return [e];
  const { causeEventId, causeEventType, template, templateVersion } = e.data;
  return e.data.decisions.map((d): DeliveryEvent => {
    const subject = {
      notificationId: d.notificationId,
      causeEventId,
      causeEventType,
      template,
      templateVersion,
      channel: d.channel,
      userId: d.userId,
      address: d.address,
    };
    const envelope = {
      id: d.decisionId,
      schemaVersion: 1,
      occurredAt: d.at,
      metadata: e.metadata,
      streamId: e.streamId,
      revision: e.revision,
      position: e.position,
    };
    switch (d.status) {
      case 'sent':
        return {
          ...envelope,
          type: 'notifications.NotificationSent',
          data: {
            ...subject,
            provider: d.provider,
            providerRef: d.providerRef,
            attempts: d.attempts,
            sentAt: d.at,
          },
        };
      case 'suppressed':
        return {
          ...envelope,
          type: 'notifications.NotificationSuppressed',
          data: { ...subject, reason: d.reason, suppressedAt: d.at },
        };
      case 'failed':
        return {
          ...envelope,
          type: 'notifications.NotificationFailed',
          data: {
            ...subject,
            provider: d.provider,
            reason: d.reason,
            attempts: d.attempts,
            deadLettered: d.deadLettered,
            failedAt: d.at,
          },
        };
    }
  });
};

export const notificationStreamId = (notificationId: string): string => `notification-${notificationId}`;
