import test from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import { UndeclaredMetadata, withDeclaredMetadata, type SqlProjection } from './projection.ts';

const model = (metadata?: SqlProjection['metadata']): SqlProjection => ({
  name: 'declares',
  version: 1,
  contexts: ['test'],
  eventTypes: ['test.Happened'],
  tables: [],
  ddl: () => '',
  apply: async () => {},
  ...(metadata ? { metadata } : {}),
});

const event: RecordedEvent = {
  id: 'e-1',
  type: 'test.Happened',
  schemaVersion: 1,
  occurredAt: '2026-12-06T00:00:00.000Z',
  data: { n: 1 },
  metadata: {
    correlationId: 'c-1',
    causationId: null,
    actor: { userId: 'u-1', roles: ['learner'] },
    requestId: 'r-1',
    traceparent: null,
  },
  streamId: 'test-1',
  revision: 0,
  position: 1,
};

test('a model that declares no metadata gets its events as they are', (t) => {
  const events = [event];
  t.is(withDeclaredMetadata(model(), events), events);
});

test('a declared key reads as it is; an undeclared one throws, naming the model and the key', (t) => {
  const [seen] = withDeclaredMetadata(model(['actor']), [event]);
  t.deepEqual(seen!.metadata.actor, event.metadata.actor);
  t.deepEqual(
    { ...seen, metadata: undefined },
    { ...event, metadata: undefined },
    'the rest of the event unchanged',
  );
  const error = t.throws(() => seen!.metadata.correlationId, { instanceOf: UndeclaredMetadata });
  t.like(error, { projection: 'declares', key: 'correlationId' });
  t.throws(() => withDeclaredMetadata(model([]), [event])[0]!.metadata.actor, {
    instanceOf: UndeclaredMetadata,
  });
  t.is(event.metadata.correlationId, 'c-1', 'the event given is not changed');
});
