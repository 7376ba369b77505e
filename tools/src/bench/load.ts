import { median, perSecond, summarize, type LatencySummary } from './stats.ts';

/**
 * Where an operation falls in the run: `due` is when the schedule said it
 * should start (the moment it was sent, unpaced), `measured` whether it was
 * sent inside the measured window. An operation with steps of its own
 * (the load tests') records them with it; a single one ignores it.
 */
export type Slot = Readonly<{ due: number; measured: boolean }>;

/** One operation of one writer (one append of one event); it keeps its own stream state. */
export type Operation = (slot: Slot) => Promise<void>;

/** What one measured run saw, raw: every latency sample is kept so repeated runs pool them. */
export type RawRun = Readonly<{
  writers: number;
  measureMs: number;
  completed: number;
  latencies: readonly number[];
  responses: readonly number[];
  perSecond?: number;
  errors: number;
  firstError?: string;
}>;

export type LoadResult = Readonly<{
  writers: number;
  /** Repetitions, each on a fresh database. */
  runs: number;
  measuredSecondsPerRun: number;
  /** Operations completed inside the measured windows, all runs together. */
  operations: number;
  /** Median over the runs of operations completed per second of the measured window. */
  perSecond: number;
  perSecondByRun: readonly number[];
  /** From the moment the operation was sent until it resolved; samples of every run pooled. */
  latencyMs: LatencySummary;
  /**
   * Paced runs only: from the moment the schedule said the operation should
   * start, so time spent waiting for a free writer (or a late timer) counts:
   * no coordinated omission.
   */
  responseMs?: LatencySummary;
  targetPerSecond?: number;
  errors: number;
  firstError?: string;
}>;

/**
 * Drives `writers` concurrent writers, each running its own operations one
 * after another, for `warmupMs` unmeasured and then `measureMs` measured.
 *
 * Closed loop by default: a writer sends its next operation as soon as the
 * previous one resolves. With `perSecond`, open loop: operation i of the
 * whole run is due at `start + i / perSecond`, taken by whichever writer is
 * free; a writer never sends early, and a late one sends at once.
 */
export const runLoad = async (opts: {
  writers: number;
  makeWriter: (index: number) => Operation;
  warmupMs: number;
  measureMs: number;
  perSecond?: number;
}): Promise<RawRun> => {
  const ops = Array.from({ length: opts.writers }, (_, i) => opts.makeWriter(i));
  const start = performance.now();
  const windowStart = start + opts.warmupMs;
  const end = windowStart + opts.measureMs;
  const latencies: number[] = [];
  const responses: number[] = [];
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let nextSlot = 0;
  const interval = opts.perSecond ? 1000 / opts.perSecond : 0;

  const once = async (op: Operation, due: number): Promise<void> => {
    const sent = performance.now();
    try {
      await op({ due, measured: sent >= windowStart });
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return;
    }
    const done = performance.now();
    if (sent >= windowStart) {
      latencies.push(done - sent);
      if (opts.perSecond) responses.push(done - due);
    }
    if (done >= windowStart && done <= end) completed++;
  };

  const writer = async (op: Operation): Promise<void> => {
    for (;;) {
      if (opts.perSecond) {
        const due = start + nextSlot++ * interval;
        if (due >= end) return;
        // Never early: a timer may fire a little before its time, so check again.
        for (let wait = due - performance.now(); wait > 0; wait = due - performance.now())
          await new Promise((r) => setTimeout(r, Math.ceil(wait)));
        await once(op, due);
      } else {
        const now = performance.now();
        if (now >= end) return;
        await once(op, now);
      }
    }
  };

  await Promise.all(ops.map(writer));
  return {
    writers: opts.writers,
    measureMs: opts.measureMs,
    completed,
    latencies,
    responses,
    ...(opts.perSecond ? { perSecond: opts.perSecond } : {}),
    errors,
    ...(firstError ? { firstError } : {}),
  };
};

/** Several runs of one configuration as one result: median throughput, pooled latency samples. */
export const combine = (runs: readonly RawRun[]): LoadResult => {
  const first = runs[0];
  if (!first) throw new Error('combine needs at least one run');
  const rates = runs.map((r) => perSecond(r.completed, r.measureMs));
  const firstError = runs.find((r) => r.firstError)?.firstError;
  return {
    writers: first.writers,
    runs: runs.length,
    measuredSecondsPerRun: first.measureMs / 1000,
    operations: runs.reduce((n, r) => n + r.completed, 0),
    perSecond: Math.round(median(rates)),
    perSecondByRun: rates,
    latencyMs: summarize(runs.flatMap((r) => r.latencies)),
    ...(first.perSecond
      ? { responseMs: summarize(runs.flatMap((r) => r.responses)), targetPerSecond: first.perSecond }
      : {}),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    ...(firstError ? { firstError } : {}),
  };
};
