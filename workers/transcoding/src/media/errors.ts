/**
 * Why a media step failed, in a closed set of codes the worker can branch on
 * and log. `permanent` is the one bit it must act on: a permanent failure is
 * a property of the source (retrying gives the same answer, so the upload is
 * rejected); anything else may pass on another try (the worker retries up to
 * three times).
 */
export type MediaErrorCode =
  /** ffprobe could not read the source at all (not media, truncated, encrypted). */
  | 'unreadable'
  /** The source reads but holds no video stream (audio only, subtitles, an image sequence). */
  | 'no_video_stream'
  /** The source reads but states no duration, so no ladder can be planned or progress shown. */
  | 'no_duration'
  /** A playlist or concatenation list: it would make ffmpeg open other files, so it is refused. */
  | 'unsupported_container'
  /** The local source file is not there: the worker's download went wrong, not the upload. */
  | 'source_missing'
  /** ffmpeg or ffprobe is not installed (infra/local/ffmpeg.sh installs them). */
  | 'tool_missing'
  /** ffmpeg or ffprobe exited non-zero, or was killed by a signal, while working on a readable source. */
  | 'tool_failed'
  /** What the encode wrote does not hold up: a variant unreadable, mis-sized, or segments too long. */
  | 'bad_output';

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  readonly permanent: boolean;
  /** The end of the tool's stderr, or another detail for the log; never shown to an end user. */
  readonly detail: string | undefined;

  constructor(code: MediaErrorCode, message: string, opts: { permanent: boolean; detail?: string }) {
    super(message);
    this.name = 'MediaError';
    this.code = code;
    this.permanent = opts.permanent;
    this.detail = opts.detail;
  }
}

/** True for a `MediaError`, narrowing it; `instanceof` alone would do, but reads worse in a catch. */
export const isMediaError = (e: unknown): e is MediaError => e instanceof MediaError;

/** How much of a tool's stderr is kept: the end is where ffmpeg says what went wrong. */
export const STDERR_TAIL_BYTES = 4096;

/**
 * Keeps only the last `limit` bytes of a stream's output, so an ffmpeg that
 * logs for an hour cannot grow the worker's memory; the cut is made on
 * whole lines where one is near, so the tail starts readable.
 *
 * @example const err = tailBuffer(); child.stderr.on('data', err.push); … err.text()
 */
export const tailBuffer = (limit = STDERR_TAIL_BYTES) => {
  let kept = Buffer.alloc(0);
  return {
    push: (chunk: Buffer): void => {
      const joined = Buffer.concat([kept, chunk]);
      kept = joined.length > limit ? joined.subarray(joined.length - limit) : joined;
    },
    text: (): string => {
      const s = kept.toString('utf8');
      const firstBreak = s.indexOf('\n');
      const cut = kept.length >= limit && firstBreak >= 0 && firstBreak < 200 ? s.slice(firstBreak + 1) : s;
      return cut.trim();
    },
  };
};

/** The error for a tool that could not be spawned at all (ENOENT): install it, then retry. */
export const toolMissing = (tool: string, bin: string): MediaError =>
  new MediaError('tool_missing', `${tool} not found (${bin}); run infra/local/ffmpeg.sh to install it`, {
    permanent: false,
  });

/**
 * The error a signal's abort turns into: named `AbortError` as Node's own
 * are, so the worker treats it as "stopped on purpose", neither a transient
 * nor a permanent media failure.
 */
export const abortError = (what: string, signal: AbortSignal): Error => {
  const e = new Error(`${what} was aborted`, { cause: signal.reason });
  e.name = 'AbortError';
  return e;
};
