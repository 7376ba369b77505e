import { setTimeout as sleep } from 'node:timers/promises';
import { START, type EventStore, type FeedEvent } from '../ports/event-store.ts';

/**
 * Waits for a condition, bounded: polls `predicate` every `intervalMs` until
 * it holds, and fails with `what` once `timeoutMs` has passed. Tests wait for
 * what the design guarantees, never for a duration, so a busy machine makes
 * them slower, not red; the bound only turns a hang into a failure.
 *
 * @example await waitUntil('the projection caught up', async () => (await rows()).length === 20);
 */
export const waitUntil = async (
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  intervalMs = 25,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
};

/**
 * Waits (bounded) until the store's feed shows every event of `ids`, and
 * returns them in feed order. On PostgreSQL the feed holds a commit back
 * while an older transaction of the store's database is still open (another
 * writer's), so what was just appended may not be in it yet; a consumer, a
 * replay and an audit all read the feed.
 *
 * @example const [shown] = await feedShows(store, [event.id]);
 */
export const feedShows = async (
  store: Pick<EventStore, 'readAll'>,
  ids: readonly string[],
  timeoutMs = 120_000,
): Promise<FeedEvent[]> => {
  const wanted = new Set(ids);
  let shown: FeedEvent[] = [];
  await waitUntil(
    `the feed to show ${ids.length === 1 ? `event ${ids[0]}` : `${ids.length} events`}`,
    async () => {
      shown = [];
      for (let cursor = START; ;) {
        const page = await store.readAll(cursor, 1000);
        if (page.length === 0) return shown.length === wanted.size;
        shown.push(...page.filter((e) => wanted.has(e.id)));
        cursor = page[page.length - 1]!.cursor;
      }
    },
    timeoutMs,
  );
  return shown;
};
