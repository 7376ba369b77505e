import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { abortError, MediaError, tailBuffer, toolMissing } from './errors.ts';
import { guardChild } from './guard.ts';

export type VideoStream = Readonly<{
  /** Display size: a phone's rotated recording is reported upright, as ffmpeg will decode it. */
  width: number;
  height: number;
  codec: string;
  /** Frames per second, or null where the container does not say (variable, unknown). */
  frameRate: number | null;
}>;
export type AudioStream = Readonly<{ codec: string; channels: number }>;

/**
 * What the worker needs to know of a source before encoding it. `video` is
 * never null: a source without one is refused by `probe` (the ladder needs a
 * picture), so the type says so rather than making every caller check.
 */
export type Probe = Readonly<{ durationSeconds: number; video: VideoStream; audio: AudioStream | null }>;

export type ToolOptions = Readonly<{
  signal?: AbortSignal;
  /** The ffprobe to run; `ffprobe` on PATH unless told. */
  ffprobe?: string;
}>;

/**
 * Demuxers that open further files named inside the source (an uploaded HLS
 * playlist could name /etc/passwd as a segment): never read from an upload.
 */
const REFERENCING_FORMATS = new Set(['hls', 'concat', 'ffconcat']);

/**
 * Probes a local media file with ffprobe.
 *
 * Throws a permanent `MediaError` when the file is no media ffprobe reads
 * (`unreadable`), holds no video (`no_video_stream`), states no duration
 * (`no_duration`) or is a playlist (`unsupported_container`); a transient one
 * when the file is not there (`source_missing`, the download's fault) or
 * ffprobe is not installed or dies (`tool_missing`, `tool_failed`).
 *
 * @example const { durationSeconds, video, audio } = await probe('/tmp/job-1/source');
 */
export const probe = async (path: string, opts: ToolOptions = {}): Promise<Probe> => {
  const file = resolve(path);
  await stat(file).catch(() => {
    throw new MediaError('source_missing', `no file at ${file}`, { permanent: false });
  });
  // file: and a file-only whitelist: a source never makes ffprobe reach the network.
  const out = await ffprobeJson(
    ['-protocol_whitelist', 'file', '-show_format', '-show_streams', `file:${file}`],
    opts,
  );
  if (out.kind === 'failed') {
    throw new MediaError('unreadable', `ffprobe cannot read the source: ${lastLine(out.stderr)}`, {
      permanent: true,
      detail: out.stderr,
    });
  }
  return probeOf(out.json, out.stderr);
};

/**
 * The `Probe` of ffprobe's JSON (`-show_format -show_streams`), or the
 * permanent error that makes the source unusable. Pure, so the rules read in
 * one place.
 */
export const probeOf = (json: unknown, stderr = ''): Probe => {
  const doc = (json ?? {}) as FfprobeDoc;
  const streams = doc.streams ?? [];
  const formatName = doc.format?.format_name ?? '';
  if (formatName.split(',').some((f) => REFERENCING_FORMATS.has(f))) {
    throw new MediaError('unsupported_container', `a ${formatName} playlist is not a media file`, {
      permanent: true,
    });
  }
  // Cover art is a video stream too (one still image); it is no picture to encode.
  const v = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!v || !(Number(v.width) > 0) || !(Number(v.height) > 0)) {
    const kinds = streams.map((s) => s.codec_type ?? '?').join(', ') || 'none';
    throw new MediaError('no_video_stream', `the source has no video stream (streams: ${kinds})`, {
      permanent: true,
      detail: stderr || undefined,
    });
  }
  const durationSeconds = firstPositive(doc.format?.duration, v.duration);
  if (durationSeconds === null) {
    throw new MediaError('no_duration', 'the source states no duration', { permanent: true });
  }
  const upright = Math.abs(rotationOf(v)) % 180 === 90;
  const a = streams.find((s) => s.codec_type === 'audio');
  return {
    durationSeconds,
    video: {
      width: upright ? Number(v.height) : Number(v.width),
      height: upright ? Number(v.width) : Number(v.height),
      codec: v.codec_name ?? 'unknown',
      frameRate: rateOf(v.avg_frame_rate) ?? rateOf(v.r_frame_rate),
    },
    audio: a ? { codec: a.codec_name ?? 'unknown', channels: Number(a.channels) || 0 } : null,
  };
};

export type FfprobeStream = Readonly<{
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  channels?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  disposition?: Readonly<{ attached_pic?: number }>;
  tags?: Readonly<{ rotate?: string }>;
  side_data_list?: ReadonlyArray<Readonly<{ rotation?: number }>>;
}>;
export type FfprobeDoc = Readonly<{
  streams?: readonly FfprobeStream[];
  format?: Readonly<{ format_name?: string; duration?: string }>;
}>;

type ToolResult =
  | Readonly<{ kind: 'ok'; json: unknown; stderr: string }>
  | Readonly<{ kind: 'failed'; code: number; stderr: string }>;

/**
 * Runs ffprobe with JSON output (and `-v error`, so stderr holds only what
 * went wrong) and parses it. Exit code 1 is ffprobe's "cannot read this"
 * and comes back as `failed` for the caller to judge; a kill by a signal, an
 * abort or a missing ffprobe throw, since they say nothing of the file.
 */
export const ffprobeJson = (args: readonly string[], opts: ToolOptions = {}): Promise<ToolResult> => {
  const bin = opts.ffprobe ?? 'ffprobe';
  const { signal } = opts;
  return new Promise((done, fail) => {
    if (signal?.aborted) return fail(abortError('ffprobe', signal));
    const child = spawn(bin, ['-v', 'error', '-print_format', 'json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    guardChild(child);
    const stdout: Buffer[] = [];
    const stderr = tailBuffer();
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', stderr.push);
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (spawnError?.code === 'ENOENT') return fail(toolMissing('ffprobe', bin));
      if (spawnError) return fail(spawnError);
      if (signal?.aborted) return fail(abortError('ffprobe', signal));
      const tail = stderr.text();
      if (killedBy !== null || code === null) {
        return fail(
          new MediaError('tool_failed', `ffprobe was killed by ${killedBy}`, {
            permanent: false,
            detail: tail,
          }),
        );
      }
      if (code !== 0) return done({ kind: 'failed', code, stderr: tail });
      try {
        done({ kind: 'ok', json: JSON.parse(Buffer.concat(stdout).toString('utf8')), stderr: tail });
      } catch {
        fail(new MediaError('tool_failed', 'ffprobe printed no JSON', { permanent: false, detail: tail }));
      }
    });
  });
};

/** The last non-empty line: ffprobe's one-line reason ("…: Invalid data found when processing input"). */
export const lastLine = (text: string): string => text.trim().split('\n').at(-1)?.trim() || 'no reason given';

/** "30000/1001" → 29.97; "0/0" (unknown) → null. */
const rateOf = (r: string | undefined): number | null => {
  const [n, d] = (r ?? '').split('/').map(Number);
  return n && d && Number.isFinite(n / d) ? n / d : null;
};

const firstPositive = (...values: ReadonlyArray<string | undefined>): number | null => {
  for (const v of values) {
    const n = Number(v);
    if (v !== undefined && Number.isFinite(n) && n > 0) return n;
  }
  return null;
};

/** Degrees of the display rotation: ffprobe 5 reports it in side data, older muxers in a tag. */
const rotationOf = (s: FfprobeStream): number =>
  Number(s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? s.tags?.rotate ?? 0) || 0;
