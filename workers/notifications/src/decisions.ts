import type { NewEvent, NewEventOf, RecordedEvent } from '@lectern/schemas';
import {
  MAX_DECISIONS_PER_EVENT,
  notificationStreamId,
  type Decided,
  type DecisionsDomainEvent,
  type DeliveryDomainEvent,
} from '@lectern/schemas/notifications/events';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { causedBy } from '@lectern/infra/runtime/context';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import type { Delivery } from './deliveries.ts';

/** The id of the event of a row's decision: one per (notification, status, attempts), so a decision met again is the same event. */
const decisionIdOf = (d: Delivery): string =>
  deterministicUuid(`notification/${d.notificationId}/${d.status}/${d.attempts}`);

/** The decision a row holds, as its single-decision event's type and data; null while it is pending. */
const decisionOf = (d: Delivery): DeliveryDomainEvent | null => {
  const subject = {
    notificationId: d.notificationId,
    causeEventId: d.eventId,
    causeEventType: d.eventType,
    template: d.template,
    templateVersion: d.templateVersion,
    channel: d.channel,
    userId: d.userId,
    address: d.address,
  };
  switch (d.status) {
    case 'pending':
      return null;
    case 'sent':
      return {
        type: 'notifications.NotificationSent',
        data: {
          ...subject,
          provider: d.provider ?? 'unknown',
          providerRef: d.providerRef ?? 'unknown',
          attempts: Math.max(1, d.attempts),
          sentAt: d.updatedAt,
        },
      };
    case 'suppressed':
      return {
        type: 'notifications.NotificationSuppressed',
        data: { ...subject, reason: d.reason ?? 'suppressed', suppressedAt: d.updatedAt },
      };
    case 'failed':
    case 'dead':
      return {
        type: 'notifications.NotificationFailed',
        data: {
          ...subject,
          provider: d.provider,
          reason: d.reason ?? 'failed',
          attempts: Math.max(1, d.attempts),
          deadLettered: d.status === 'dead',
          failedAt: d.updatedAt,
        },
      };
  }
};

/**
 * The event that tells a decision the worker recorded in its table, made
 * from that row alone: appended right after the row changes, and again,
 * harmlessly, whenever the notification is met once more (the store takes
 * the same id with the same content as the same event). So a worker killed
 * between its row and its event still gets the decision into the log on
 * the next delivery, and the delivery log and ClickHouse miss no final
 * decision. (A failed try's event can be lost that way; the final one not.)
 */
export const decisionEvent = (d: Delivery, cause: RecordedEvent): NewEvent | null => {
  const event = decisionOf(d);
  if (!event) return null;
  return {
    id: decisionIdOf(d),
    type: event.type,
    schemaVersion: 1,
    occurredAt: d.updatedAt,
    data: event.data,
    metadata: causedBy(cause),
  };
};

/** Appends the decision the row holds (nothing while it is pending). */
export const recordDecision = async (store: EventStore, d: Delivery, cause: RecordedEvent): Promise<void> => {
  const event = decisionEvent(d, cause);
  if (event) await store.append(notificationStreamId(d.notificationId), [event], { expectedRevision: 'any' });
};

/** A row's decision as one of many in a `NotificationsDecided`: what `decisionEvent` holds, less what they share. */
const decidedOf = (d: Delivery): Decided | null => {
  const event = decisionOf(d);
  if (!event) return null;
  const common = {
    decisionId: decisionIdOf(d),
    notificationId: d.notificationId,
    channel: d.channel,
    userId: d.userId,
    address: d.address,
  };
  switch (event.type) {
    case 'notifications.NotificationSent': {
      const { provider, providerRef, attempts, sentAt } = event.data;
      return { status: 'sent', ...common, provider, providerRef, attempts, at: sentAt };
    }
    case 'notifications.NotificationSuppressed':
      return { status: 'suppressed', ...common, reason: event.data.reason, at: event.data.suppressedAt };
    case 'notifications.NotificationFailed': {
      const { provider, reason, attempts, deadLettered, failedAt } = event.data;
      return { status: 'failed', ...common, provider, reason, attempts, deadLettered, at: failedAt };
    }
  }
};

/** Bytes of decisions per event at most, well under what the log takes in one message (Kafka: 1 MiB). */
const MAX_EVENT_BYTES = 256 * 1024;

/**
 * No less than the bytes of a decision as JSON: its fixed part (keys, ids,
 * time) is under 400, and a character of its free texts takes 6 at most
 * (`\uXXXX`). Cheaper than serialising each decision to measure it.
 */
const sizeOf = (d: Decided): number => {
  const texts =
    d.status === 'sent'
      ? d.provider.length + d.providerRef.length
      : d.status === 'suppressed'
        ? d.reason.length
        : (d.provider?.length ?? 0) + d.reason.length;
  return 400 + 6 * (d.address.length + texts);
};

/**
 * The decisions of many rows (a page of a fan-out) as few events as hold
 * them: `notifications.NotificationsDecided`, one per cause and template,
 * up to `MAX_DECISIONS_PER_EVENT` decisions or 256 KiB each. Each decision
 * carries the id its single event (`decisionEvent`) would have, so the
 * delivery log and analytics, which keep a row per decision id, are the
 * same whichever way a decision was recorded. An event's id derives from
 * the decisions it holds. Pending rows are left out, and so are decisions
 * whose id is in `except` (those the log has already).
 */
export const decisionsEvents = (
  rows: readonly Delivery[],
  cause: RecordedEvent,
  except: ReadonlySet<string> = new Set(),
): NewEventOf<DecisionsDomainEvent>[] => {
  const groups = new Map<string, { first: Delivery; decided: Decided[] }>();
  for (const row of rows) {
    const decided = decidedOf(row);
    if (!decided || except.has(decided.decisionId)) continue;
    const key = `${row.eventId}/${row.eventType}/${row.template}/${row.templateVersion}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { first: row, decided: [] }));
    group.decided.push(decided);
  }
  const events: NewEventOf<DecisionsDomainEvent>[] = [];
  for (const { first, decided } of groups.values()) {
    let part: Decided[] = [];
    let bytes = 0;
    const cut = () => {
      const event: DecisionsDomainEvent = {
        type: 'notifications.NotificationsDecided',
        data: {
          causeEventId: first.eventId,
          causeEventType: first.eventType,
          template: first.template,
          templateVersion: first.templateVersion,
          decisions: part,
        },
      };
      events.push({
        ...event,
        id: deterministicUuid(`notifications-decided/${part.map((d) => d.decisionId).join(',')}`),
        schemaVersion: 1,
        occurredAt: part.reduce((latest, d) => (d.at > latest ? d.at : latest), part[0]!.at),
        metadata: causedBy(cause),
      });
      part = [];
      bytes = 0;
    };
    for (const d of decided) {
      const size = sizeOf(d);
      if (part.length > 0 && (part.length >= MAX_DECISIONS_PER_EVENT || bytes + size > MAX_EVENT_BYTES))
        cut();
      part.push(d);
      bytes += size;
    }
    if (part.length > 0) cut();
  }
  return events;
};
