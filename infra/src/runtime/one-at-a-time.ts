/**
 * `fn` with its calls queued: each starts once the one before it has
 * settled (resolved or rejected), and each caller gets its own call's
 * outcome. For work that must not overlap within a process, such as two
 * rebuilds of one model, each of which would drop the other's tables.
 *
 * @example
 *   const rebuild = oneAtATime((opts: RebuildOptions) => rebuildAnalytics(deps, opts));
 *   await Promise.all([rebuild({}), rebuild({})]); // the second starts when the first is done
 */
export const oneAtATime = <A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
): ((...args: A) => Promise<R>) => {
  let last: Promise<unknown> = Promise.resolve();
  return (...args) => {
    const run = last.then(() => fn(...args));
    last = run.catch(() => {});
    return run;
  };
};
