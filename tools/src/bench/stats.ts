/** Latency figures, in milliseconds, computed from every raw sample of a run. */
export type LatencySummary = Readonly<{
  samples: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}>;

const round = (n: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** Nearest-rank percentile of sorted samples (no interpolation: every figure is a sample that happened). */
const rank = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
};

export const summarize = (samplesMs: readonly number[]): LatencySummary => {
  const sorted = Float64Array.from(samplesMs).sort();
  const list = Array.from(sorted);
  const sum = list.reduce((a, b) => a + b, 0);
  return {
    samples: list.length,
    p50: round(rank(list, 0.5)),
    p90: round(rank(list, 0.9)),
    p95: round(rank(list, 0.95)),
    p99: round(rank(list, 0.99)),
    max: round(list[list.length - 1] ?? Number.NaN),
    mean: round(list.length ? sum / list.length : Number.NaN),
  };
};

/** The median of a few repeated measurements (throughputs of repeated runs and the like). */
export const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const perSecond = (count: number, ms: number): number =>
  ms > 0 ? Math.round((count * 1000) / ms) : 0;

export const ratio = (a: number, b: number): number | null =>
  b > 0 && Number.isFinite(a) ? round(a / b, 2) : null;

export { round };

/** Progress for the human at the terminal; stdout carries only the final JSON document. */
export const progress = (message: string, tool = 'bench'): void => {
  process.stderr.write(`[${tool} ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; throws after `timeoutMs` with `what` in the message. */
export const waitUntil = async (
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number },
): Promise<void> => {
  const deadline = performance.now() + opts.timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}`);
    await sleep(opts.intervalMs ?? 10);
  }
};
