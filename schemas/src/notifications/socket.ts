import { itemFrame } from '../realtime/protocol.ts';
import { arrayOf, describe, isoTime, object, oneOf, string, uuid } from '../validation.ts';
import { channels, MAX_DECISIONS_PER_EVENT, type Channel } from './events.ts';

/**
 * Notifications sent to the user, on their own channel (`user:<userId>`):
 * to show "we e-mailed you". One item per event of the delivery log: a
 * fan-out's batch may hold the same user's e-mail and push.
 */
export type UserNotificationChange = Readonly<{
  change: 'notifications_sent';
  sent: readonly Readonly<{
    notificationId: string;
    /** The template's name (`identity.verify-email`). */
    template: string;
    channel: Channel;
    at: string;
  }>[];
}>;

export const userNotificationChange = describe(
  object({
    change: oneOf(['notifications_sent'] as const),
    sent: arrayOf(
      object({
        notificationId: uuid(),
        template: string({ min: 1, max: 80 }),
        channel: oneOf(channels),
        at: isoTime(),
      }),
      { max: MAX_DECISIONS_PER_EVENT },
    ),
  }),
  { title: 'NotificationsUserChange' },
);

export const notificationsUserItemFrame = describe(
  itemFrame(
    /^user:[A-Za-z0-9._:@-]{1,128}$/,
    userNotificationChange,
    'Notifications sent to you, by e-mail, SMS or push (notifications).',
  ),
  { title: 'NotificationsUserItemFrame' },
);
