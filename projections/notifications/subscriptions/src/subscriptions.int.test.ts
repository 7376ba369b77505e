import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import * as schema from '@lectern/schemas/notifications/subscriptions';
import { followersOfAny, preferencesOf, subscribersOf, subscriptionsProjection, topicsOf } from './index.ts';

const spec = projectionSpec(subscriptionsProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const course: schema.Topic = { kind: 'course', id: '3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d' };
const author: schema.Topic = { kind: 'author', id: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d' };
const phone = '11111111-1111-4111-8111-111111111111';
const laptop = '22222222-2222-4222-8222-222222222222';
const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

const channels = (userId: string, c: schema.Channels, via: schema.UnsubscribeVia = 'user') =>
  ({ type: 'notifications.ChannelsChanged', data: { userId, ...c, via, changedAt: at(1) } }) as const;
const followed = (userId: string, topic: schema.Topic) =>
  ({ type: 'notifications.TopicSubscribed', data: { userId, topic, subscribedAt: at(2) } }) as const;
const unfollowed = (userId: string, topic: schema.Topic) =>
  ({
    type: 'notifications.TopicUnsubscribed',
    data: { userId, topic, via: 'user', unsubscribedAt: at(3) },
  }) as const;
const registered = (userId: string, deviceId: string) =>
  ({
    type: 'notifications.PushDeviceRegistered',
    data: { userId, deviceId, token: `push-token-${deviceId}`, platform: 'android', registeredAt: at(4) },
  }) as const;
const removed = (userId: string, deviceId: string) =>
  ({ type: 'notifications.PushDeviceRemoved', data: { userId, deviceId, removedAt: at(5) } }) as const;

const device = (deviceId: string) =>
  ({ deviceId, token: `push-token-${deviceId}`, platform: 'android' }) as const;

test('a user with no events has the defaults, at no revision', async (t) => {
  await spec.given([]).then(t, (sql) => preferencesOf(sql, ada), {
    userId: ada,
    channels: { email: true, sms: true, push: true },
    devices: [],
    topics: [],
    revision: -1,
  });
});

test('channels, devices and topics build the preferences; another user keeps the defaults', async (t) => {
  const feed = eventFeed();
  const history = feed.append(schema.subscriptionsStreamId(ada), [
    channels(ada, { email: true, sms: false, push: true }),
    followed(ada, course),
    followed(ada, author),
    registered(ada, phone),
    registered(ada, laptop),
    removed(ada, phone),
  ]);
  await spec.given(history).then(t, (sql) => preferencesOf(sql, ada), {
    userId: ada,
    channels: { email: true, sms: false, push: true },
    devices: [device(laptop)],
    topics: [author, course],
    revision: 5,
  });
  await spec.given(history).then(t, (sql) => preferencesOf(sql, bob), {
    userId: bob,
    channels: { email: true, sms: true, push: true },
    devices: [],
    topics: [],
    revision: -1,
  });
});

test('unfollowing removes the user from the topic; following again brings them back', async (t) => {
  const feed = eventFeed();
  const stream = schema.subscriptionsStreamId(ada);
  const history = feed.append(stream, [followed(ada, course), followed(ada, author)]);
  const later = feed.append(stream, [unfollowed(ada, course)]);
  await spec
    .given(history)
    .when(later)
    .then(t, (sql) => topicsOf(sql, ada), [author]);
  await spec
    .given(history)
    .when(later)
    .then(t, (sql) => subscribersOf(sql, course, { afterUserId: null, limit: 10 }), []);
  const again = feed.append(stream, [followed(ada, course)]);
  await spec
    .given(history)
    .when(later)
    .when(again)
    .then(t, (sql) => subscribersOf(sql, course, { afterUserId: null, limit: 10 }), [ada]);
});

test('a redelivered or redriven event changes nothing, even after newer ones', async (t) => {
  const feed = eventFeed();
  const stream = schema.subscriptionsStreamId(ada);
  const [follow, device1, unfollow, gone] = feed.append(stream, [
    followed(ada, course),
    registered(ada, phone),
    unfollowed(ada, course),
    removed(ada, phone),
  ]);
  const expected = {
    userId: ada,
    channels: { email: true, sms: true, push: true },
    devices: [],
    topics: [],
    revision: 3,
  };
  await spec
    .given([follow!, device1!, follow!])
    .when([unfollow!, gone!])
    .when([follow!, device1!, unfollow!])
    .then(t, (sql) => preferencesOf(sql, ada), expected);
  // A redrive passes the checkpoints: the rows' own revision keeps the old events out.
  await spec
    .given([follow!, device1!, unfollow!, gone!])
    .redrive([follow!, device1!])
    .then(t, (sql) => preferencesOf(sql, ada), expected);
  await spec
    .given([follow!, device1!, unfollow!, gone!])
    .redrive([follow!])
    .then(t, spec.rows('notification_topic_subscribers'), []);
});

test("a topic's followers page in user-id order, after a given id", async (t) => {
  const feed = eventFeed();
  const users = Array.from({ length: 7 }, (_, i) => `${String(i + 1).repeat(8)}-0000-4000-8000-000000000000`);
  // Followed in another order than the ids', and by users of another topic.
  const history = [...users]
    .reverse()
    .flatMap((u) => [
      ...feed.append(schema.subscriptionsStreamId(u), [followed(u, course)]),
      ...feed.append(schema.subscriptionsStreamId(u), [followed(u, author)]),
    ]);
  const pages = async (sql: Parameters<typeof subscribersOf>[0]) => {
    const seen: string[][] = [];
    for (let after: string | null = null, n = 0; n < 10; n++) {
      const page = await subscribersOf(sql, course, { afterUserId: after, limit: 3 });
      if (page.length === 0) break;
      seen.push(page);
      after = page[page.length - 1]!;
    }
    return seen;
  };
  await spec.given(history).then(t, pages, [users.slice(0, 3), users.slice(3, 6), users.slice(6)]);
  await spec
    .given(history)
    .then(
      t,
      (sql) => subscribersOf(sql, { kind: 'course', id: author.id }, { afterUserId: null, limit: 3 }),
      [],
    );
});

test("a course's and its author's followers page as one list: each user once, in user-id order", async (t) => {
  const feed = eventFeed();
  const users = Array.from({ length: 9 }, (_, i) => `${String(i + 1).repeat(8)}-0000-4000-8000-000000000000`);
  // 1, 4, 7 follow the course; 2, 5, 8 the author; 3, 6, 9 both; and one unfollows.
  const history = users.flatMap((u, i) =>
    feed.append(
      schema.subscriptionsStreamId(u),
      i % 3 === 0
        ? [followed(u, course)]
        : i % 3 === 1
          ? [followed(u, author)]
          : [followed(u, course), followed(u, author)],
    ),
  );
  const gone = feed.append(schema.subscriptionsStreamId(users[4]!), [unfollowed(users[4]!, author)]);
  const pages = (limit: number) => async (sql: Parameters<typeof followersOfAny>[0]) => {
    const seen: string[][] = [];
    for (let after: string | null = null, n = 0; n < 20; n++) {
      const page = await followersOfAny(sql, [course, author], { afterUserId: after, limit });
      if (page.length === 0) break;
      seen.push(page.map((f) => f.userId));
      after = page[page.length - 1]!.userId;
    }
    return seen;
  };
  const expected = users.filter((_, i) => i !== 4);
  // Each with the topics they follow, in the order asked: what their unsubscribe link names.
  await spec
    .given([...history, ...gone])
    .then(
      t,
      async (sql) =>
        (await followersOfAny(sql, [course, author], { afterUserId: null, limit: 6 })).map((f) => f.topics),
      [[course], [author], [course, author], [course], [course, author], [course]],
    );
  await spec
    .given([...history, ...gone])
    .then(t, pages(3), [expected.slice(0, 3), expected.slice(3, 6), expected.slice(6)]);
  await spec.given([...history, ...gone]).then(t, pages(100), [expected]);
  await spec
    .given(history)
    .then(
      t,
      async (sql) =>
        (await followersOfAny(sql, [author], { afterUserId: users[4]!, limit: 2 })).map((f) => f.userId),
      [users[5]!, users[7]!],
    );
});

test('the link turns e-mail off like the user would', async (t) => {
  const feed = eventFeed();
  const history = feed.append(schema.subscriptionsStreamId(bob), [
    channels(bob, { email: false, sms: true, push: true }, 'link'),
  ]);
  await spec
    .given(history)
    .then(t, spec.rows('notification_preferences'), [
      { user_id: bob, email: false, sms: true, push: true, devices: [], revision: 0 },
    ]);
});

test('a page size outside 1 to 10000 is refused', async (t) => {
  await spec.given([]).then(
    t,
    async (sql) =>
      Promise.all(
        [0, 10_001, 1.5].map((limit) =>
          subscribersOf(sql, course, { afterUserId: null, limit }).then(
            () => 'taken',
            (e: Error) => e.name,
          ),
        ),
      ),
    ['RangeError', 'RangeError', 'RangeError'],
  );
});
