import type { RecordedEvent } from '@lectern/schemas';
import { decisionEventsOf, isDeliveryEvent } from '@lectern/schemas/notifications/events';
import type { UserNotificationChange } from '@lectern/schemas/notifications/socket';
import type { ChannelDelivery, RealtimeChannelKind } from '@lectern/infra/runtime/realtime';

/**
 * Notifications' part of `user:<userId>` (live only, the user's own): the
 * notifications sent to them, once a provider took each, whether decided
 * alone or in a fan-out's batch (one item per user per event, its seq the
 * event's position). Never the address or the text.
 */
export const notificationsUserChannel = (): RealtimeChannelKind => ({
  kind: 'user',
  contexts: ['notifications'],
  authorize: async (caller, id) => caller.userId === id,
  route: (e: RecordedEvent): ChannelDelivery[] => {
    if (!isDeliveryEvent(e)) return [];
    const byUser = new Map<string, UserNotificationChange['sent'][number][]>();
    for (const d of decisionEventsOf(e)) {
      if (d.type !== 'notifications.NotificationSent' || d.data.userId === null) continue;
      const { notificationId, template, channel, sentAt: at } = d.data;
      let sent = byUser.get(d.data.userId);
      if (!sent) byUser.set(d.data.userId, (sent = []));
      sent.push({ notificationId, template, channel, at });
    }
    return [...byUser].map(([userId, sent]) => ({
      id: userId,
      item: {
        seq: e.position,
        data: { change: 'notifications_sent', sent } satisfies UserNotificationChange,
      },
    }));
  },
});
