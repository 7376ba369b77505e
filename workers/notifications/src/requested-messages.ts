import type { RecordedEvent } from '@lectern/schemas';
import { isSendEvent } from '@lectern/schemas/notifications/sends';
import type { PlannedMessage, Recipient } from './identity-messages.ts';

/** What the worker knows of a user's choices: their channels and push devices. */
export type Preferences = Readonly<{
  channels: Readonly<{ email: boolean; sms: boolean; push: boolean }>;
  devices: readonly Readonly<{ deviceId: string; token: string }>[];
}>;

export type RequestedMessageDeps = Readonly<{
  recipientOf: (userId: string) => Promise<Recipient | null>;
  preferencesOf: (userId: string) => Promise<Preferences>;
}>;

/**
 * What `POST /api/notify/send` asked for (`NotificationRequested`): to an
 * address, one message on its channel; to a user, one per channel asked
 * for, at the user's address, phone or each push device. A channel the user
 * has no address for is planned all the same, with no address, and ends
 * `suppressed` with the reason, so the delivery log says why nothing went.
 */
export const requestedMessages = async (
  event: RecordedEvent,
  deps: RequestedMessageDeps,
): Promise<readonly PlannedMessage[]> => {
  if (!isSendEvent(event) || event.type !== 'notifications.NotificationRequested') return [];
  const d = event.data;
  const base = { template: d.template, variables: d.variables, expiresAt: null, locale: d.locale };
  const r = d.recipient;
  if ('email' in r) return [{ ...base, channel: 'email', userId: null, address: r.email }];
  if ('phone' in r) return [{ ...base, channel: 'sms', userId: null, address: r.phone }];
  if ('pushToken' in r) return [{ ...base, channel: 'push', userId: null, address: r.pushToken }];
  const recipient = await deps.recipientOf(r.userId);
  // Not projected yet, or no such user: worth a few more tries, then the dead letter says which.
  if (!recipient) throw new Error(`no recipient for user ${r.userId} yet`);
  const preferences = await deps.preferencesOf(r.userId);
  const planned: PlannedMessage[] = [];
  for (const channel of d.channels) {
    const user = { ...base, userId: r.userId, channel, preferences: preferences.channels };
    if (channel === 'email') planned.push({ ...user, address: recipient.email });
    else if (channel === 'sms') planned.push({ ...user, address: recipient.phone ?? '' });
    else if (preferences.devices.length === 0) planned.push({ ...user, address: '' });
    else
      for (const device of preferences.devices)
        planned.push({ ...user, address: device.token, deviceId: device.deviceId });
  }
  return planned;
};
