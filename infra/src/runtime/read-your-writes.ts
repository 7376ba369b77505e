import type { Metrics } from './metrics.ts';

/** Waits until a projection has applied a stream's event at a position; false when it gave up (stale). */
export type ConsistencyWait = (projection: string, streamId: string, position: number) => Promise<boolean>;

/**
 * Times every read-your-writes wait into `lectern_consistency_wait_seconds`
 * `{projection, outcome}`: the read-your-writes lag as callers feel it, and
 * the share of them that gave up (`stale`), which the SLOs are written on
 * (docs/operations.md#slos). A wait that throws is not counted: it is no
 * answer about the read model's lag.
 *
 * @example
 *   const waitFor = measuredConsistencyWait(metrics, (name, stream, position) => runner.waitFor(…));
 */
export const measuredConsistencyWait =
  (metrics: Metrics, wait: ConsistencyWait): ConsistencyWait =>
  async (projection, streamId, position) => {
    const started = performance.now();
    const reached = await wait(projection, streamId, position);
    metrics.consistencyWait.observe(
      { projection, outcome: reached ? 'caught_up' : 'stale' },
      (performance.now() - started) / 1000,
    );
    return reached;
  };
