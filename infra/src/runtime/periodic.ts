/**
 * A job run now and then every `everyMs`, one run at a time: when a run is
 * still going as the next falls due, that one is skipped (runs never pile
 * up behind a slow one). A run that
 * fails is reported to `onError` and the next goes on. `stop()` ends the
 * timer and waits for the run in hand. The timer never holds the process up.
 *
 * @example
 *   const sweep = periodic(() => sweeper.tick(), 60_000, (err) => log.warn({ err }, 'sweep failed; next time'));
 *   sweep.start(); … await sweep.stop();
 */
export const periodic = (
  run: () => Promise<unknown>,
  everyMs: number,
  onError: (error: unknown) => void,
  /** `later`: the first run is due `everyMs` after `start()`, not at once. */
  first: 'now' | 'later' = 'now',
) => {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const once = () => {
    running ??= Promise.resolve()
      .then(run)
      .then(() => undefined, onError)
      .finally(() => {
        running = null;
      });
  };
  return {
    start() {
      if (timer) return;
      if (first === 'now') once();
      timer = setInterval(once, everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
};
