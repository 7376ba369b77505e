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
  /** The users this address is (their e-mail, phone or a device's push token), as far as they are known. */
  ownersOf: (channel: 'email' | 'sms' | 'push', address: string) => Promise<readonly string[]>;
}>;

/**
 * What `POST /api/notify/send` asked for (`NotificationRequested`): to an
 * address, one message on its channel, which honours the choices of the
 * users the address belongs to (a channel any of them turned off, by the
 * settings or a one-click link, is off for it too; the decision is in the
 * first one's log); to a user, one per channel asked
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
  const bare = async (channel: 'email' | 'sms' | 'push', address: string): Promise<PlannedMessage[]> => {
    const owners = await deps.ownersOf(channel, address);
    if (owners.length === 0) return [{ ...base, channel, userId: null, address }];
    const chosen = await Promise.all(owners.map((o) => deps.preferencesOf(o)));
    const every = (c: 'email' | 'sms' | 'push') => chosen.every((p) => p.channels[c]);
    // Still to the address (its id is the address's, so a replay after the owner is known is the same
    // notification), but in the owner's log, and only as far as every owner accepts the channel.
    return [
      {
        ...base,
        channel,
        userId: null,
        ownerId: owners[0]!,
        address,
        preferences: { email: every('email'), sms: every('sms'), push: every('push') },
      },
    ];
  };
  if ('email' in r) return bare('email', r.email);
  if ('phone' in r) return bare('sms', r.phone);
  if ('pushToken' in r) return bare('push', r.pushToken);
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
