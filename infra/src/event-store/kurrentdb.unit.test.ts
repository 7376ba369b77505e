import test from 'ava';
import { ANY, NO_STREAM, STREAM_EXISTS } from '@kurrent/kurrentdb-client';
import type { NewEvent, RecordedEvent } from '@lectern/schemas';
import { EventIdConflict, START } from '../ports/event-store.ts';
import {
  actualRevision,
  compareCursors,
  customStreamMetadata,
  formatCursor,
  isUserEvent,
  kurrentEventStore,
  matchStored,
  normalizeConnectionString,
  parseCursor,
  sameContent,
  toEventData,
  toFeedEvent,
  toRecordedEvent,
  toStreamState,
  withCustomStreamMetadata,
  type KurrentRecord,
} from './kurrentdb.ts';

const envelope = (over: Partial<NewEvent> = {}): NewEvent => ({
  id: '3f1c2a9e-5b7d-4c1e-9a4f-0d2b6e8c7a15',
  type: 'content.CoursePublished',
  schemaVersion: 2,
  occurredAt: '2026-01-01T10:00:00.000Z',
  data: { courseId: 'course-1', title: 'Café ✓', tags: ['a', 'b'] },
  metadata: {
    correlationId: 'corr-1',
    causationId: 'cmd-1',
    actor: { userId: 'u-1', roles: ['instructor'] },
    requestId: 'req-1',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  },
  ...over,
});

/** What the server hands back for an event written with `toEventData`: JSON through the wire. */
const recordOf = (e: NewEvent, extra: Partial<KurrentRecord> = {}): KurrentRecord => {
  const written = toEventData(e);
  return {
    streamId: 'course-1',
    id: written.id,
    type: written.type,
    revision: 4n,
    isJson: true,
    created: new Date('2026-02-02T00:00:00.000Z'),
    data: JSON.parse(JSON.stringify(written.data)),
    metadata: JSON.parse(JSON.stringify(written.metadata)),
    position: { commit: 9_007_199_254_740_993n, prepare: 9_007_199_254_740_993n },
    ...extra,
  };
};

test('cursors format as commit:prepare and parse back exactly, beyond 2^53', (t) => {
  const p = { commit: 9_007_199_254_740_993n, prepare: 9_007_199_254_740_991n };
  t.is(formatCursor(p), '9007199254740993:9007199254740991');
  t.deepEqual(parseCursor(formatCursor(p)), p);
  t.is(parseCursor(START), null);
  for (const bad of ['12', '1:2:3', 'a:b', '-1:0', ' 1:2'])
    t.throws(() => parseCursor(bad), { message: /cursor/ });
});

test('cursors compare in $all order: commit first, then prepare, numerically', (t) => {
  t.true(compareCursors(START, '0:0') < 0);
  t.true(compareCursors('0:0', START) > 0);
  t.is(compareCursors(START, START), 0);
  t.true(compareCursors('9:9', '10:10') < 0, 'not lexicographic');
  t.true(compareCursors('100:5', '100:7') < 0);
  t.true(compareCursors('101:0', '100:900') > 0);
  t.is(compareCursors('100:5', '100:5'), 0);
});

test('expected revisions map to the client stream states', (t) => {
  t.is(toStreamState('any'), ANY);
  t.is(toStreamState('no_stream'), NO_STREAM);
  t.is(toStreamState('stream_exists'), STREAM_EXISTS);
  t.is(toStreamState(0), 0n);
  t.is(toStreamState(41), 41n);
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 60])
    t.throws(() => toStreamState(bad), { instanceOf: RangeError });
});

test("the server's current revision maps to the port's actual revision", (t) => {
  t.is(actualRevision(NO_STREAM), 'no_stream');
  t.is(actualRevision(-1n), 'no_stream');
  t.is(actualRevision(0n), 0);
  t.is(actualRevision(7n), 7);
});

test('an envelope becomes a JSON event: data as data, the rest in the metadata with $correlationId/$causationId', (t) => {
  const e = envelope();
  const written = toEventData(e);
  t.is(written.contentType, 'application/json');
  t.is(written.id, e.id);
  t.is(written.type, e.type);
  t.deepEqual(written.data, e.data);
  t.deepEqual(written.metadata, {
    schemaVersion: 2,
    occurredAt: '2026-01-01T10:00:00.000Z',
    correlationId: 'corr-1',
    causationId: 'cmd-1',
    actor: { userId: 'u-1', roles: ['instructor'] },
    requestId: 'req-1',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    $correlationId: 'corr-1',
    $causationId: 'cmd-1',
  });
  const noCause = toEventData(envelope({ metadata: { ...e.metadata, causationId: null } }));
  t.false(Object.hasOwn(noCause.metadata as object, '$causationId'));
});

test('an event read back rebuilds the envelope it was written from', (t) => {
  const e = envelope();
  t.deepEqual(toRecordedEvent(recordOf(e)), {
    ...e,
    streamId: 'course-1',
    revision: 4,
    position: Number(9_007_199_254_740_993n),
  });
  const feed = toFeedEvent({ ...recordOf(e), position: { commit: 700n, prepare: 650n } });
  t.is(feed.cursor, '700:650');
  t.is(feed.position, 700);
});

test('non-object data and null metadata fields survive the round trip', (t) => {
  for (const data of [null, 'text', 42, [1, 2], { nested: { deep: [true] } }]) {
    const e = envelope({
      data,
      metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
    });
    const back = toRecordedEvent(recordOf(e));
    t.deepEqual(back.data, data);
    t.deepEqual(back.metadata, e.metadata);
  }
  t.is(toRecordedEvent(recordOf(envelope({ data: undefined }))).data, null);
});

test('events other writers put in the store read with fallbacks, not failures', (t) => {
  const foreign: KurrentRecord = {
    streamId: 'legacy-1',
    id: 'e0a3c1d2-1111-4222-8333-944455556666',
    type: 'LegacyThing',
    revision: 0n,
    isJson: false,
    created: new Date('2025-05-05T05:05:05.000Z'),
    data: new TextEncoder().encode('{"x":1}'),
    metadata: new TextEncoder().encode('{"$correlationId":"c-9","$causationId":"x-9"}'),
    position: { commit: 10n, prepare: 10n },
  };
  t.deepEqual(toRecordedEvent(foreign), {
    id: foreign.id,
    type: 'LegacyThing',
    schemaVersion: 1,
    occurredAt: '2025-05-05T05:05:05.000Z',
    data: { x: 1 },
    metadata: { correlationId: 'c-9', causationId: 'x-9', actor: null, requestId: null, traceparent: null },
    streamId: 'legacy-1',
    revision: 0,
    position: 10,
  });
  const bare = toRecordedEvent({ ...foreign, isJson: true, data: { y: 2 }, metadata: undefined });
  t.is(bare.metadata.correlationId, foreign.id);
  const binary = new Uint8Array([0xff, 0x00]);
  t.is(toRecordedEvent({ ...foreign, data: binary }).data, binary);
});

test('a stream read falls back to the resolved commit position; none at all is an error', (t) => {
  const { position: _, ...withoutPosition } = recordOf(envelope());
  t.is(toRecordedEvent(withoutPosition, 555n).position, 555);
  t.throws(() => toRecordedEvent(withoutPosition), { message: /without its position/ });
});

test("the feed leaves out KurrentDB's own events", (t) => {
  t.true(isUserEvent('course-1', 'content.CoursePublished'));
  t.false(isUserEvent('$$course-1', '$metadata'));
  t.false(isUserEvent('$ce-course', '$>'));
  t.false(isUserEvent('$stats-127.0.0.1:2113', 'content.Whatever'));
  t.false(isUserEvent('course-1', '$metadata'));
});

test('esdb:// connection strings become kurrentdb:// ones', (t) => {
  t.is(normalizeConnectionString('esdb://127.0.0.1:2113?tls=false'), 'kurrentdb://127.0.0.1:2113?tls=false');
  t.is(normalizeConnectionString('esdb+discover://a:2113,b:2113'), 'kurrentdb+discover://a:2113,b:2113');
  t.is(normalizeConnectionString('kurrentdb://admin:changeit@h:2113'), 'kurrentdb://admin:changeit@h:2113');
  t.is(normalizeConnectionString('kdb://h:2113'), 'kdb://h:2113');
});

test('custom stream metadata is the keys without $; replacing it keeps the $ keys', (t) => {
  t.is(customStreamMetadata(null), null);
  t.is(customStreamMetadata({ $tb: 2 }), null);
  t.deepEqual(customStreamMetadata({ $tb: 2, owner: 'u-1' }), { owner: 'u-1' });
  t.deepEqual(customStreamMetadata(new TextEncoder().encode('{"owner":"u-2"}')), { owner: 'u-2' });
  t.deepEqual(
    withCustomStreamMetadata({ $tb: 2, $maxAge: 60, owner: 'u-1', retention: 'forever' }, { owner: 'u-2' }),
    {
      $tb: 2,
      $maxAge: 60,
      owner: 'u-2',
    },
  );
  t.deepEqual(withCustomStreamMetadata(null, { owner: 'u-1' }), { owner: 'u-1' });
  t.throws(() => withCustomStreamMetadata(null, { $tb: 0 }), { message: /KurrentDB's/ });
});

test('the module loads the native client and builds a store without reaching a server', async (t) => {
  // Nothing connects until the first call; 127.0.0.1:1 is never dialled here.
  const store = await kurrentEventStore('esdb://127.0.0.1:1?tls=false');
  t.true(store.compareCursors('1:1', '2:0') < 0);
  await store.close();
});

test('an idempotent-looking append is this batch only when the stored events have its ids, in order, with its content', (t) => {
  const a = envelope();
  const b = envelope({ id: '7d0c8b1e-2f3a-4b5c-8d6e-9f0a1b2c3d4e', data: { courseId: 'course-1', n: 2 } });
  const stored = (es: NewEvent[], streamId = 'course-1') =>
    es.map((e, i) => toRecordedEvent(recordOf(e, { streamId, revision: BigInt(i) })));
  t.is(matchStored('course-1', [a, b], stored([a, b])), 'same');
  t.is(matchStored('course-1', [a], stored([b])), 'none', 'none of the ids is there: a real conflict');

  // A retry stamps new metadata and time, and may order keys differently: still the same event.
  const retry: NewEvent = {
    ...a,
    occurredAt: '2026-01-01T10:00:05.000Z',
    data: { tags: ['a', 'b'], title: 'Café ✓', courseId: 'course-1' },
    metadata: { ...a.metadata, correlationId: 'corr-2', requestId: 'req-2' },
  };
  t.is(matchStored('course-1', [retry], stored([a])), 'same');

  const conflicts: [string, NewEvent[], RecordedEvent[], string][] = [
    ['other data', [{ ...a, data: { courseId: 'course-2' } }], stored([a]), a.id],
    ['a member more', [{ ...a, data: { ...(a.data as object), extra: 1 } }], stored([a]), a.id],
    ['other type', [{ ...a, type: 'content.CourseArchived' }], stored([a]), a.id],
    ['other schema version', [{ ...a, schemaVersion: 3 }], stored([a]), a.id],
    ['another stream', [a], stored([a], 'course-9'), a.id],
    ['another batch', [a, envelope({ id: '0b5e3c2d-1a2b-4c3d-8e4f-5a6b7c8d9e0f' })], stored([a, b]), a.id],
    ['a part of a batch', [a, b], stored([a]), a.id],
    ['the second event differs', [a, { ...b, data: null }], stored([a, b]), b.id],
  ];
  for (const [what, events, found, id] of conflicts) {
    const match = matchStored('course-1', events, found);
    t.true(match instanceof EventIdConflict, what);
    t.is((match as EventIdConflict).eventId, id, what);
  }
});

test('content equality ignores metadata and time, and compares data as JSON', (t) => {
  const e = envelope({ data: { a: 1, skipped: undefined } });
  const read = toRecordedEvent(recordOf(e));
  t.true(sameContent(read, 'course-1', e));
  t.true(sameContent(read, 'course-1', { ...e, data: { a: 1 } }));
  t.false(sameContent(read, 'course-1', { ...e, data: { a: '1' } }));
  t.false(sameContent(read, 'course-2', e));
  t.true(
    sameContent(
      toRecordedEvent(recordOf(envelope({ data: undefined }))),
      'course-1',
      envelope({ data: null }),
    ),
  );
});
