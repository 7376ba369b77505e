import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RecordedEvent } from '@lectern/schemas';
import type { MediaAssetTranscodeRequested, Rendition } from '@lectern/schemas/content/index';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { deterministicUuid } from '@lectern/infra/runtime/ids';
import { clip } from '@lectern/infra/runtime/text';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { Metrics } from '@lectern/infra/runtime/metrics';
import { PermanentFailure, type Reaction } from '@lectern/infra/runtime/reactor';
import type { AssetLedger } from './ledger.ts';
import { encodeHls } from './media/encode.ts';
import { MediaError } from './media/errors.ts';
import { planLadder } from './media/ladder.ts';
import { probe } from './media/probe.ts';
import { readLadder } from './media/verify.ts';

export type TranscodingDeps = Readonly<{
  blobs: BlobStore;
  ledger: AssetLedger;
  logger: Logger;
  /** Where jobs work; each job has a folder of its own, removed when it ends. Default the OS temp dir. */
  workDir?: string;
  /** Each try that ended the job (its ladder recorded, or its failure), for metrics: see {@link observeTranscodes}. */
  observe?: (m: TranscodeObservation) => void;
  /** A progress event at most every this many percent, and at least every `progressEveryMs`; defaults 10 and 5 s. */
  progressStep?: number;
  progressEveryMs?: number;
  now?: () => number;
}>;

/**
 * A try that ended a job. `seconds`: its wall time, from the start of the
 * try to the ladder or the failure recorded. `speedFactor`: ffmpeg's
 * convention, media seconds encoded per wall-clock second of the encode
 * (2 is twice as fast as real time); null when no encode finished.
 */
export type TranscodeObservation = Readonly<{
  outcome: 'transcoded' | 'failed';
  seconds: number;
  speedFactor: number | null;
}>;

/**
 * The worker's retry policy, as the content module runs it (issue 11: up to
 * 3 retries with exponential backoff): a first try and three more, paused
 * 1 s, 2 s and 4 s (each with up to as much again of jitter).
 */
export const TRANSCODING_RETRIES = { attempts: 4, baseDelayMs: 1000 } as const;

/**
 * Feeds the per-job metrics: `lectern_transcode_duration_seconds{outcome}`
 * and, for a ladder made, `lectern_transcode_speed_factor`. Tries and
 * retries are the reactor's (`lectern_reactor_attempts_total`,
 * `lectern_consumer_retries_total`).
 *
 * @example transcodingReaction({ …, observe: observeTranscodes(platform.metrics) })
 */
export const observeTranscodes =
  (metrics: Metrics) =>
  (m: TranscodeObservation): void => {
    metrics.transcodeDuration.observe({ outcome: m.outcome }, m.seconds);
    if (m.speedFactor !== null) metrics.transcodeSpeedFactor.observe(m.speedFactor);
  };

/** The largest ladder file the worker stores with one PUT (a 6 s 1080p segment is a few MB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

const contentTypeOf = (file: string): string =>
  file.endsWith('.m3u8')
    ? 'application/vnd.apple.mpegurl'
    : file.endsWith('.ts')
      ? 'video/mp2t'
      : 'application/octet-stream';

/** A job's id: one per transcode request, so a redelivered request is the same job. */
export const jobIdOf = (requestEventId: string): string => deterministicUuid(`transcode/${requestEventId}`);

/** Where a job's ladder goes: under the asset, in a folder of the job's own (never over an earlier ladder). */
export const ladderPrefix = (courseId: string, assetId: string, jobId: string): string =>
  `media/${courseId}/${assetId}/hls/${jobId}`;

/**
 * A request to the storage that got no answer (refused, reset, cut off
 * mid-body): a transient failure, said with the network's own code and
 * never with the URL, which is a presigned credential.
 */
const unreachable = (doing: string, error: unknown): unknown => {
  if (!(error instanceof TypeError)) return error;
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  const what =
    typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? cause.message
        : 'no answer';
  return new Error(`the storage is unreachable ${doing}: ${what}`, { cause: error });
};

/**
 * Whether a request failed because the storage reset its connection: most
 * often a kept-alive connection the server closed just as it was reused
 * (the idle timeout of one side racing the other's next request), which
 * says nothing of the storage's health. A refused connection is not one.
 */
const wasReset = (error: unknown): boolean => {
  const code =
    (error instanceof TypeError ? (error.cause as { code?: unknown } | undefined)?.code : null) ?? '';
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE';
};

/**
 * Runs one request to the storage, and once more at once on a new
 * connection when the first was reset, as HTTP clients do for idempotent
 * requests (a presigned GET or PUT of one key is): a stale connection is
 * not worth a retry of the whole job after a backoff. A second reset is
 * the storage's own trouble, and fails the try.
 */
const againIfReset = async (request: () => Promise<void>): Promise<void> => {
  try {
    await request();
  } catch (error) {
    if (!wasReset(error)) throw error;
    await request();
  }
};

/** The segment URIs of a media playlist. */
const segmentsOf = (playlist: string): string[] =>
  playlist
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * The master playlist of a job that made some renditions again: its own
 * variants, and the kept ones' entries from the previous master (their
 * BANDWIDTH, RESOLUTION and CODECS as they were), pointed at where they
 * are, ordered by bandwidth.
 */
export const mergeMaster = (
  made: string,
  previous: string,
  ladder: Readonly<{ from: readonly Rendition[]; kept: readonly Rendition[] }>,
): string => {
  const entries = (text: string) => {
    const lines = text.split(/\r?\n/).map((l) => l.trim());
    return lines.flatMap((line, i) => {
      if (!line.startsWith('#EXT-X-STREAM-INF:')) return [];
      const uri = lines.slice(i + 1).find((l) => l !== '' && !l.startsWith('#'));
      const bandwidth = Number(/BANDWIDTH=(\d+)/.exec(line)?.[1] ?? 0);
      return uri ? [{ info: line, uri, bandwidth }] : [];
    });
  };
  const header = made
    .split(/\r?\n/)
    .filter((l, i, all) => i < all.findIndex((x) => x.startsWith('#EXT-X-STREAM-INF:')));
  const keptEntries = ladder.kept.map((k) => {
    const was = ladder.from.find((r) => r.name === k.name)!;
    const entry = entries(previous).find((e) => e.uri === was.playlist);
    if (!entry) throw new Error(`the previous master playlist has no ${was.playlist}`);
    return { ...entry, uri: k.playlist };
  });
  return `${[...header, ...[...entries(made), ...keptEntries].sort((a, b) => a.bandwidth - b.bandwidth).flatMap((e) => [e.info, e.uri])].join('\n')}\n`;
};

const filesUnder = async (root: string): Promise<string[]> => {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
};

/**
 * The transcoding worker (issue 11): a `content.MediaAssetTranscodeRequested`
 * becomes an HLS ladder in object storage, switched in only once verified.
 *
 * 1. The source is downloaded (a presigned GET) into the job's folder and
 *    probed: a file ffprobe cannot read, or without a video stream, fails
 *    the asset at once (permanent: no retries).
 * 2. One ffmpeg encodes every rung of the ladder (720p and 1080p, never
 *    above the source); its progress becomes events on the asset, and keeps
 *    the job's claim alive, so a live job is never taken over and a dead
 *    worker's is after its lease.
 * 3. Every file goes under the job's own prefix; then each is downloaded
 *    again and ffprobe reads the stored ladder. Only then is the ladder
 *    recorded on the asset (`ready`). A failure at any step leaves the
 *    asset's earlier ladder as it was, and the job's own files are removed.
 * 4. Transient failures (storage, ffmpeg killed) are tried again by the
 *    reactor with backoff; the last try records the failure on the asset,
 *    and the request goes to the dead-letter topic (also when the worker
 *    died in between: the next try finds the job failed and sets it aside).
 *    `lectern dlq redrive` hands it back: the failed job is then asked for
 *    again, once.
 */
export const transcodingReaction = (deps: TranscodingDeps): Reaction => {
  const now = deps.now ?? Date.now;
  const step = deps.progressStep ?? 10;
  const every = deps.progressEveryMs ?? 5000;

  const download = async (key: string, path: string, signal: AbortSignal): Promise<void> => {
    const get = await deps.blobs.presignDownload(key, { expiresInSeconds: 600 });
    try {
      await againIfReset(async () => {
        const res = await fetch(get.url, { headers: get.headers, signal });
        if (res.status === 404) throw new PermanentFailure(`the stored file ${key} is gone`);
        if (!res.ok || !res.body) throw new Error(`reading ${key} from the storage: ${res.status}`);
        await mkdir(dirname(path), { recursive: true });
        // A second try writes the file anew.
        await pipeline(Readable.fromWeb(res.body), createWriteStream(path), { signal });
      });
    } catch (error) {
      throw unreachable(`reading ${key}`, error);
    }
  };

  const upload = async (key: string, path: string, signal: AbortSignal): Promise<void> => {
    // Whole, with its length: S3 refuses a chunked PUT, and a segment is a few megabytes.
    const body = await readFile(path);
    const put = await deps.blobs.presignUpload({
      key,
      contentType: contentTypeOf(path),
      size: body.length,
      maxSize: MAX_FILE_BYTES,
      expiresInSeconds: 600,
    });
    let res!: Response;
    await againIfReset(async () => {
      res = await fetch(put.url, { method: 'PUT', headers: put.headers, body, signal });
    }).catch((error: unknown) => {
      throw unreachable(`storing ${key}`, error);
    });
    if (!res.ok) throw new Error(`storing ${key}: ${res.status} ${clip(await res.text(), 200)}`);
  };

  const removeStored = async (prefix: string, files: readonly string[], log: Logger) => {
    for (const f of files)
      await deps.blobs.delete(`${prefix}/${f}`).catch((error: unknown) =>
        // Unreferenced (the asset never points at a job that failed), but an operator should know.
        log.warn({ err: error, key: `${prefix}/${f}` }, 'a file of a failed try was not removed'),
      );
  };

  return {
    name: 'transcoding',
    contexts: ['content'],
    eventTypes: ['content.MediaAssetTranscodeRequested'],
    async handle(event: RecordedEvent, attempt) {
      const request = event.data as MediaAssetTranscodeRequested;
      const jobId = jobIdOf(event.id);
      const log = deps.logger.child({
        assetId: request.assetId,
        jobId,
        causeEventId: event.id,
        correlationId: event.metadata.correlationId,
        attempt: attempt.number,
      });
      const asset = await deps.ledger.asset(request.assetId);
      if (asset.status === 'none') return { outcome: 'skipped', ref: null };
      if (asset.ladderJobId === jobId || asset.requeued.includes(jobId))
        return { outcome: 'recorded', ref: jobId };
      if (asset.failedJobId === jobId) {
        // A failed job is over: only `lectern dlq redrive` of its dead letter asks for it again, as
        // a new request (a new job, its own folder; the asset shows processing and progress again).
        if (!attempt.redriven) {
          // Tried before, here: a worker recorded the failure and died before the reactor set the
          // request aside. Set it aside now, or no dead letter would be left to redrive. (A first
          // try that finds it failed is a work table started afresh: the failure is old news.)
          if (attempt.number > 1)
            throw new PermanentFailure(`job ${jobId} failed on an earlier try; set aside after a restart`);
          return { outcome: 'recorded', ref: jobId };
        }
        await deps.ledger.requeue(event, request.assetId, { jobId, renditions: request.renditions ?? null });
        log.info('failed job asked for again by a redrive');
        return { outcome: 'requeued', ref: jobId };
      }

      const began = now();
      const fail = async (reason: string, permanent: boolean) => {
        await deps.ledger.failed(event, request.assetId, {
          jobId,
          reason,
          attempts: attempt.number,
          permanent,
          redriven: attempt.redriven,
        });
        const seconds = (now() - began) / 1000;
        deps.observe?.({ seconds, speedFactor: null, outcome: 'failed' });
        log.warn({ reason, permanent, seconds }, 'transcode failed');
      };

      const work = await mkdtemp(join(deps.workDir ?? tmpdir(), 'lectern-transcode-'));
      const prefix = ladderPrefix(request.courseId, request.assetId, jobId);
      let stored: string[] = [];
      try {
        const source = join(work, 'source');
        await download(request.key, source, attempt.signal);
        const info = await probe(source);
        const video = info.video!;
        let rungs = planLadder({ width: video.width, height: video.height });
        // One rendition made again: only its rung is encoded; the others are kept where they are.
        const from = asset.ladder;
        let kept: Rendition[] = [];
        if (request.renditions) {
          const only = request.renditions;
          if (!from) throw new PermanentFailure('there is no ladder to make a rendition of again');
          rungs = rungs.filter((r) => only.includes(r.name));
          if (rungs.length === 0) throw new PermanentFailure(`the source has no ${only.join(', ')} rung`);
          const back = posix.relative(prefix, from.prefix);
          kept = from.renditions
            .filter((r) => !only.includes(r.name))
            .map((r) => ({ ...r, playlist: posix.normalize(posix.join(back, r.playlist)) }));
        }

        let lastPercent = -step;
        let lastAt = 0;
        let reports = 0;
        let reporting: Promise<void> = Promise.resolve();
        const out = join(work, 'out');
        const result = await encodeHls({
          input: source,
          outDir: out,
          rungs,
          durationSeconds: info.durationSeconds,
          hasAudio: info.audio !== null,
          signal: attempt.signal,
          onProgress: (p) => {
            const percent = Math.min(100, Math.floor(p.percent));
            if (percent < lastPercent + step && now() - lastAt < every) return;
            lastPercent = percent;
            lastAt = now();
            const etaSeconds = p.etaSeconds === null ? null : Math.round(p.etaSeconds);
            // A redrive starts counting tries again: its letter keeps its reports apart from the first run's.
            const report = `${attempt.redriven === null ? '' : `${attempt.redriven}/`}${attempt.number}.${++reports}`;
            // One report at a time, in order; a report that fails is logged, never fatal to the job.
            reporting = reporting
              .then(async () => {
                await attempt.keepAlive();
                await deps.ledger.progress(event, request.assetId, { jobId, report, percent, etaSeconds });
              })
              .catch((error: unknown) => log.warn({ err: error }, 'progress not recorded'));
          },
        });
        await reporting;

        if (kept.length) {
          const previous = join(work, 'previous.m3u8');
          await download(from!.master, previous, attempt.signal);
          const master = join(out, result.master);
          const merged = mergeMaster(await readFile(master, 'utf8'), await readFile(previous, 'utf8'), {
            from: from!.renditions,
            kept,
          });
          await writeFile(master, merged);
        }
        const files = await filesUnder(out);
        for (const f of files) {
          await upload(`${prefix}/${f}`, join(out, f), attempt.signal);
          stored.push(f);
        }
        await attempt.keepAlive();

        // Read back what the storage holds, not what was written: that is what players get.
        // The storage mirrored under `check`, from the asset's hls folder down, so a kept
        // rendition's playlist (`../<job>/…`) resolves there as it does in the bucket.
        const root = posix.dirname(prefix);
        const check = join(work, 'stored');
        const local = (key: string) => join(check, posix.relative(root, key));
        for (const f of files) await download(`${prefix}/${f}`, local(`${prefix}/${f}`), attempt.signal);
        for (const r of kept) {
          const key = posix.normalize(`${prefix}/${r.playlist}`);
          await download(key, local(key), attempt.signal);
          for (const segment of segmentsOf(await readFile(local(key), 'utf8')))
            await download(
              posix.join(posix.dirname(key), segment),
              local(posix.join(posix.dirname(key), segment)),
              attempt.signal,
            );
        }
        const found = await readLadder(local(`${prefix}/${result.master}`));
        const renditions: Rendition[] = [...result.renditions, ...kept].map((r) => {
          const seen = found.find((v) => v.width === r.width && v.height === r.height);
          if (!seen) throw new Error(`the stored ladder has no ${r.width}x${r.height} rendition`);
          if (Math.abs(seen.durationSeconds - info.durationSeconds) > 1)
            throw new Error(
              `the stored ${r.name} lasts ${seen.durationSeconds.toFixed(2)} s, the source ${info.durationSeconds.toFixed(2)} s`,
            );
          return {
            name: r.name,
            width: r.width,
            height: r.height,
            bandwidth: r.bandwidth,
            playlist: r.playlist,
          };
        });

        await deps.ledger.transcoded(event, request.assetId, {
          jobId,
          prefix,
          master: `${prefix}/${result.master}`,
          renditions,
          durationSeconds: info.durationSeconds,
        });
        const seconds = (now() - began) / 1000;
        deps.observe?.({ seconds, speedFactor: result.speedFactor, outcome: 'transcoded' });
        log.info(
          { seconds, speedFactor: result.speedFactor, renditions: renditions.map((r) => r.name) },
          'transcoded',
        );
        stored = [];
        return { outcome: 'transcoded', ref: jobId };
      } catch (error) {
        if (error instanceof MediaError && error.permanent) {
          await fail(error.message, true);
          return { outcome: 'failed', ref: jobId };
        }
        if (error instanceof PermanentFailure) {
          await fail(error.message, true);
          throw error;
        }
        if (attempt.final) await fail((error as Error)?.message ?? String(error), false);
        throw error;
      } finally {
        // A job that did not switch its ladder in leaves nothing behind; an earlier ladder is never touched.
        await removeStored(prefix, stored, log);
        await rm(work, { recursive: true, force: true });
      }
    },
  };
};
