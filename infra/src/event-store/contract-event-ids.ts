import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import type { NewEvent } from '@lectern/schemas';
import { EventIdConflict, type EventStore } from '../ports/event-store.ts';

export type EventIdCases = Readonly<{
  test: TestFn;
  name: string;
  store: () => Promise<EventStore>;
  stream: () => string;
  events: (count: number, from?: number) => NewEvent[];
  /** False where ids are unique per stream only (KurrentDB keeps no index of event ids). */
  idsUniqueAcrossStreams: boolean;
}>;

/**
 * The contract's cases about event ids (ARCHITECTURE.md rule 9): a retried
 * append with the same content is a no-op answering as the first one; an
 * event id reused for other content is refused with `EventIdConflict` and
 * nothing is written.
 */
export const eventIdCases = ({
  test,
  name,
  store,
  stream,
  events,
  idsUniqueAcrossStreams,
}: EventIdCases): void => {
  /** The same event as a retry would send it: same content, new metadata and time. */
  const retried = (e: NewEvent): NewEvent => ({
    ...e,
    occurredAt: new Date(Date.parse(e.occurredAt) + 1000).toISOString(),
    metadata: { ...e.metadata, correlationId: randomUUID(), requestId: randomUUID() },
  });

  test(`${name}: a retry with the same content but new metadata and time is a no-op`, async (t) => {
    const s = await store();
    const id = stream();
    const batch = events(2);
    const first = await s.append(id, batch, { expectedRevision: 'no_stream' });
    t.deepEqual(await s.append(id, batch.map(retried), { expectedRevision: 'no_stream' }), first);
    t.deepEqual(await s.append(id, batch.map(retried), { expectedRevision: 'any' }), first);
    const read = await s.readStream(id);
    t.deepEqual(
      read.map((e) => [e.id, e.metadata, e.occurredAt]),
      batch.map((e) => [e.id, e.metadata, e.occurredAt]),
      'the first append is what stays',
    );
  });

  test(`${name}: an existing event id with other data, type or schema version is refused`, async (t) => {
    const s = await store();
    const id = stream();
    const [original] = events(1);
    await s.append(id, [original!], { expectedRevision: 'no_stream' });
    const variants: NewEvent[] = [
      { ...original!, data: { n: 1, text: 'another body' } },
      { ...original!, type: 'test.SomethingElse' },
      { ...original!, schemaVersion: 2 },
    ];
    for (const variant of variants)
      for (const expectedRevision of ['no_stream', 'any'] as const) {
        const err = await t.throwsAsync(s.append(id, [variant], { expectedRevision }), {
          instanceOf: EventIdConflict,
        });
        t.is(err?.eventId, original!.id);
      }
    const read = await s.readStream(id);
    t.deepEqual(
      read.map((e) => [e.id, e.type, e.schemaVersion, e.data]),
      [[original!.id, original!.type, original!.schemaVersion, original!.data]],
    );
  });

  test(`${name}: an event id of another batch is refused`, async (t) => {
    const s = await store();
    const id = stream();
    const [a, b, c] = events(3);
    await s.append(id, [a!, b!], { expectedRevision: 'no_stream' });
    const err = await t.throwsAsync(s.append(id, [a!, c!], { expectedRevision: 'no_stream' }), {
      instanceOf: EventIdConflict,
    });
    t.is(err?.eventId, a!.id);
    t.deepEqual(
      (await s.readStream(id)).map((e) => e.id),
      [a!.id, b!.id],
    );
  });

  if (idsUniqueAcrossStreams)
    test(`${name}: an existing event id in another stream is refused`, async (t) => {
      const s = await store();
      const [there, here] = [stream(), stream()];
      const [e] = events(1);
      await s.append(there, [e!], { expectedRevision: 'no_stream' });
      const err = await t.throwsAsync(s.append(here, [e!], { expectedRevision: 'no_stream' }), {
        instanceOf: EventIdConflict,
      });
      t.is(err?.eventId, e!.id);
      t.deepEqual(await s.readStream(here), []);
      // Nothing of the refused append remains: the stream is still new.
      await s.append(here, events(1), { expectedRevision: 'no_stream' });
    });
};
