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
