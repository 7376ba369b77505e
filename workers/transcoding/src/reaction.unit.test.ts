import test from 'ava';
import type { Rendition } from '@lectern/schemas/content/index';
import { jobIdOf, ladderPrefix, mergeMaster } from './reaction.ts';

const rung = (
  name: string,
  width: number,
  height: number,
  bandwidth: number,
  playlist: string,
): Rendition => ({
  name,
  width,
  height,
  bandwidth,
  playlist,
});

/** The master playlist of the first job: 720p and 1080p, as ffmpeg writes it. */
const previous = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
  '720p/index.m3u8',
  '',
  '#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"',
  '1080p/index.m3u8',
  '',
].join('\n');
/** The second job made 720p again, only: its own master names that one rung. */
const made = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
  '720p/index.m3u8',
].join('\n');
const from = [
  rung('720p', 1280, 720, 3_000_000, '720p/index.m3u8'),
  rung('1080p', 1920, 1080, 6_000_000, '1080p/index.m3u8'),
];

test('a rendition made again: its own entry, and the kept one as it was, pointed at the earlier job', (t) => {
  const kept = [rung('1080p', 1920, 1080, 6_000_000, '../job-1/1080p/index.m3u8')];
  t.is(
    mergeMaster(made, previous, { from, kept }),
    [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      '#EXT-X-STREAM-INF:BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
      '720p/index.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"',
      '../job-1/1080p/index.m3u8',
      '',
    ].join('\n'),
  );
});

test('entries are ordered by bandwidth, whichever job made them', (t) => {
  const madeHigh = made
    .replace('BANDWIDTH=2800000,RESOLUTION=1280x720', 'BANDWIDTH=6100000,RESOLUTION=1920x1080')
    .replace('720p/index.m3u8', '1080p/index.m3u8');
  const kept = [rung('720p', 1280, 720, 3_000_000, '../job-1/720p/index.m3u8')];
  const lines = mergeMaster(madeHigh, previous, { from, kept }).split('\n');
  t.deepEqual(
    lines.filter((l) => !l.startsWith('#') && l !== ''),
    ['../job-1/720p/index.m3u8', '1080p/index.m3u8'],
  );
});

test('a kept rendition the previous master does not name is an error, not a ladder without it', (t) => {
  const kept = [rung('1080p', 1920, 1080, 6_000_000, '../job-1/1080p/index.m3u8')];
  const without = previous.replace('1080p/index.m3u8', 'elsewhere.m3u8');
  t.throws(() => mergeMaster(made, without, { from, kept }), { message: /no 1080p\/index\.m3u8/ });
});

test('a job is one per request, and its ladder goes in a folder of its own', (t) => {
  t.is(jobIdOf('3b4c5d6e-7f80-4192-8b3c-4d5e6f708192'), jobIdOf('3b4c5d6e-7f80-4192-8b3c-4d5e6f708192'));
  t.not(jobIdOf('3b4c5d6e-7f80-4192-8b3c-4d5e6f708192'), jobIdOf('3b4c5d6e-7f80-4192-8b3c-4d5e6f708193'));
  t.is(ladderPrefix('c', 'a', 'j'), 'media/c/a/hls/j');
});
