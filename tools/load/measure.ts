import { runLoad, type Slot } from '../src/bench/load.ts';
import { perSecond, progress as report, round, summarize, type LatencySummary } from '../src/bench/stats.ts';

/** Progress for the human at the terminal (stderr); stdout carries only the JSON document. */
export const progress = (message: string): void => report(message, 'load');

/** How hard and how long one scenario runs. */
export type Plan = Readonly<{
  /** Iterations started per second (open model): the schedule does not wait for answers. */
  ratePerSecond: number;
  warmupMs: number;
  measureMs: number;
  /** The smallest seed and population that still exercise every path (tests, trying it out). */
  quick: boolean;
}>;

/** One kind of request (or delivery) of a scenario, as measured. */
export type StepResult = Readonly<{
  requests: number;
  errors: number;
  /** Successful ones only; from the scheduled start for a scenario's first step (queueing counts). */
  latencyMs: LatencySummary;
}>;

/** What one paced run saw, before thresholds. */
export type Measured = Readonly<{
  rateAsked: number;
  rateAchieved: number;
  /** Iterations completed in the measured window. */
  iterations: number;
  requests: number;
  errors: number;
  errorRate: number;
  firstError?: string;
  steps: Readonly<Record<string, StepResult>>;
}>;

/** A request answered with a status the scenario did not expect. */
export class UnexpectedStatus extends Error {
  constructor(method: string, path: string, status: number, body: unknown) {
    super(`${method} ${path} answered ${status}: ${JSON.stringify(body).slice(0, 300)}`);
    this.name = 'UnexpectedStatus';
  }
}

export type Reply = Readonly<{ status: number; body: any; headers: Headers }>;

/**
 * A JSON client of one server: `expect` the status the scenario needs, and
 * any other answer (or a network failure) throws.
 *
 * @example const http = client(url); const r = await http('POST', '/api/courses', { token, body, expect: 201 });
 */
export const client =
  (base: string) =>
  async (
    method: string,
    path: string,
    opts: Readonly<{
      token?: string;
      body?: unknown;
      headers?: Record<string, string>;
      /** The status, or the statuses, that are answers; 200 by default. */
      expect?: number | readonly number[];
    }> = {},
  ): Promise<Reply> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...opts.headers,
      },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.text();
    const body = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    const expected = opts.expect ?? 200;
    if (typeof expected === 'number' ? res.status !== expected : !expected.includes(res.status))
      throw new UnexpectedStatus(method, path, res.status, body);
    return { status: res.status, body, headers: res.headers };
  };
export type Client = ReturnType<typeof client>;

/**
 * Per-step samples and errors of the measured window. Warm-up requests are
 * neither timed nor counted, so the error rate is the window's.
 */
export const recorder = () => {
  const samples = new Map<string, number[]>();
  const errors = new Map<string, number>();
  let firstError: string | undefined;
  const ensure = (step: string) => {
    if (!samples.has(step)) samples.set(step, []);
    return samples.get(step)!;
  };
  return {
    /** A success of `step` that took `ms`. */
    ok(step: string, measured: boolean, ms: number): void {
      if (measured) ensure(step).push(ms);
    },
    /** A failure of `step`: counted, and the first one kept for the report. */
    failed(step: string, measured: boolean, error: unknown): void {
      firstError ??= `${step}: ${error instanceof Error ? error.message : String(error)}`;
      ensure(step);
      if (measured) errors.set(step, (errors.get(step) ?? 0) + 1);
    },
    /**
     * Times `fn` as `step`, from `from` (the slot's `due` for an
     * iteration's first request, so time spent queued counts) to its answer.
     */
    async time<T>(step: string, slot: Slot, from: number, fn: () => Promise<T>): Promise<T> {
      try {
        const value = await fn();
        this.ok(step, slot.measured, performance.now() - from);
        return value;
      } catch (error) {
        this.failed(step, slot.measured, error);
        throw error;
      }
    },
    steps(): Record<string, StepResult> {
      return Object.fromEntries(
        [...samples].map(([step, ms]) => {
          const failed = errors.get(step) ?? 0;
          return [step, { requests: ms.length + failed, errors: failed, latencyMs: summarize(ms) }];
        }),
      );
    },
    /** The successful samples of `steps` pooled: a route group's latency, as its SLO counts it. */
    pooled: (steps: readonly string[]): LatencySummary =>
      summarize(steps.flatMap((s) => samples.get(s) ?? [])),
    firstError: () => firstError,
  };
};
export type Recorder = ReturnType<typeof recorder>;

/**
 * Runs `iteration` at `plan.ratePerSecond` for the warm-up and the measured
 * window with the bench's paced runner (an open model: iteration i is due
 * at start + i / rate whatever happened before it). Enough concurrent
 * iterations are allowed for 4 s of latency at the asked rate, so the
 * generator is not what limits the rate first; past that, lateness counts
 * in the latencies anyway.
 */
export const pacedRun = async (
  plan: Plan,
  rec: Recorder,
  iteration: (slot: Slot, i: number) => Promise<void>,
  httpSteps: readonly string[],
): Promise<Measured> => {
  let next = 0;
  const raw = await runLoad({
    writers: Math.min(512, Math.max(16, Math.ceil(plan.ratePerSecond * 4))),
    makeWriter: () => (slot) => iteration(slot, next++),
    warmupMs: plan.warmupMs,
    measureMs: plan.measureMs,
    perSecond: plan.ratePerSecond,
  });
  const steps = rec.steps();
  const counted = httpSteps.map((s) => steps[s] ?? { requests: 0, errors: 0 });
  const requests = counted.reduce((n, s) => n + s.requests, 0);
  const errors = counted.reduce((n, s) => n + s.errors, 0);
  const firstError = rec.firstError() ?? raw.firstError;
  return {
    rateAsked: plan.ratePerSecond,
    rateAchieved: perSecond(raw.completed, plan.measureMs),
    iterations: raw.completed,
    requests,
    errors,
    errorRate: requests ? round(errors / requests, 4) : 0,
    ...(firstError ? { firstError } : {}),
    steps,
  };
};
