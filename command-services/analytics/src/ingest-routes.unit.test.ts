import test from 'ava';
import type { analytics } from '@lectern/schemas';
import { decodeIngestMessage } from '@lectern/schemas/analytics/ingest';
import { ingestMessages, type IngestCaller } from './ingest-routes.ts';

const T = Date.UTC(2026, 2, 1, 9, 30);
const ctx = {
  commandId: 'batch-0001',
  correlationId: 'corr-1',
  requestId: 'req-1',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
};
const user: IngestCaller = { kind: 'user', userId: 'u-1', admin: false, scope: 'user:u-1' };
const key: IngestCaller = { kind: 'key', keyId: 'abcdef0123456789', scope: 'key:abcdef0123456789' };
const events: analytics.IngestEvent[] = [
  { type: 'course.viewed', time: T, source: 'web', payload: { courseId: 'c-1' } },
  {
    id: '0b7e3c2a-8d1f-4e6a-9c5b-2f4d6a8e0c1b',
    type: 'lesson.completed',
    userId: '5f0c7a9e-2b4d-4c6e-8a1f-3d5b7c9e0a2f',
    time: T + 1,
    source: 'ios',
    payload: { note: 'it\'s \\ "quoted"' },
  },
];

test('each event becomes an ingest message the projector decodes, keyed by its user', (t) => {
  const messages = ingestMessages(events, { caller: user, ctx, receivedAt: T + 5 });
  t.is(messages.length, 2);
  const [first, second] = messages.map((m) => decodeIngestMessage(m.value));
  t.like(first, { type: 'course.viewed', userId: 'u-1', source: 'web', occurredAt: T, receivedAt: T + 5 });
  t.deepEqual(first?.payload, { courseId: 'c-1' });
  t.deepEqual(second, {
    id: '0b7e3c2a-8d1f-4e6a-9c5b-2f4d6a8e0c1b',
    type: 'lesson.completed',
    userId: '5f0c7a9e-2b4d-4c6e-8a1f-3d5b7c9e0a2f',
    source: 'ios',
    occurredAt: T + 1,
    payload: { note: 'it\'s \\ "quoted"' },
    receivedAt: T + 5,
  });
  t.deepEqual(
    messages.map((m) => m.key),
    ['u-1', '5f0c7a9e-2b4d-4c6e-8a1f-3d5b7c9e0a2f'],
  );
  t.like(messages[0]?.headers, {
    'event-id': first?.id,
    'correlation-id': 'corr-1',
    'request-id': 'req-1',
    traceparent: ctx.traceparent,
  });
});

test('without an id the event id is derived: the same batch again gets the same ids', (t) => {
  const once = ingestMessages(events, { caller: user, ctx, receivedAt: T });
  const again = ingestMessages(events, { caller: user, ctx, receivedAt: T + 60_000 });
  t.is(once[0]!.headers!['event-id'], again[0]!.headers!['event-id']);
  t.regex(
    once[0]!.headers!['event-id']!,
    /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );

  const ids = (caller: IngestCaller, commandId: string) =>
    ingestMessages([events[0]!, events[0]!], { caller, ctx: { ...ctx, commandId }, receivedAt: T }).map(
      (m) => m.headers!['event-id'],
    );
  const base = ids(user, 'batch-0001');
  t.not(base[0], base[1], 'each index its own id');
  t.notDeepEqual(ids(user, 'batch-0002'), base, 'another key, other ids');
  t.notDeepEqual(
    ids({ ...user, userId: 'u-2', scope: 'user:u-2' }, 'batch-0001'),
    base,
    'another caller with the same key, other ids',
  );
});

test('an ingest key has no user: events without one are keyed by their id', (t) => {
  const [m] = ingestMessages([events[0]!], { caller: key, ctx, receivedAt: T });
  const decoded = decodeIngestMessage(m!.value);
  t.is(decoded.userId, null);
  t.is(m!.key, decoded.id);
});
