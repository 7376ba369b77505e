import type { MessageLog } from '../ports/message-log.ts';
import type { Metrics } from './metrics.ts';

/** What a consumer's watch last saw. */
export type ConsumerProgress = Readonly<{
  /** Messages in its topics it has not committed yet; null before the first sample. */
  lag: number | null;
  /** How long it has had lag without committing anything, in ms; 0 while it advances or has no lag. */
  stalledForMs: number;
  /** True once `stalledForMs` reached the watch's `stallAfterMs`. */
  stalled: boolean;
}>;

export type ProgressWatch = Readonly<{
  /** Samples once now (tests and the first sample), then every `intervalMs` until `stop`. */
  start(): void;
  stop(): void;
  /** Takes one sample: lag and committed offsets of every partition. */
  sample(): Promise<void>;
  progress(): ConsumerProgress;
}>;

/**
 * Watches a consumer group from the outside, through the log's committed
 * offsets, so that it sees what the group as a whole does in whatever
 * process its members run:
 *
 * 1. Each sample reads the committed offset and log end of every partition.
 * 2. Any committed offset that moved, or no lag at all, is progress.
 * 3. Lag without progress for `stallAfterMs` is a stall: a message the
 *    consumer keeps failing, an engine that is down, a member that hangs.
 *    It shows in `lectern_consumer_stalled_seconds{consumer}` (0 when not
 *    stalled) and, through `progress()`, in `/readyz` as degraded.
 *
 * Lag in events is published as `lectern_projection_lag_events{projection}`.
 *
 * @example
 *   const watch = progressWatch({ name: 'profiles', group, topics, log, metrics, stallAfterMs: 60_000 });
 *   watch.start();
 *   if (watch.progress().stalled) …
 */
export const progressWatch = (opts: {
  name: string;
  group: string;
  topics: readonly string[];
  log: MessageLog;
  metrics?: Metrics | undefined;
  stallAfterMs?: number;
  intervalMs?: number;
  now?: () => number;
}): ProgressWatch => {
  const now = opts.now ?? Date.now;
  const stallAfter = opts.stallAfterMs ?? 60_000;
  let committed = new Map<string, string | null>();
  let lag: number | null = null;
  let lastProgressAt = now();
  let timer: NodeJS.Timeout | null = null;

  const stalledForMs = (): number => (lag ? Math.max(0, now() - lastProgressAt) : 0);

  const sample = async (): Promise<void> => {
    const all = await Promise.all(
      opts.topics.map(async (topic) =>
        (await opts.log.lag(opts.group, topic)).map((x) => ({ ...x, key: `${topic}/${x.partition}` })),
      ),
    );
    const parts = all.flat();
    const next = new Map(parts.map((x) => [x.key, x.committed]));
    const moved = parts.some((x) => committed.has(x.key) && committed.get(x.key) !== x.committed);
    lag = parts.reduce((n, x) => n + Number(BigInt(x.end) - BigInt(x.committed ?? '0')), 0);
    if (moved || lag === 0) lastProgressAt = now();
    committed = next;
    opts.metrics?.projectionLagEvents.set({ projection: opts.name }, lag);
    opts.metrics?.consumerStalledSeconds.set(
      { consumer: opts.name },
      stalledForMs() >= stallAfter ? stalledForMs() / 1000 : 0,
    );
  };

  const tick = () => void sample().catch(() => {});

  return {
    start() {
      if (timer) return;
      // Progress is measured from when watching began, not from an old sample.
      lastProgressAt = now();
      committed = new Map();
      tick();
      timer = setInterval(tick, opts.intervalMs ?? 5000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    sample,
    progress: () => {
      const ms = stalledForMs();
      return { lag, stalledForMs: ms, stalled: ms >= stallAfter };
    },
  };
};

/**
 * The `/readyz` check of a consumer: not ready while it is not consuming,
 * degraded (naming it, its lag and for how long) while it is stalled.
 *
 * @example readiness.push(consumerReadiness('projection:profiles', runner));
 */
export const consumerReadiness = (
  name: string,
  consumer: Readonly<{ isRunning(): boolean; progress(): ConsumerProgress }>,
): Readonly<{ name: string; check: () => { degraded: string } | undefined }> => ({
  name,
  check: () => {
    if (!consumer.isRunning()) throw new Error(`${name} is not consuming`);
    const p = consumer.progress();
    if (!p.stalled) return undefined;
    return {
      degraded: `${name} has ${p.lag} messages waiting and has not advanced for ${Math.round(p.stalledForMs / 1000)} s`,
    };
  },
});
