import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { abortError, MediaError, tailBuffer, toolMissing } from './errors.ts';
import { guardChild } from './guard.ts';
import type { Rung } from './ladder.ts';
import { parseMaster } from './verify.ts';

export type Progress = Readonly<{
  /** 0–100, from ffmpeg's output time over the source's duration; never goes back. */
  percent: number;
  /** Seconds left at the current speed, or null before ffmpeg reports a speed. */
  etaSeconds: number | null;
  /** Media seconds encoded per wall-clock second ("1.7x" → 1.7), or null when unknown. */
  speed: number | null;
}>;

export type EncodeOptions = Readonly<{
  /** A local media file, already probed. */
  input: string;
  /** An existing, empty folder; the ladder is written into it (master.m3u8, <rung>/index.m3u8, segments). */
  outDir: string;
  /** From `planLadder`, in the order the master playlist should list them. */
  rungs: readonly Rung[];
  /** From `probe`: the denominator of the progress. */
  durationSeconds: number;
  /** From `probe`: without audio, the variants are video only. */
  hasAudio: boolean;
  segmentSeconds?: number;
  threads?: number;
  /** libx264 preset: `veryfast` gives most of the quality of `medium` at a fraction of the CPU. */
  preset?: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** The ffmpeg to run; `ffmpeg` on PATH unless told. */
  ffmpeg?: string;
}>;

export type Rendition = Readonly<{
  name: string;
  width: number;
  height: number;
  /** Relative to the output folder, as the master playlist names it. */
  playlist: string;
  /** Bits per second, as declared in the master playlist. */
  bandwidth: number;
}>;

export type EncodeResult = Readonly<{
  /** Relative to the output folder. */
  master: string;
  renditions: readonly Rendition[];
  /** Source seconds per wall-clock second of the whole encode. */
  speedFactor: number;
  /** Wall-clock seconds the encode took. */
  seconds: number;
}>;

export const MASTER_PLAYLIST = 'master.m3u8';
/** A rendition's media playlist, inside its folder (named after the rung). */
export const MEDIA_PLAYLIST = 'index.m3u8';

/**
 * Encodes a source into an HLS ladder with ONE ffmpeg process: the source
 * is decoded once and `split` feeds a `scale` per rung, which costs much
 * less than one ffmpeg per rung decoding the source again each time.
 *
 * Keyframes are forced every `segmentSeconds` and scene-cut keyframes are
 * off, so every segment is cut at exactly that length (the last one holds
 * the rest) and each rendition's segments line up for switching.
 *
 * ffmpeg 5.1 writes BANDWIDTH, RESOLUTION and CODECS into the master
 * playlist itself; this checks that it did, rather than rewriting it.
 *
 * Throws the AbortError of `abortError` when `signal` aborts (ffmpeg is
 * SIGKILLed and gone before this returns); a transient `MediaError`
 * (`tool_failed`) when ffmpeg exits non-zero or is killed by someone else,
 * with the last 4 KB of its stderr; `tool_missing` when there is no ffmpeg.
 *
 * @example
 * const info = await probe(source);
 * await encodeHls({ input: source, outDir, rungs: planLadder(info.video),
 *   durationSeconds: info.durationSeconds, hasAudio: info.audio !== null, onProgress: report });
 */
export const encodeHls = async (opts: EncodeOptions): Promise<EncodeResult> => {
  const { rungs, durationSeconds, onProgress, signal } = opts;
  if (rungs.length === 0) throw new RangeError('encodeHls needs at least one rung');
  const outDir = resolve(opts.outDir);
  // ffmpeg makes the rendition folders, but it must be started inside an existing outDir.
  await mkdir(outDir, { recursive: true });
  const started = performance.now();
  // 1. Encode, with ffmpeg working in outDir so every path it writes is relative
  //    (an outDir holding `%` would otherwise be read as a segment pattern).
  await runFfmpeg(opts.ffmpeg ?? 'ffmpeg', hlsArgs({ ...opts, input: resolve(opts.input) }), outDir, {
    onLine: progressReader(durationSeconds, onProgress),
    signal,
  });
  const seconds = (performance.now() - started) / 1000;
  // 2. Read back what ffmpeg declared, and hold it to what players need.
  const declared = parseMaster(await readFile(join(outDir, MASTER_PLAYLIST), 'utf8'));
  const renditions = rungs.map((r): Rendition => {
    const playlist = `${r.name}/${MEDIA_PLAYLIST}`;
    const v = declared.find((d) => d.uri === playlist);
    if (!v || v.bandwidth === null || v.resolution !== `${r.width}x${r.height}` || !v.codecs) {
      throw new MediaError('bad_output', `the master playlist declares ${playlist} incompletely`, {
        permanent: false,
        detail: JSON.stringify(v ?? null),
      });
    }
    return { name: r.name, width: r.width, height: r.height, playlist, bandwidth: v.bandwidth };
  });
  return { master: MASTER_PLAYLIST, renditions, speedFactor: durationSeconds / seconds, seconds };
};

/**
 * ffmpeg's arguments for the ladder, paths relative to the output folder.
 * Pure, so the command line can be read and logged whole.
 */
export const hlsArgs = (
  opts: Pick<EncodeOptions, 'input' | 'rungs' | 'hasAudio' | 'segmentSeconds' | 'threads' | 'preset'>,
): string[] => {
  const { input, rungs, hasAudio } = opts;
  const segment = opts.segmentSeconds ?? 4;
  const n = rungs.length;
  // One decode, one pixel-format conversion, then a scaler per rung.
  const graph = [
    `[0:v:0]format=yuv420p,split=${n}${rungs.map((_, i) => `[s${i}]`).join('')}`,
    ...rungs.map((r, i) => `[s${i}]scale=${r.width}:${r.height}[v${i}]`),
  ].join(';');
  const perRung = rungs.flatMap((r, i) => [
    ...['-map', `[v${i}]`],
    ...[`-b:v:${i}`, `${r.videoKbps}k`, `-maxrate:v:${i}`, `${r.maxrateKbps}k`],
    ...[`-bufsize:v:${i}`, `${r.bufsizeKbps}k`],
    // Each variant muxes its own copy of the audio: a player then needs no separate audio group.
    ...(hasAudio ? ['-map', '0:a:0', `-b:a:${i}`, `${r.audioKbps}k`] : []),
  ]);
  const streamMap = rungs.map((r, i) =>
    hasAudio ? `v:${i},a:${i},name:${r.name}` : `v:${i},name:${r.name}`,
  );
  return [
    ...['-hide_banner', '-nostdin', '-y', '-loglevel', 'warning'],
    // Progress as key=value blocks on stdout; nothing of it on stderr, which keeps only what went wrong.
    ...['-progress', 'pipe:1', '-nostats'],
    // A source never makes ffmpeg reach the network (probe has refused playlists already).
    ...['-protocol_whitelist', 'file', '-i', `file:${input}`],
    ...['-filter_complex', graph],
    ...perRung,
    ...['-c:v', 'libx264', '-preset', opts.preset ?? 'veryfast', '-profile:v', 'main'],
    ...['-threads', String(opts.threads ?? availableParallelism())],
    ...['-force_key_frames', `expr:gte(t,n_forced*${segment})`, '-sc_threshold', '0'],
    ...(hasAudio ? ['-c:a', 'aac', '-ac', '2'] : []),
    ...['-f', 'hls', '-hls_time', String(segment), '-hls_playlist_type', 'vod'],
    ...['-hls_flags', 'independent_segments', '-hls_segment_filename', '%v/seg_%05d.ts'],
    ...['-master_pl_name', MASTER_PLAYLIST, '-var_stream_map', streamMap.join(' ')],
    `%v/${MEDIA_PLAYLIST}`,
  ];
};

/**
 * A line reader for ffmpeg's `-progress` output that calls `onProgress` once
 * per block (each block ends with `progress=continue` or `progress=end`).
 * Percent never goes back and is 100 only at `progress=end`, so a caller
 * can show it as is.
 */
export const progressReader = (
  durationSeconds: number,
  onProgress: ((p: Progress) => void) | undefined,
): ((line: string) => void) => {
  let outSeconds: number | null = null;
  let speed: number | null = null;
  let percent = 0;
  return (line) => {
    const eq = line.indexOf('=');
    if (eq < 0) return;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // ffmpeg 5.1's out_time_ms is in microseconds too (a long-standing misnomer).
    if (key === 'out_time_us' || (key === 'out_time_ms' && outSeconds === null)) {
      const us = Number(value);
      if (Number.isFinite(us) && us >= 0) outSeconds = us / 1e6;
    } else if (key === 'speed') {
      const s = Number.parseFloat(value);
      speed = Number.isFinite(s) && s > 0 ? s : null;
    } else if (key === 'progress') {
      const ended = value === 'end';
      const raw = outSeconds !== null && durationSeconds > 0 ? (100 * outSeconds) / durationSeconds : 0;
      percent = ended ? 100 : Math.max(percent, Math.min(99.9, raw));
      const left = Math.max(0, durationSeconds - (outSeconds ?? 0));
      const etaSeconds = ended ? 0 : speed !== null ? left / speed : null;
      outSeconds = null;
      onProgress?.({ percent, etaSeconds, speed });
    }
  };
};

/**
 * Runs ffmpeg to its end in `cwd`, feeding stdout line by line to `onLine`.
 * Settles only once the process is gone (the 'close' event), so a caller
 * that sees the rejection of an abort can rely on no ffmpeg being left; and
 * ffmpeg is killed if this process dies first (`guardChild`).
 */
const runFfmpeg = (
  bin: string,
  args: readonly string[],
  cwd: string,
  io: Readonly<{ onLine: (line: string) => void; signal: AbortSignal | undefined }>,
): Promise<void> =>
  new Promise((done, fail) => {
    const { signal } = io;
    if (signal?.aborted) return fail(abortError('ffmpeg', signal));
    const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    // Dies with this process: a worker killed mid-job leaves no encode running for nobody.
    guardChild(child);
    const stderr = tailBuffer();
    let partial = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    let callbackError: unknown;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      // A throwing onProgress must not leave ffmpeg running unwatched.
      try {
        for (const l of lines) io.onLine(l);
      } catch (e) {
        callbackError ??= e;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', stderr.push);
    // SIGKILL, not SIGTERM: on TERM ffmpeg finishes writing its playlists, which nobody wants now.
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (spawnError?.code === 'ENOENT') return fail(toolMissing('ffmpeg', bin));
      if (spawnError) return fail(spawnError);
      if (signal?.aborted) return fail(abortError('ffmpeg', signal));
      if (callbackError !== undefined) return fail(callbackError);
      if (code === 0) return done();
      const tail = stderr.text();
      const how = killedBy !== null ? `was killed by ${killedBy}` : `exited with code ${code}`;
      fail(new MediaError('tool_failed', `ffmpeg ${how}`, { permanent: false, detail: tail }));
    });
  });
