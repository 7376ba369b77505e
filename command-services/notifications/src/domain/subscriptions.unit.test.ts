import test from 'ava';
import type * as schema from '@lectern/schemas/notifications/subscriptions';
import { spec } from '@lectern/infra/testing/decider-spec';
import {
  deviceWithToken,
  subscriptionsDecider,
  type ChangeChannels,
  type RegisterPushDevice,
  type SubscribeTopic,
  type UnsubscribeTopic,
} from './subscriptions.ts';

const userId = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const at = '2026-03-01T10:00:00.000Z';
const course: schema.Topic = { kind: 'course', id: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d' };
const author: schema.Topic = { kind: 'author', id: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d' };
/** The n-th id of a kind, as distinct uuids. */
const nth = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const channels = (
  changes: ChangeChannels['changes'],
  via: ChangeChannels['via'] = 'user',
): ChangeChannels => ({
  type: 'ChangeChannels',
  userId,
  changes,
  via,
  at,
});
const channelsChanged = (
  c: schema.Channels,
  via: schema.UnsubscribeVia = 'user',
): schema.SubscriptionEvent => ({
  type: 'notifications.ChannelsChanged',
  data: { userId, ...c, via, changedAt: at },
});
const follow = (topic: schema.Topic): SubscribeTopic => ({ type: 'SubscribeTopic', userId, topic, at });
const unfollow = (topic: schema.Topic, via: UnsubscribeTopic['via'] = 'user'): UnsubscribeTopic => ({
  type: 'UnsubscribeTopic',
  userId,
  topic,
  via,
  at,
});
const followed = (topic: schema.Topic): schema.SubscriptionEvent => ({
  type: 'notifications.TopicSubscribed',
  data: { userId, topic, subscribedAt: at },
});
const register = (deviceId: string, token = `token-${deviceId}`): RegisterPushDevice => ({
  type: 'RegisterPushDevice',
  userId,
  deviceId,
  token,
  platform: 'ios',
  at,
});
const registered = (deviceId: string, token = `token-${deviceId}`): schema.SubscriptionEvent => ({
  type: 'notifications.PushDeviceRegistered',
  data: { userId, deviceId, token, platform: 'ios', registeredAt: at },
});

test('before any change every channel is on, nothing is followed and there is no device', (t) => {
  t.deepEqual(spec(subscriptionsDecider).given([]).state, {
    status: 'default',
    channels: { email: true, sms: true, push: true },
    topics: [],
    devices: [],
  });
});

test('turning a channel off records every channel as it is after the change', (t) => {
  spec(subscriptionsDecider)
    .given([])
    .when(channels({ sms: false }))
    .then(t, [channelsChanged({ email: true, sms: false, push: true })]);
  spec(subscriptionsDecider)
    .given([channelsChanged({ email: true, sms: false, push: true })])
    .when(channels({ sms: true, push: false }))
    .then(t, [channelsChanged({ email: true, sms: true, push: false })]);
});

test('channels already as sent decide nothing, defaults included', (t) => {
  spec(subscriptionsDecider)
    .given([])
    .when(channels({ email: true, sms: true }))
    .then(t, []);
  spec(subscriptionsDecider).given([]).when(channels({})).then(t, []);
  spec(subscriptionsDecider)
    .given([channelsChanged({ email: false, sms: true, push: true })])
    .when(channels({ email: false }, 'link'))
    .then(t, []);
});

test('the unsubscribe link turns e-mail off, saying so', (t) => {
  spec(subscriptionsDecider)
    .given([followed(course)])
    .when(channels({ email: false }, 'link'))
    .then(t, [channelsChanged({ email: false, sms: true, push: true }, 'link')]);
});

test('following a topic records it once; following it again decides nothing', (t) => {
  spec(subscriptionsDecider)
    .given([])
    .when(follow(course))
    .then(t, [followed(course)]);
  spec(subscriptionsDecider)
    .given([followed(course)])
    .when(follow(course))
    .then(t, []);
  // An author is another topic, though the id is the same.
  spec(subscriptionsDecider)
    .given([followed(course)])
    .when(follow(author))
    .then(t, [followed(author)]);
});

test('unfollowing records how; a topic not followed decides nothing', (t) => {
  spec(subscriptionsDecider)
    .given([followed(course), followed(author)])
    .when(unfollow(course, 'link'))
    .then(t, [
      {
        type: 'notifications.TopicUnsubscribed',
        data: { userId, topic: course, via: 'link', unsubscribedAt: at },
      },
    ]);
  spec(subscriptionsDecider)
    .given([followed(author)])
    .when(unfollow(course))
    .then(t, []);
  const again = spec(subscriptionsDecider).given([
    followed(course),
    {
      type: 'notifications.TopicUnsubscribed',
      data: { userId, topic: course, via: 'user', unsubscribedAt: at },
    },
  ]);
  t.deepEqual(again.state.topics, []);
  again.when(unfollow(course)).then(t, []);
  again.when(follow(course)).then(t, [followed(course)]);
});

test('at most 500 topics: the 501st is 409 too_many_topics, one already followed is still fine', (t) => {
  const many = Array.from({ length: 500 }, (_, i) => followed({ kind: 'course', id: nth(i) }));
  const full = spec(subscriptionsDecider).given(many);
  full.when(follow({ kind: 'author', id: nth(1) })).thenFails(t, 'too_many_topics');
  full.when(follow({ kind: 'course', id: nth(7) })).then(t, []);
  spec(subscriptionsDecider)
    .given(many.slice(1))
    .when(follow({ kind: 'author', id: nth(1) }))
    .then(t, [followed({ kind: 'author', id: nth(1) })]);
});

test('a push device is registered once per token', (t) => {
  spec(subscriptionsDecider)
    .given([])
    .when(register(nth(1)))
    .then(t, [registered(nth(1))]);
  // The same token under another id (the app registering again) is the device it already is.
  const given = spec(subscriptionsDecider).given([registered(nth(1))]);
  given.when(register(nth(2), `token-${nth(1)}`)).then(t, []);
  t.is(deviceWithToken(given.state, `token-${nth(1)}`)?.deviceId, nth(1));
});

test('at most 10 push devices: the 11th is 409 too_many_devices; after a removal there is room', (t) => {
  const ten = Array.from({ length: 10 }, (_, i) => registered(nth(i)));
  spec(subscriptionsDecider)
    .given(ten)
    .when(register(nth(10)))
    .thenFails(t, 'too_many_devices');
  spec(subscriptionsDecider)
    .given(ten)
    .when(register(nth(11), `token-${nth(3)}`))
    .then(t, []);
  spec(subscriptionsDecider)
    .given([
      ...ten,
      { type: 'notifications.PushDeviceRemoved', data: { userId, deviceId: nth(3), removedAt: at } },
    ])
    .when(register(nth(10)))
    .then(t, [registered(nth(10))]);
});

test('removing a device records it; an unknown or removed device decides nothing', (t) => {
  const removed: schema.SubscriptionEvent = {
    type: 'notifications.PushDeviceRemoved',
    data: { userId, deviceId: nth(1), removedAt: at },
  };
  const remove = { type: 'RemovePushDevice', userId, deviceId: nth(1), at } as const;
  spec(subscriptionsDecider)
    .given([registered(nth(1))])
    .when(remove)
    .then(t, [removed]);
  spec(subscriptionsDecider).given([]).when(remove).then(t, []);
  spec(subscriptionsDecider)
    .given([registered(nth(1)), removed])
    .when(remove)
    .then(t, []);
});

test('the state holds what the events say, in order', (t) => {
  const { state } = spec(subscriptionsDecider).given([
    followed(course),
    registered(nth(1)),
    channelsChanged({ email: true, sms: false, push: true }),
    followed(author),
  ]);
  t.deepEqual(state, {
    status: 'chosen',
    userId,
    channels: { email: true, sms: false, push: true },
    topics: [course, author],
    devices: [{ deviceId: nth(1), token: `token-${nth(1)}`, platform: 'ios' }],
    updatedAt: at,
  });
});
