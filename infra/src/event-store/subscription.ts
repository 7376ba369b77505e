import type { EventEmitter } from 'node:events';
import type { FeedCursor, FeedEvent, Subscription } from '../ports/event-store.ts';

/**
 * Catch-up-then-live delivery over a store that can be read in pages and that
 * emits `append` when something was written. A wake-up that finds nothing new
 * (a write still hidden behind an older open transaction) is retried with a
 * short, growing delay, so nothing waits on a fixed sleep and nothing is
 * missed when a notification is lost. With `lingerMs`, a wake-up by an
 * append waits that long before reading, so that the appends of a burst
 * are read, and handled, as one batch.
 */
export const subscribeByPolling = (opts: {
  after: FeedCursor;
  batchSize: number;
  handler: (batch: readonly FeedEvent[]) => Promise<void>;
  read: (after: FeedCursor, limit: number) => Promise<FeedEvent[]>;
  wake: EventEmitter;
  maxIdleMs?: number;
  lingerMs?: number;
}): Subscription => {
  const maxIdle = opts.maxIdleMs ?? 1000;
  const linger = opts.lingerMs ?? 0;
  let stopped = false;
  let woken = false;
  let wakeUp: (() => void) | null = null;
  let stopWait: (() => void) | null = null;
  const onWake = (): void => {
    woken = true;
    wakeUp?.();
  };
  opts.wake.on('append', onWake);

  /** Until `ms` have passed, or a wake-up (unless `untilWoken` is false) or stop. */
  const sleep = (ms: number, untilWoken = true): Promise<void> =>
    new Promise((resolve) => {
      if ((untilWoken && woken) || stopped) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeUp = null;
        stopWait = null;
        resolve();
      }
      stopWait = done;
      if (untilWoken) wakeUp = done;
    });

  let markCaughtUp!: () => void;
  const caughtUp = new Promise<void>((r) => (markCaughtUp = r));

  const loop = async (): Promise<void> => {
    let cursor = opts.after;
    let idle = 5;
    try {
      while (!stopped) {
        woken = false;
        const events = await opts.read(cursor, opts.batchSize);
        if (stopped) return;
        if (events.length > 0) {
          await opts.handler(events);
          cursor = events[events.length - 1]!.cursor;
        }
        if (events.length === opts.batchSize) continue;
        markCaughtUp();
        if (events.length > 0) idle = 5;
        await sleep(idle);
        if (woken && linger > 0) await sleep(linger, false);
        idle = woken ? 5 : Math.min(idle * 2, maxIdle);
      }
    } finally {
      opts.wake.off('append', onWake);
      markCaughtUp();
    }
  };
  const done = loop();
  done.catch(() => {});
  return {
    caughtUp,
    done,
    async stop() {
      stopped = true;
      stopWait?.();
      await done.catch(() => {});
    },
  };
};
