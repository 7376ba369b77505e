import * as schema from '@lectern/schemas/notifications/subscriptions';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Topic = schema.Topic;
type Event = schema.SubscriptionEvent;

export type PushDevice = Readonly<{ deviceId: string; token: string; platform: schema.PushPlatform }>;

/**
 * A user's subscriptions exist from their first change; before that they are
 * the defaults (every channel on, nothing followed, no device), which is
 * what a user who never opened their settings gets.
 */
export type Subscriptions =
  | Readonly<{
      status: 'default';
      channels: schema.Channels;
      topics: readonly Topic[];
      devices: readonly PushDevice[];
    }>
  | Readonly<{
      status: 'chosen';
      userId: string;
      channels: schema.Channels;
      /** In the order they were followed. */
      topics: readonly Topic[];
      devices: readonly PushDevice[];
      updatedAt: string;
    }>;

export type ChangeChannels = Readonly<{
  type: 'ChangeChannels';
  userId: string;
  /** The channels to set; those left out stay as they are. */
  changes: Partial<schema.Channels>;
  via: schema.UnsubscribeVia;
  at: string;
}>;

export type SubscribeTopic = Readonly<{ type: 'SubscribeTopic'; userId: string; topic: Topic; at: string }>;

export type UnsubscribeTopic = Readonly<{
  type: 'UnsubscribeTopic';
  userId: string;
  topic: Topic;
  via: schema.UnsubscribeVia;
  at: string;
}>;

export type RegisterPushDevice = Readonly<{
  type: 'RegisterPushDevice';
  userId: string;
  /** Made by the handler from the command id, so a retried request names the same device. */
  deviceId: string;
  token: string;
  platform: schema.PushPlatform;
  at: string;
}>;

export type RemovePushDevice = Readonly<{
  type: 'RemovePushDevice';
  userId: string;
  deviceId: string;
  at: string;
}>;

export type SubscriptionCommand =
  ChangeChannels | SubscribeTopic | UnsubscribeTopic | RegisterPushDevice | RemovePushDevice;

export const initialState = (): Subscriptions => ({
  status: 'default',
  channels: schema.defaultChannels,
  topics: [],
  devices: [],
});

const follows = (s: Subscriptions, topic: Topic): boolean => s.topics.some((t) => schema.sameTopic(t, topic));

/** The device that has this push token, if any: a token is one app on one device. */
export const deviceWithToken = (s: Subscriptions, token: string): PushDevice | undefined =>
  s.devices.find((d) => d.token === token);

const changeChannels = (cmd: ChangeChannels, s: Subscriptions): Event[] => {
  const next = { ...s.channels, ...cmd.changes };
  if (schema.channelNames.every((c) => next[c] === s.channels[c])) return [];
  const data: schema.ChannelsChanged = { userId: cmd.userId, ...next, via: cmd.via, changedAt: cmd.at };
  return [{ type: 'notifications.ChannelsChanged', data }];
};

const subscribe = (cmd: SubscribeTopic, s: Subscriptions): Event[] => {
  if (follows(s, cmd.topic)) return [];
  if (s.topics.length >= schema.MAX_TOPICS)
    throw new Problem('conflict', 'too_many_topics', `A user follows at most ${schema.MAX_TOPICS} topics.`, {
      extra: { max: schema.MAX_TOPICS },
    });
  const data: schema.TopicSubscribed = { userId: cmd.userId, topic: cmd.topic, subscribedAt: cmd.at };
  return [{ type: 'notifications.TopicSubscribed', data }];
};

const unsubscribe = (cmd: UnsubscribeTopic, s: Subscriptions): Event[] => {
  if (!follows(s, cmd.topic)) return [];
  const data: schema.TopicUnsubscribed = {
    userId: cmd.userId,
    topic: cmd.topic,
    via: cmd.via,
    unsubscribedAt: cmd.at,
  };
  return [{ type: 'notifications.TopicUnsubscribed', data }];
};

const register = (cmd: RegisterPushDevice, s: Subscriptions): Event[] => {
  // The app registering its token again (each start, say) is the device it already is.
  if (deviceWithToken(s, cmd.token)) return [];
  if (s.devices.length >= schema.MAX_PUSH_DEVICES)
    throw new Problem(
      'conflict',
      'too_many_devices',
      `A user has at most ${schema.MAX_PUSH_DEVICES} push devices: remove one first.`,
      { extra: { max: schema.MAX_PUSH_DEVICES } },
    );
  const data: schema.PushDeviceRegistered = {
    userId: cmd.userId,
    deviceId: cmd.deviceId,
    token: cmd.token,
    platform: cmd.platform,
    registeredAt: cmd.at,
  };
  return [{ type: 'notifications.PushDeviceRegistered', data }];
};

const remove = (cmd: RemovePushDevice, s: Subscriptions): Event[] => {
  if (!s.devices.some((d) => d.deviceId === cmd.deviceId)) return [];
  const data: schema.PushDeviceRemoved = { userId: cmd.userId, deviceId: cmd.deviceId, removedAt: cmd.at };
  return [{ type: 'notifications.PushDeviceRemoved', data }];
};

export const decide = (cmd: SubscriptionCommand, s: Subscriptions): Event[] => {
  switch (cmd.type) {
    case 'ChangeChannels':
      return changeChannels(cmd, s);
    case 'SubscribeTopic':
      return subscribe(cmd, s);
    case 'UnsubscribeTopic':
      return unsubscribe(cmd, s);
    case 'RegisterPushDevice':
      return register(cmd, s);
    case 'RemovePushDevice':
      return remove(cmd, s);
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${JSON.stringify(unhandled)}`);
    }
  }
};

/** The state after a change by `userId` at `at`: the defaults become chosen ones. */
const chosen = (
  s: Subscriptions,
  userId: string,
  at: string,
  change: Partial<Pick<Subscriptions, 'channels' | 'topics' | 'devices'>>,
): Subscriptions => ({
  status: 'chosen',
  userId,
  channels: change.channels ?? s.channels,
  topics: change.topics ?? s.topics,
  devices: change.devices ?? s.devices,
  updatedAt: at,
});

export const evolve = (s: Subscriptions, e: Event): Subscriptions => {
  switch (e.type) {
    case 'notifications.ChannelsChanged': {
      const { userId, email, sms, push, changedAt } = e.data;
      return chosen(s, userId, changedAt, { channels: { email, sms, push } });
    }
    case 'notifications.TopicSubscribed': {
      const d = e.data;
      return chosen(s, d.userId, d.subscribedAt, { topics: [...s.topics, d.topic] });
    }
    case 'notifications.TopicUnsubscribed': {
      const d = e.data;
      return chosen(s, d.userId, d.unsubscribedAt, {
        topics: s.topics.filter((t) => !schema.sameTopic(t, d.topic)),
      });
    }
    case 'notifications.PushDeviceRegistered': {
      const d = e.data;
      const device: PushDevice = { deviceId: d.deviceId, token: d.token, platform: d.platform };
      return chosen(s, d.userId, d.registeredAt, { devices: [...s.devices, device] });
    }
    case 'notifications.PushDeviceRemoved': {
      const d = e.data;
      return chosen(s, d.userId, d.removedAt, {
        devices: s.devices.filter((x) => x.deviceId !== d.deviceId),
      });
    }
    default:
      return unknownEvent(e, s);
  }
};

export const subscriptionsDecider: Decider<Subscriptions, SubscriptionCommand, schema.SubscriptionEvent> = {
  initialState,
  decide,
  evolve,
};
