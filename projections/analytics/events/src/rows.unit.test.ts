import { readFileSync } from 'node:fs';
import type { RecordedEvent } from '@lectern/schemas';
import test from 'ava';
import { decodeIngestMessage, type IngestMessage } from '@lectern/schemas/analytics/ingest';
import type { NotificationsDecided } from '@lectern/schemas/notifications/events';
import { domainRow, domainRows, subjectOf, telemetryRow } from './rows.ts';

const message: IngestMessage = {
  id: '0b6f4c1e-9d1a-4c55-9a43-7b1d6f0e2a11',
  type: 'course.viewed',
  userId: 'user-1',
  source: 'web',
  occurredAt: 1_715_000_000_123,
  payload: { courseId: 'c-1' },
  receivedAt: 1_715_000_001_000,
};

const event = (data: unknown, actor: string | null): RecordedEvent => ({
  id: 'e-1',
  type: 'profile.ProfileUpdated',
  schemaVersion: 2,
  streamId: 'profile-9',
  revision: 3,
  position: 42,
  occurredAt: '2024-05-06T12:00:00.500Z',
  data,
  metadata: {
    correlationId: 'c',
    causationId: null,
    actor: actor === null ? null : { userId: actor, roles: [] },
    requestId: null,
    traceparent: null,
  },
});

test('an ingest message becomes a telemetry row', (t) => {
  t.deepEqual(telemetryRow(decodeIngestMessage(JSON.stringify(message)), 7), {
    event_id: message.id,
    kind: 'telemetry',
    type: 'course.viewed',
    user_id: 'user-1',
    source: 'web',
    occurred_at: 1_715_000_000_123,
    payload: '{"courseId":"c-1"}',
    stream_id: '',
    schema_version: 1,
    ingested_at: 7,
  });
  t.is(telemetryRow({ ...message, userId: null, payload: undefined }, 7).user_id, '');
  t.is(telemetryRow({ ...message, payload: undefined }, 7).payload, 'null');
});

test('a domain event becomes a row about its subject, sourced from its context', (t) => {
  t.deepEqual(domainRow(event({ userId: 'user-9', changes: [] }, 'admin-1'), 7), {
    event_id: 'e-1',
    kind: 'domain',
    type: 'profile.ProfileUpdated',
    user_id: 'user-9',
    source: 'profile',
    occurred_at: Date.UTC(2024, 4, 6, 12, 0, 0, 500),
    payload: '{"userId":"user-9","changes":[]}',
    stream_id: 'profile-9',
    schema_version: 2,
    ingested_at: 7,
  });
  t.is(subjectOf(event({ levelId: 'l' }, 'admin-1')), 'admin-1', 'no subject in the data: the actor');
  t.is(subjectOf(event({ levelId: 'l' }, null)), '', 'neither');
  t.throws(() => domainRow({ ...event({}, null), occurredAt: 'soon' }, 7), { message: /occurredAt/ });
});

test('secrets and contact data of domain events never reach analytics', (t) => {
  const of = (type: string, data: unknown) =>
    JSON.parse(domainRow({ ...event(data, null), type }, 0).payload) as Record<string, unknown>;
  const registered = of('identity.UserRegistered', {
    userId: 'u-1',
    email: 'ada@example.org',
    passwordHash: 'scrypt$N=32768,r=8,p=1$salt$hash',
    roles: ['learner'],
    registeredAt: '2026-01-01T00:00:00.000Z',
  });
  t.deepEqual(registered, { userId: 'u-1', roles: ['learner'], registeredAt: '2026-01-01T00:00:00.000Z' });
  const code = of('identity.PhoneCodeSent', {
    phone: '+4915112345678',
    userId: 'u-1',
    codeId: 'c-1',
    codeHash: 'scrypt$…',
    codeSalt: 'salt',
    expiresAt: '2026-01-01T00:10:00.000Z',
  });
  t.deepEqual(code, { userId: 'u-1', expiresAt: '2026-01-01T00:10:00.000Z' });
  t.deepEqual(
    of('identity.EmailChanged', { userId: 'u-1', from: 'a@x.org', to: 'b@x.org', changedAt: 'x' }),
    {
      userId: 'u-1',
      changedAt: 'x',
    },
  );
  // Nested keys too; other events keep their from/to (a profile change's values).
  t.deepEqual(
    of('profile.ProfileUpdated', { changes: [{ field: 'bio', from: null, to: 'hi', token: 'x' }] }),
    {
      changes: [{ field: 'bio', from: null, to: 'hi' }],
    },
  );
});

test('a page of notification decisions is a row per decision, as its single event would be', (t) => {
  const fixture = JSON.parse(
    readFileSync(
      new URL(
        '../../../../schemas/fixtures/notifications/notifications.NotificationsDecided.v1.json',
        import.meta.url,
      ),
      'utf8',
    ),
  ) as { type: string; schemaVersion: number; data: NotificationsDecided };
  const page = { ...event(fixture.data, null), type: fixture.type, streamId: 'notificationfanout-1' };
  const rows = domainRows(page, 7);
  t.deepEqual(
    rows.map((r) => [r.event_id, r.type, r.user_id, r.stream_id]),
    fixture.data.decisions.map((d) => [
      d.decisionId,
      {
        sent: 'notifications.NotificationSent',
        suppressed: 'notifications.NotificationSuppressed',
        failed: 'notifications.NotificationFailed',
      }[d.status],
      d.userId,
      'notificationfanout-1',
    ]),
  );
  t.like(JSON.parse(rows[0]!.payload), {
    notificationId: fixture.data.decisions[0]!.notificationId,
    causeEventId: fixture.data.causeEventId,
    template: 'course-published',
    provider: 'push-primary',
    sentAt: fixture.data.decisions[0]!.at,
  });
  t.is(rows[2]!.occurred_at, Date.parse(fixture.data.decisions[2]!.at));
  // Any other event is one row, as before.
  t.deepEqual(domainRows(event({ userId: 'user-9', changes: [] }, null), 7), [
    domainRow(event({ userId: 'user-9', changes: [] }, null), 7),
  ]);
});
