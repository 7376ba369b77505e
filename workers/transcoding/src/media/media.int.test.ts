import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { encodeHls, type Progress } from './encode.ts';
import { MediaError } from './errors.ts';
import { planLadder } from './ladder.ts';
import { probe } from './probe.ts';
import { makeAudioOnly, makeClip } from './testing.ts';
import { parseMaster, readLadder } from './verify.ts';

/**
 * The media layer against the real ffmpeg and ffprobe (infra/local/ffmpeg.sh
 * installs them): sources made by ffmpeg's generators, encoded into a
 * ladder, and read back as a player would. Clips are short and at a low
 * frame rate so the file stays cheap on two busy cores.
 */

/** A fresh folder per test, removed after it whatever the outcome. */
const scratch = async (t: ExecutionContext): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-media-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
};

/** Pids of live processes whose command line names `path`: how a test sees an ffmpeg left behind. */
const processesNaming = async (path: string): Promise<number[]> => {
  const pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  const found: number[] = [];
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path)) found.push(Number(pid));
  }
  return found;
};

test('a 1080p clip with audio becomes a 720p + 1080p ladder that reads back as declared', async (t) => {
  const dir = await scratch(t);
  const input = join(dir, 'lecture.mp4');
  await makeClip(input, { seconds: 7, width: 1920, height: 1080, audio: true, rate: 15 });

  const info = await probe(input);
  t.like(info, {
    video: { width: 1920, height: 1080, codec: 'h264', frameRate: 15 },
    audio: { codec: 'aac' },
  });
  t.true(Math.abs(info.durationSeconds - 7) < 0.1, `duration ${info.durationSeconds}`);

  const progress: Progress[] = [];
  const outDir = join(dir, 'hls');
  const result = await encodeHls({
    input,
    outDir,
    rungs: planLadder(info.video),
    durationSeconds: info.durationSeconds,
    hasAudio: info.audio !== null,
    onProgress: (p) => progress.push(p),
  });
  t.log(
    `encoded ${info.durationSeconds} s in ${result.seconds.toFixed(2)} s: ${result.speedFactor.toFixed(2)}x`,
  );

  t.is(result.master, 'master.m3u8');
  t.deepEqual(
    result.renditions.map((r) => [r.name, r.width, r.height, r.playlist]),
    [
      ['720p', 1280, 720, '720p/index.m3u8'],
      ['1080p', 1920, 1080, '1080p/index.m3u8'],
    ],
  );
  const master = parseMaster(await readFile(join(outDir, 'master.m3u8'), 'utf8'));
  t.deepEqual(
    master.map((v) => [v.uri, v.resolution]),
    [
      ['720p/index.m3u8', '1280x720'],
      ['1080p/index.m3u8', '1920x1080'],
    ],
  );
  for (const v of master) {
    t.true((v.bandwidth ?? 0) > 0, `${v.uri} declares a BANDWIDTH`);
    t.regex(v.codecs ?? '', /^avc1\.4d[0-9a-f]{4},mp4a\.40\.2$/, `${v.uri} declares H.264 main and AAC-LC`);
  }
  t.true(master[0]!.bandwidth! < master[1]!.bandwidth!, 'the smaller rendition is the cheaper one');

  const variants = await readLadder(join(outDir, result.master));
  t.deepEqual(
    variants.map((v) => [v.name, v.width, v.height]),
    [
      ['720p', 1280, 720],
      ['1080p', 1920, 1080],
    ],
  );
  for (const v of variants) {
    t.true(
      Math.abs(v.durationSeconds - info.durationSeconds) <= 0.5,
      `${v.name} lasts ${v.durationSeconds} s`,
    );
    t.true(v.segmentSeconds.length >= 2, `${v.name} is cut into segments`);
    t.true(
      v.segmentSeconds.slice(0, -1).every((s) => s >= 4 && s <= 6),
      `${v.name} segments: ${v.segmentSeconds.join(', ')}`,
    );
  }

  t.true(progress.length >= 2, `${progress.length} progress reports`);
  t.true(
    progress.every((p, i) => i === 0 || p.percent >= progress[i - 1]!.percent),
    'progress never goes back',
  );
  t.true(progress[0]!.percent < 100, 'the first report comes before the end');
  t.like(progress.at(-1), { percent: 100, etaSeconds: 0 });
});

test('a 640x360 clip without audio gets one 360p rendition and nothing upscaled', async (t) => {
  const dir = await scratch(t);
  const input = join(dir, 'small.mp4');
  await makeClip(input, { seconds: 6, width: 640, height: 360, audio: false, rate: 10 });
  const info = await probe(input);
  t.is(info.audio, null);

  const rungs = planLadder(info.video);
  t.deepEqual(
    rungs.map((r) => [r.name, r.width, r.height]),
    [['360p', 640, 360]],
  );
  const outDir = join(dir, 'hls');
  const result = await encodeHls({
    input,
    outDir,
    rungs,
    durationSeconds: info.durationSeconds,
    hasAudio: false,
  });

  t.deepEqual((await readdir(outDir)).sort(), ['360p', 'master.m3u8']);
  const [only, ...more] = await readLadder(join(outDir, result.master));
  t.deepEqual(more, []);
  t.like(only, { name: '360p', width: 640, height: 360, resolution: '640x360' });
  t.regex(only!.codecs ?? '', /^avc1\.[0-9a-f]{6}$/, 'video only: no audio codec declared');
  t.true(Math.abs(only!.durationSeconds - info.durationSeconds) <= 0.5);
});

test('a text file and an audio-only file are refused for good; a missing file or ffprobe is not', async (t) => {
  const dir = await scratch(t);
  const text = join(dir, 'notes.mp4');
  await writeFile(text, 'These are lecture notes, not a video.\n'.repeat(50));
  const audio = join(dir, 'podcast.wav');
  await makeAudioOnly(audio);

  const unreadable = await t.throwsAsync(probe(text), { instanceOf: MediaError });
  t.like(unreadable, { code: 'unreadable', permanent: true });
  t.regex(unreadable!.detail ?? '', /Invalid data/, 'the stderr tail says why');

  const noVideo = await t.throwsAsync(probe(audio), { instanceOf: MediaError });
  t.like(noVideo, { code: 'no_video_stream', permanent: true });
  t.regex(noVideo!.message, /audio/);

  const missing = await t.throwsAsync(probe(join(dir, 'not-downloaded.mp4')), { instanceOf: MediaError });
  t.like(missing, { code: 'source_missing', permanent: false });

  const noTool = await t.throwsAsync(probe(audio, { ffprobe: join(dir, 'no-ffprobe') }), {
    instanceOf: MediaError,
  });
  t.like(noTool, { code: 'tool_missing', permanent: false });
  t.regex(noTool!.message, /infra\/local\/ffmpeg\.sh/);
});

test('an aborted encode kills ffmpeg; one killed from outside is a transient MediaError', async (t) => {
  const dir = await scratch(t);
  const input = join(dir, 'long.mp4');
  await makeClip(input, { seconds: 10, width: 1280, height: 720, audio: true, rate: 25 });
  const info = await probe(input);
  const job = (outDir: string, onProgress: (p: Progress) => void, signal?: AbortSignal) =>
    encodeHls({
      input,
      outDir: join(dir, outDir),
      rungs: planLadder(info.video),
      durationSeconds: info.durationSeconds,
      hasAudio: true,
      onProgress,
      ...(signal ? { signal } : {}),
    });

  // 1. Aborted by its caller after the first report: an AbortError, and no ffmpeg left.
  const controller = new AbortController();
  const seen: Progress[] = [];
  const aborted = await t.throwsAsync(
    job(
      'aborted',
      (p) => {
        seen.push(p);
        controller.abort();
      },
      controller.signal,
    ),
  );
  t.is(aborted!.name, 'AbortError');
  t.false(aborted instanceof MediaError, 'an abort is neither a transient nor a permanent media failure');
  t.true(seen[0]!.percent < 100, 'aborted mid-way, not after the end');
  t.deepEqual(await processesNaming(input), [], 'no ffmpeg is left running');

  // 2. Killed by someone else (the OOM killer, an operator): transient, with ffmpeg's stderr tail.
  const killed: number[] = [];
  // Set at the first report, not when the lookup answers: on a slow machine
  // more reports come while `ps` runs, and each would find the same ffmpeg.
  let killing = false;
  const failed = await t.throwsAsync(
    job('killed', () => {
      if (killing) return;
      killing = true;
      void processesNaming(input).then((pids) => {
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        killed.push(...pids);
        killing = pids.length > 0; // none seen yet: the next report looks again
      });
    }),
    { instanceOf: MediaError },
  );
  t.is(killed.length, 1, 'exactly one ffmpeg encoded the whole ladder');
  t.like(failed, { code: 'tool_failed', permanent: false });
  t.regex(failed!.message, /SIGKILL/);
  t.deepEqual(await processesNaming(input), []);

  // 3. No ffmpeg at all: transient too, and says how to install it.
  const noTool = await t.throwsAsync(
    encodeHls({
      input,
      outDir: join(dir, 'none'),
      rungs: planLadder(info.video),
      durationSeconds: info.durationSeconds,
      hasAudio: true,
      ffmpeg: join(dir, 'no-ffmpeg'),
    }),
    { instanceOf: MediaError },
  );
  t.like(noTool, { code: 'tool_missing', permanent: false });
});
