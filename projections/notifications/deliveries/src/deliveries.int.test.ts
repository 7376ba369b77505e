import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import type { Decided, DeliveryLogDomainEvent } from '@lectern/schemas/notifications/events';
import { decisionsOfUser, notificationLogProjection } from './index.ts';

const spec = projectionSpec(notificationLogProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const welcome = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const published = '9a7b3c1d-2e4f-4a6b-8c9d-0e1f2a3b4c5d';
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const at = (second: number) => `2026-12-02T10:00:${String(second).padStart(2, '0')}.000Z`;

const sentWelcome: DeliveryLogDomainEvent = {
  type: 'notifications.NotificationSent',
  data: {
    notificationId: id(1),
    causeEventId: welcome,
    causeEventType: 'identity.UserRegistered',
    template: 'welcome',
    templateVersion: 1,
    channel: 'email',
    userId: ada,
    address: 'a…@example.org',
    provider: 'smtp',
    providerRef: 'smtp-1',
    attempts: 1,
    sentAt: at(1),
  },
};
const decided = (decisions: Decided[]): DeliveryLogDomainEvent => ({
  type: 'notifications.NotificationsDecided',
  data: {
    causeEventId: published,
    causeEventType: 'content.CoursePublished',
    template: 'course-published',
    templateVersion: 1,
    decisions,
  },
});
const page = decided([
  {
    status: 'suppressed',
    decisionId: id(11),
    notificationId: id(2),
    channel: 'email',
    userId: ada,
    address: 'a…@example.org',
    reason: 'the user turned email off',
    at: at(5),
  },
  {
    status: 'sent',
    decisionId: id(12),
    notificationId: id(3),
    channel: 'push',
    userId: ada,
    address: 'dev…42',
    provider: 'push-primary',
    providerRef: 'msg-1',
    attempts: 1,
    at: at(5),
  },
  {
    status: 'failed',
    decisionId: id(13),
    notificationId: id(4),
    channel: 'email',
    userId: bob,
    address: 'b…@example.org',
    provider: 'smtp',
    reason: '550 no such mailbox',
    attempts: 1,
    deadLettered: true,
    at: at(5),
  },
]);

test('single decisions and a page of them are the same log: a row per decision, keyed by its id', async (t) => {
  const feed = eventFeed();
  const [single] = feed.append(`notification-${id(1)}`, [sentWelcome]);
  const [many] = feed.append('notificationfanout-1', [page]);
  const common = {
    causeEventId: published,
    causeEventType: 'content.CoursePublished',
    template: 'course-published',
    templateVersion: 1,
  };
  await spec
    .given([single!])
    .when([many!])
    .when([many!])
    .then(t, (sql) => decisionsOfUser(sql, ada, { limit: 10 }), [
      {
        ...common,
        decisionId: id(12),
        notificationId: id(3),
        decision: 'sent',
        channel: 'push',
        userId: ada,
        address: 'dev…42',
        provider: 'push-primary',
        providerRef: 'msg-1',
        attempts: 1,
        reason: null,
        at: at(5),
      },
      {
        ...common,
        decisionId: id(11),
        notificationId: id(2),
        decision: 'suppressed',
        channel: 'email',
        userId: ada,
        address: 'a…@example.org',
        provider: null,
        providerRef: null,
        attempts: null,
        reason: 'the user turned email off',
        at: at(5),
      },
      {
        decisionId: single!.id,
        notificationId: id(1),
        decision: 'sent',
        template: 'welcome',
        templateVersion: 1,
        channel: 'email',
        userId: ada,
        address: 'a…@example.org',
        causeEventId: welcome,
        causeEventType: 'identity.UserRegistered',
        provider: 'smtp',
        providerRef: 'smtp-1',
        attempts: 1,
        reason: null,
        at: at(1),
      },
    ]);
  await spec
    .given([many!])
    .then(
      t,
      async (sql) => (await decisionsOfUser(sql, bob, { limit: 10 })).map((d) => [d.decision, d.reason]),
      [['dead_lettered', '550 no such mailbox']],
    );
});
