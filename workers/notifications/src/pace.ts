/**
 * A provider's pace: at most `perSecond` messages a second, in bursts of
 * up to a second's worth (a token bucket). Each send takes a token first,
 * waiting for one when there are none. Time and sleep are injected.
 *
 * @example const pace = pacer(200); await pace.take(); await provider.send(m);
 */
export const pacer = (
  perSecond: number,
  now: () => number = () => performance.now(),
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
) => {
  if (!(perSecond > 0)) throw new RangeError('a pace needs a positive rate');
  let tokens = perSecond;
  let at = now();
  return {
    async take(): Promise<void> {
      for (;;) {
        const t = now();
        tokens = Math.min(perSecond, tokens + ((t - at) * perSecond) / 1000);
        at = t;
        if (tokens >= 1) {
          tokens -= 1;
          return;
        }
        await sleep(Math.ceil(((1 - tokens) * 1000) / perSecond));
      }
    },
  };
};

/** Runs `work` over `items` with at most `limit` at once; every item is tried, errors are collected. */
export const inPool = async <T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<unknown[]> => {
  const errors: unknown[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          await work(item);
        } catch (error) {
          errors.push(error);
        }
      }
    }),
  );
  return errors;
};
