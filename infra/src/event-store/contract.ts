import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import type { NewEvent } from '@lectern/schemas';
import { START, WrongExpectedRevision, type EventStore, type FeedEvent } from '../ports/event-store.ts';
import { pgliteSql } from '../sql/pglite.ts';
import { eventIdCases } from './contract-event-ids.ts';

/**
 * The one suite every EventStore adapter passes. Each test works on streams
 * of its own (random ids), so the suite tolerates a shared, non-empty store.
 */
export const eventStoreContract = (
  test: TestFn,
  name: string,
  make: () => Promise<{ store: EventStore; cleanup(): Promise<void> }>,
  opts: { idsUniqueAcrossStreams?: boolean } = {},
): void => {
  let made: Promise<{ store: EventStore; cleanup(): Promise<void> }> | null = null;
  const store = async (): Promise<EventStore> => (await (made ??= make())).store;
  test.after.always(async () => {
    if (made) await (await made).cleanup();
  });

  const stream = (prefix = 'contract'): string => `${prefix}-${randomUUID()}`;
  const event = (n: number, type = 'test.Happened'): NewEvent => ({
    id: randomUUID(),
    type,
    schemaVersion: 1,
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(),
    data: { n, text: `event ${n} ✓` },
    metadata: {
      correlationId: randomUUID(),
      causationId: null,
      actor: { userId: 'u-1', roles: ['learner'] },
      requestId: 'req-1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    },
  });
  const events = (count: number, from = 0): NewEvent[] =>
    Array.from({ length: count }, (_, i) => event(from + i));

  /**
   * The feed's events of `streams` after a cursor. On PostgreSQL the feed shows
   * a commit only once every older transaction of the store's database has
   * ended (rule 2), and other tests write beside this one: when the caller
   * knows how many events must be there, read again (bounded) until they are.
   * What the feed shows is always a prefix, never a gap, which the tests check.
   */
  const feedOf = async (
    s: EventStore,
    streams: Set<string>,
    after = START,
    expected = 0,
  ): Promise<FeedEvent[]> => {
    for (const until = Date.now() + 120_000; ;) {
      const out: FeedEvent[] = [];
      let cursor = after;
      for (;;) {
        const page = await s.readAll(cursor, 1000);
        if (page.length === 0) break;
        for (const e of page) if (streams.has(e.streamId)) out.push(e);
        cursor = page[page.length - 1]!.cursor;
      }
      if (out.length >= expected || Date.now() > until) return out;
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test(`${name}: appends to a new stream and reads it back with envelope intact`, async (t) => {
    const s = await store();
    const id = stream();
    const written = events(3);
    const result = await s.append(id, written, { expectedRevision: 'no_stream' });
    t.is(result.nextExpectedRevision, 2);
    const read = await s.readStream(id);
    t.deepEqual(
      read.map((e) => [
        e.id,
        e.type,
        e.revision,
        e.streamId,
        e.data,
        e.metadata,
        e.occurredAt,
        e.schemaVersion,
      ]),
      written.map((e, i) => [e.id, e.type, i, id, e.data, e.metadata, e.occurredAt, e.schemaVersion]),
    );
    t.true(read[0]!.position < read[1]!.position && read[1]!.position < read[2]!.position);
    t.is(read[2]!.position, result.position);
  });

  test(`${name}: enforces every kind of expected revision`, async (t) => {
    const s = await store();
    const id = stream();
    const err = await t.throwsAsync(s.append(id, events(1), { expectedRevision: 'stream_exists' }), {
      instanceOf: WrongExpectedRevision,
    });
    t.is(err?.actual, 'no_stream');
    await t.throwsAsync(s.append(id, events(1), { expectedRevision: 0 }), {
      instanceOf: WrongExpectedRevision,
    });
    await s.append(id, events(2), { expectedRevision: 'no_stream' });
    const conflict = await t.throwsAsync(s.append(id, events(1), { expectedRevision: 'no_stream' }), {
      instanceOf: WrongExpectedRevision,
    });
    t.is(conflict?.actual, 1);
    const stale = await t.throwsAsync(s.append(id, events(1), { expectedRevision: 0 }), {
      instanceOf: WrongExpectedRevision,
    });
    t.is(stale?.actual, 1);
    t.is((await s.append(id, events(1), { expectedRevision: 1 })).nextExpectedRevision, 2);
    t.is((await s.append(id, events(1), { expectedRevision: 'stream_exists' })).nextExpectedRevision, 3);
    t.is((await s.append(id, events(1), { expectedRevision: 'any' })).nextExpectedRevision, 4);
    t.is((await s.readStream(id)).length, 5);
  });

  test(`${name}: re-appending the same event ids is idempotent`, async (t) => {
    const s = await store();
    const id = stream();
    const batch = events(3);
    const first = await s.append(id, batch, { expectedRevision: 'no_stream' });
    const again = await s.append(id, batch, { expectedRevision: 'no_stream' });
    const anyAgain = await s.append(id, batch, { expectedRevision: 'any' });
    t.deepEqual(again, first);
    t.deepEqual(anyAgain, first);
    t.is((await s.readStream(id)).length, 3);
    const feed = await feedOf(s, new Set([id]), START, 3);
    t.is(feed.length, 3);
  });

  eventIdCases({
    test,
    name,
    store,
    stream,
    events,
    idsUniqueAcrossStreams: opts.idsUniqueAcrossStreams ?? true,
  });

  test(`${name}: concurrent appends at one expected revision: exactly one wins`, async (t) => {
    const s = await store();
    const id = stream();
    await s.append(id, events(1), { expectedRevision: 'no_stream' });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => s.append(id, events(1, i), { expectedRevision: 0 })),
    );
    t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    t.true(
      results.every((r) => r.status === 'fulfilled' || r.reason instanceof WrongExpectedRevision),
      'losers get WrongExpectedRevision',
    );
    t.is((await s.readStream(id)).length, 2);
  });

  test(`${name}: reads a stream forwards, backwards, from a revision, with a limit`, async (t) => {
    const s = await store();
    const id = stream();
    await s.append(id, events(10), { expectedRevision: 'no_stream' });
    const revs = (es: { revision: number }[]) => es.map((e) => e.revision);
    t.deepEqual(revs(await s.readStream(id, { direction: 'backwards' })), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    t.deepEqual(revs(await s.readStream(id, { fromRevision: 7 })), [7, 8, 9]);
    t.deepEqual(revs(await s.readStream(id, { direction: 'backwards', fromRevision: 2 })), [2, 1, 0]);
    t.deepEqual(revs(await s.readStream(id, { fromRevision: 3, maxCount: 2 })), [3, 4]);
    t.deepEqual(revs(await s.readStream(id, { direction: 'backwards', maxCount: 1 })), [9]);
    t.deepEqual(await s.readStream(stream('missing')), []);
  });

  test(`${name}: the global feed reads in order from any cursor`, async (t) => {
    const s = await store();
    const a = stream();
    const b = stream();
    await s.append(a, events(2), { expectedRevision: 'no_stream' });
    await s.append(b, events(2), { expectedRevision: 'no_stream' });
    await s.append(a, events(1, 2), { expectedRevision: 1 });
    const feed = await feedOf(s, new Set([a, b]), START, 5);
    t.deepEqual(
      feed.map((e) => `${e.streamId === a ? 'a' : 'b'}${e.revision}`),
      ['a0', 'a1', 'b0', 'b1', 'a2'],
    );
    for (let i = 1; i < feed.length; i++) t.true(s.compareCursors(feed[i - 1]!.cursor, feed[i]!.cursor) < 0);
    const rest = await feedOf(s, new Set([a, b]), feed[1]!.cursor, 3);
    t.deepEqual(
      rest.map((e) => e.id),
      feed.slice(2).map((e) => e.id),
    );
    t.true(s.compareCursors(await s.headCursor(), feed[4]!.cursor) >= 0);
    // Other tests may append meanwhile: the head is at least the newest of these.
    const head = await s.headPosition();
    t.true(head !== null && head >= Math.max(...feed.map((e) => e.position)), String(head));
  });

  test(`${name}: a subscription catches up, then receives live events`, async (t) => {
    const s = await store();
    const id = stream();
    const head = await s.headCursor();
    await s.append(id, events(3), { expectedRevision: 'no_stream' });
    const seen: number[] = [];
    let resolveLive!: () => void;
    const live = new Promise<void>((r) => (resolveLive = r));
    const sub = s.subscribeToAll(head, async (batch) => {
      for (const e of batch) {
        if (e.streamId !== id) continue;
        seen.push(e.revision);
        if (e.revision === 5) resolveLive();
      }
    });
    await sub.caughtUp;
    // `caughtUp` means caught up with what the feed showed then. On PostgreSQL the
    // feed waits for the oldest transaction of the store's database (other
    // tests write beside this one), so the three may surface a moment later.
    for (const until = Date.now() + 120_000; seen.length < 3 && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 20));
    t.deepEqual(seen, [0, 1, 2]);
    await s.append(id, events(3, 3), { expectedRevision: 2 });
    await Promise.race([
      live,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('live event not delivered in 5 s')), 5000),
      ),
    ]);
    await sub.stop();
    t.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  });

  test(`${name}: a correlation's events come back across streams, in global order, and no other`, async (t) => {
    const s = await store();
    const correlationId = randomUUID();
    const correlated = (n: number): NewEvent => {
      const e = event(n);
      return { ...e, metadata: { ...e.metadata, correlationId } };
    };
    const a = stream();
    const b = stream();
    await s.append(a, [correlated(0), event(1)], { expectedRevision: 'no_stream' });
    await s.append(b, [correlated(2)], { expectedRevision: 'no_stream' });
    await s.append(a, [correlated(3)], { expectedRevision: 1 });
    await s.append(stream(), [event(4)], { expectedRevision: 'no_stream' });
    // KurrentDB indexes correlations asynchronously (its `$by_correlation_id`): bounded wait.
    let found = await s.readCorrelation(correlationId);
    for (const until = Date.now() + 120_000; found.length < 3 && Date.now() < until;)
      found = await new Promise((r) => setTimeout(r, 50)).then(() => s.readCorrelation(correlationId));
    t.deepEqual(
      found.map((e) => [e.streamId === a ? 'a' : 'b', e.revision, e.data, e.metadata.correlationId]),
      [
        ['a', 0, { n: 0, text: 'event 0 ✓' }, correlationId],
        ['b', 0, { n: 2, text: 'event 2 ✓' }, correlationId],
        ['a', 2, { n: 3, text: 'event 3 ✓' }, correlationId],
      ],
    );
    t.true(found[0]!.position < found[1]!.position && found[1]!.position < found[2]!.position);
    t.deepEqual(
      (await s.readCorrelation(correlationId, { maxCount: 2 })).map((e) => e.id),
      found.slice(0, 2).map((e) => e.id),
    );
    t.deepEqual(await s.readCorrelation(randomUUID()), []);
  });

  test(`${name}: the feed is no relation of a database the store is not in`, async (t) => {
    const s = await store();
    // A database of its own, in memory: no store keeps its events there.
    const elsewhere = await pgliteSql(null);
    try {
      t.is(s.feedRelation(elsewhere, { upTo: await s.headCursor(), types: ['test.Happened'] }), null);
    } finally {
      await elsewhere.close();
    }
  });

  test(`${name}: stream metadata round-trips`, async (t) => {
    const s = await store();
    const id = stream();
    t.is(await s.getStreamMetadata(id), null);
    await s.append(id, events(1), { expectedRevision: 'no_stream' });
    await s.setStreamMetadata(id, { retention: 'forever', owner: 'u-1' });
    t.like(await s.getStreamMetadata(id), { retention: 'forever', owner: 'u-1' });
    await s.setStreamMetadata(id, { owner: 'u-2' });
    t.like(await s.getStreamMetadata(id), { owner: 'u-2' });
  });

  test(`${name}: the first event of many streams at once, none of a missing or deleted one`, async (t) => {
    const s = await store();
    const [a, b, gone, resumed, missing] = [stream(), stream(), stream(), stream(), stream('missing')];
    const aEvents = events(3);
    const bEvents = events(1);
    await s.append(a, aEvents, { expectedRevision: 'no_stream' });
    await s.append(b, bEvents, { expectedRevision: 'no_stream' });
    await s.append(gone, events(2), { expectedRevision: 'no_stream' });
    await s.deleteStream(gone, { expectedRevision: 1 });
    await s.append(resumed, events(2), { expectedRevision: 'no_stream' });
    await s.deleteStream(resumed, { expectedRevision: 1 });
    const again = events(1, 2);
    await s.append(resumed, again, { expectedRevision: 'no_stream' });
    const firsts = await s.readFirstEvents([a, b, gone, resumed, missing, a]);
    t.deepEqual(
      [...firsts.entries()].map(([id, e]) => [id, e.streamId, e.id, e.revision]).sort(),
      [
        [a, a, aEvents[0]!.id, 0],
        [b, b, bEvents[0]!.id, 0],
        [resumed, resumed, again[0]!.id, 2],
      ].sort(),
    );
    t.is((await s.readFirstEvents([])).size, 0);
  });

  test(`${name}: soft delete hides a stream; appending again resumes it`, async (t) => {
    const s = await store();
    const id = stream();
    const first = events(2);
    await s.append(id, first, { expectedRevision: 'no_stream' });
    await t.throwsAsync(s.deleteStream(id, { expectedRevision: 0 }), { instanceOf: WrongExpectedRevision });
    await s.deleteStream(id, { expectedRevision: 1 });
    t.deepEqual(await s.readStream(id), []);
    await t.throwsAsync(s.append(id, events(1), { expectedRevision: 'stream_exists' }), {
      instanceOf: WrongExpectedRevision,
    });
    const resumed = await s.append(id, events(1, 2), { expectedRevision: 'no_stream' });
    t.is(resumed.nextExpectedRevision, 2);
    t.deepEqual(
      (await s.readStream(id)).map((e) => e.revision),
      [2],
    );
    // The global feed is history: the deleted events are still in it.
    const feed = await feedOf(s, new Set([id]), START, 3);
    t.deepEqual(
      feed.slice(0, 2).map((e) => e.id),
      first.map((e) => e.id),
    );
  });

  test(`${name}: the global feed never skips under 16 concurrent appenders`, async (t) => {
    const s = await store();
    const runs = 5;
    const writers = 16;
    const perWriter = 25;
    for (let run = 0; run < runs; run++) {
      const streams = Array.from({ length: writers }, () => stream('race'));
      const mine = new Set(streams);
      const head = await s.headCursor();
      const delivered: FeedEvent[] = [];
      const sub = s.subscribeToAll(
        head,
        async (batch) => {
          for (const e of batch) if (mine.has(e.streamId)) delivered.push(e);
        },
        { batchSize: 37 },
      );
      // Each writer appends one event at a time so transactions interleave.
      await Promise.all(
        streams.map(async (id) => {
          for (let i = 0; i < perWriter; i++)
            await s.append(id, [event(i)], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });
        }),
      );
      const total = writers * perWriter;
      const deadline = Date.now() + 120_000;
      while (delivered.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await sub.stop();
      const ids = delivered.map((e) => e.id);
      t.is(ids.length, total, `run ${run}: every event delivered`);
      t.is(new Set(ids).size, total, `run ${run}: no event delivered twice`);
      const reread = await feedOf(s, mine, head, ids.length);
      t.deepEqual(
        reread.map((e) => e.id),
        ids,
        `run ${run}: one stable order`,
      );
      for (const id of streams) {
        const revs = delivered.filter((e) => e.streamId === id).map((e) => e.revision);
        t.deepEqual(
          revs,
          Array.from({ length: perWriter }, (_, i) => i),
          `run ${run}: per-stream order`,
        );
      }
    }
  });
};
