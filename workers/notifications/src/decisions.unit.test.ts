import test from 'ava';
import type { NewEvent, RecordedEvent } from '@lectern/schemas';
import { decodeEvent } from '@lectern/schemas/catalogue';
import {
  decisionEventsOf,
  deliveryEvents,
  MAX_DECISIONS_PER_EVENT,
  type DeliveryLogEvent,
} from '@lectern/schemas/notifications/events';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import type { Delivery, DeliveryStatus } from './deliveries.ts';
import { decisionEvent, decisionsEvents } from './decisions.ts';

const cause: RecordedEvent = {
  id: '9a7b3c1d-2e4f-4a6b-8c9d-0e1f2a3b4c5d',
  type: 'content.CoursePublished',
  schemaVersion: 1,
  streamId: 'course-1',
  revision: 2,
  position: 40,
  occurredAt: '2026-12-02T10:00:00.000Z',
  data: {},
  metadata: { correlationId: 'corr-1', causationId: null, actor: null, requestId: null, traceparent: null },
};

const row = (i: number, status: DeliveryStatus, over: Partial<Delivery> = {}): Delivery => ({
  notificationId: deterministicUuid(`n/${i}`),
  eventId: cause.id,
  eventType: cause.type,
  correlationId: 'corr-1',
  template: 'course-published',
  templateVersion: 1,
  channel: i % 2 ? 'push' : 'email',
  userId: deterministicUuid(`u/${i}`),
  address: i % 2 ? 'dev…42' : 'a…@example.org',
  status,
  reason: status === 'sent' ? null : `reason ${i}`,
  provider: status === 'suppressed' ? null : 'push-primary',
  providerRef: status === 'sent' ? `ref-${i}` : null,
  attempts: 1 + (i % 3),
  createdAt: '2026-12-02T10:00:01.000Z',
  updatedAt: `2026-12-02T10:00:0${1 + (i % 7)}.000Z`,
  ...over,
});

/** As the store would give an appended event back. */
const recorded = (e: NewEvent, revision: number): DeliveryLogEvent =>
  ({ ...e, streamId: 'notificationfanout-x', revision, position: 100 + revision }) as DeliveryLogEvent;

const singles = (events: readonly NewEvent[]) => events.flatMap((e, i) => decisionEventsOf(recorded(e, i)));

test('a page of decisions, read back, is the single decision events it stands for, id for id', (t) => {
  const statuses: DeliveryStatus[] = ['sent', 'suppressed', 'failed', 'dead', 'pending'];
  const rows = Array.from({ length: 25 }, (_, i) => row(i, statuses[i % statuses.length]!));
  const events = decisionsEvents(rows, cause);
  t.is(events.length, 1);
  t.is(events[0]!.type, 'notifications.NotificationsDecided');
  t.deepEqual(events[0]!.metadata, decisionEvent(rows[0]!, cause)!.metadata);
  const expected = rows.map((r) => decisionEvent(r, cause)).filter((e) => e !== null);
  t.is(expected.length, 20, 'pending rows are no decision');
  t.deepEqual(
    singles(events).map(({ id, type, schemaVersion, occurredAt, data, metadata }) => ({
      id,
      type,
      schemaVersion,
      occurredAt,
      data,
      metadata,
    })),
    expected,
  );
  // The latest decision's time is the event's.
  t.is(events[0]!.occurredAt, '2026-12-02T10:00:07.000Z');
});

test('a page is cut into events of at most 500 decisions and 256 KiB, each valid and named by what it holds', (t) => {
  const rows = Array.from({ length: 1201 }, (_, i) => row(i, 'sent'));
  const events = decisionsEvents(rows, cause);
  t.true(events.length <= 3, `${events.length} events`);
  for (const e of events) {
    t.true(e.data.decisions.length <= MAX_DECISIONS_PER_EVENT);
    t.true(Buffer.byteLength(JSON.stringify(e.data)) <= 256 * 1024);
    t.true(decodeEvent(deliveryEvents, e.type, e.schemaVersion, e.data).ok);
  }
  const few = decisionsEvents(rows.slice(0, MAX_DECISIONS_PER_EVENT + 1), cause);
  t.true(few.every((e) => e.data.decisions.length <= MAX_DECISIONS_PER_EVENT));
  t.deepEqual(
    singles(events).map((e) => e.id),
    rows.map((r) => decisionEvent(r, cause)!.id),
  );
  t.deepEqual(
    decisionsEvents(rows, cause).map((e) => e.id),
    events.map((e) => e.id),
    'the same decisions are the same events',
  );
  t.not(decisionsEvents(rows.slice(1), cause)[0]!.id, events[0]!.id);
  // Long reasons: bytes decide before the count does.
  const wordy = Array.from({ length: 300 }, (_, i) =>
    row(i, 'dead', { reason: i % 2 ? 'é'.repeat(2000) : '\u0001'.repeat(2000) }),
  );
  const cut = decisionsEvents(wordy, cause);
  t.true(cut.length > 1);
  for (const e of cut) t.true(Buffer.byteLength(JSON.stringify(e.data)) <= 256 * 1024);
  t.is(singles(cut).length, 300);
});

test('decisions of different causes or templates are never in one event', (t) => {
  const other = row(1, 'sent', { eventId: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e' });
  const events = decisionsEvents([row(0, 'sent'), other, row(2, 'sent')], cause);
  t.deepEqual(
    events.map((e) => e.data.causeEventId),
    [cause.id, other.eventId],
  );
  t.is(decisionsEvents([row(0, 'pending')], cause).length, 0);
  // What the log has already is left out.
  const [first] = decisionsEvents([row(0, 'sent'), row(2, 'sent')], cause);
  const known = new Set([first!.data.decisions[0]!.decisionId]);
  t.deepEqual(
    decisionsEvents([row(0, 'sent'), row(2, 'sent')], cause, known).map((e) =>
      e.data.decisions.map((d) => d.decisionId),
    ),
    [[first!.data.decisions[1]!.decisionId]],
  );
});
