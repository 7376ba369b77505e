import test from 'ava';
import { decodeIngestMessage, ingestTopic, type IngestMessage } from './ingest.ts';

const message: IngestMessage = {
  id: '0b6f4c1e-9d1a-4c55-9a43-7b1d6f0e2a11',
  type: 'course.viewed',
  userId: 'user-1',
  source: 'web',
  occurredAt: 1_715_000_000_123,
  payload: { courseId: 'c-1' },
  receivedAt: 1_715_000_001_000,
};

test('the ingest topic sits in the analytics context', (t) => {
  t.is(ingestTopic(), 'lectern.analytics.ingest');
  t.is(ingestTopic('t1'), 't1.analytics.ingest');
});

test('a value that is not an ingest message is refused, naming the field', (t) => {
  for (const [value, field] of [
    ['[]', 'id'],
    ['null', 'not an object'],
    [JSON.stringify({ ...message, id: '' }), 'id'],
    [JSON.stringify({ ...message, type: 3 }), 'type'],
    [JSON.stringify({ ...message, userId: 3 }), 'userId'],
    [JSON.stringify({ ...message, source: null }), 'source'],
    [JSON.stringify({ ...message, occurredAt: '2024-05-06' }), 'occurredAt'],
    [JSON.stringify({ ...message, occurredAt: 1.5 }), 'occurredAt'],
    [JSON.stringify({ ...message, receivedAt: null }), 'receivedAt'],
  ] as const) {
    t.throws(() => decodeIngestMessage(value), { message: new RegExp(field) }, value);
  }
  t.throws(() => decodeIngestMessage('not json'), { instanceOf: SyntaxError });
});
