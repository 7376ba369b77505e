import test from 'ava';
import { EventEmitter } from 'node:events';
import { setImmediate as turn } from 'node:timers/promises';
import { START, type FeedCursor, type FeedEvent } from '../ports/event-store.ts';
import { subscribeByPolling } from './subscription.ts';

/** A feed in memory: `reads` counts the reads, `push` appends and wakes, `subscribe` follows it. */
const memoryFeed = () => {
  const events: FeedEvent[] = [];
  const wake = new EventEmitter();
  const feed = {
    reads: 0,
    read: async (after: FeedCursor, limit: number) => {
      feed.reads++;
      const from = after === START ? 0 : Number(after);
      return events.slice(from, from + limit);
    },
    push(n: number) {
      for (let i = 0; i < n; i++) {
        const position = events.length;
        events.push({ cursor: String(position + 1), position } as unknown as FeedEvent);
      }
      wake.emit('append');
    },
    /** Subscribed from the start; `batches` holds the size of each batch handled. */
    subscribe(lingerMs?: number) {
      const batches: number[] = [];
      const sub = subscribeByPolling({
        after: START,
        batchSize: 100,
        handler: async (b) => void batches.push(b.length),
        read: feed.read,
        wake,
        ...(lingerMs === undefined ? {} : { lingerMs }),
      });
      return { sub, batches };
    },
  };
  return feed;
};

test('without a linger, a wake-up reads at once, and each append is a batch of its own', async (t) => {
  const feed = memoryFeed();
  const { sub, batches } = feed.subscribe();
  await sub.caughtUp;
  for (let i = 0; i < 3; i++) {
    feed.push(1);
    // A read follows a wake-up within a few turns of the event loop when nothing lingers.
    for (let k = 0; k < 50 && batches.length <= i; k++) await turn();
  }
  await sub.stop();
  t.deepEqual(batches, [1, 1, 1]);
});

test('with a linger, wake-ups do not read until it ends, and stop ends it at once', async (t) => {
  const feed = memoryFeed();
  // Longer than any test may run: only stop() ends it.
  const { sub, batches } = feed.subscribe(3_600_000);
  await sub.caughtUp;
  const readsBefore = feed.reads;
  feed.push(1);
  for (let k = 0; k < 50; k++) await turn();
  feed.push(2);
  for (let k = 0; k < 50; k++) await turn();
  t.is(feed.reads, readsBefore, 'nothing read while lingering');
  t.deepEqual(batches, []);
  await sub.stop();
  t.is(feed.reads, readsBefore, 'stopping while lingering reads nothing more');
});
