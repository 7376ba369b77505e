import type { NewEvent, RecordedEvent } from '@lectern/schemas';
import { notificationStreamId, type DeliveryDomainEvent } from '@lectern/schemas/notifications/events';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { causedBy } from '@lectern/infra/runtime/context';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import type { Delivery } from './deliveries.ts';

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
  let event: DeliveryDomainEvent;
  switch (d.status) {
    case 'pending':
      return null;
    case 'sent':
      event = {
        type: 'notifications.NotificationSent',
        data: {
          ...subject,
          provider: d.provider ?? 'unknown',
          providerRef: d.providerRef ?? 'unknown',
          attempts: Math.max(1, d.attempts),
          sentAt: d.updatedAt,
        },
      };
      break;
    case 'suppressed':
      event = {
        type: 'notifications.NotificationSuppressed',
        data: { ...subject, reason: d.reason ?? 'suppressed', suppressedAt: d.updatedAt },
      };
      break;
    case 'failed':
    case 'dead':
      event = {
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
      break;
  }
  return {
    id: deterministicUuid(`notification/${d.notificationId}/${d.status}/${d.attempts}`),
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
