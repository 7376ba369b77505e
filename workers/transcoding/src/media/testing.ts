import { spawn } from 'node:child_process';
import { tailBuffer } from './errors.ts';

/**
 * Test sources made by ffmpeg's own generators: no fixtures in the
 * repository, any size on demand, and the same bytes on every machine.
 */

export type ClipSpec = Readonly<{
  seconds: number;
  width: number;
  height: number;
  audio: boolean;
  /** Frames per second; a low rate keeps the tests' encodes cheap. */
  rate?: number;
}>;

/**
 * Writes an H.264 (+ AAC) MP4 of the `testsrc2` pattern, with a 440 Hz tone
 * when `audio` is set.
 *
 * @example await makeClip(join(dir, 'talk.mp4'), { seconds: 6, width: 1920, height: 1080, audio: true });
 */
export const makeClip = async (path: string, spec: ClipSpec): Promise<void> => {
  const { seconds, width, height, audio, rate = 25 } = spec;
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${rate}`],
    ...(audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'] : []),
    ...['-t', String(seconds), '-map', '0:v'],
    ...(audio ? ['-map', '1:a', '-c:a', 'aac', '-b:a', '64k'] : []),
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', path],
  ]);
};

/**
 * Writes a WAV of a 440 Hz tone: media ffprobe reads, with no picture.
 *
 * @example await makeAudioOnly(join(dir, 'podcast.wav'));
 */
export const makeAudioOnly = (path: string, seconds = 2): Promise<void> =>
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440', '-t', String(seconds), path]);

const ffmpeg = (args: readonly string[]): Promise<void> =>
  new Promise((done, fail) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-y', '-loglevel', 'error', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr = tailBuffer();
    child.stderr.on('data', stderr.push);
    child.on('error', fail);
    child.on('close', (code, signal) =>
      code === 0 ? done() : fail(new Error(`ffmpeg ${code ?? signal}: ${stderr.text()}`)),
    );
  });
