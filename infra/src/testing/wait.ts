import { setTimeout as sleep } from 'node:timers/promises';

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
