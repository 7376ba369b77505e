import test from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import type { Rendition } from '@lectern/schemas/content/index';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { createLogger } from '@lectern/infra/runtime/logger';
import { PermanentFailure } from '@lectern/infra/runtime/reactor';
import type { AssetLedger } from './ledger.ts';
import { jobIdOf, ladderPrefix, mergeMaster, transcodingReaction } from './reaction.ts';

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

/** The worker's view of an asset this job failed; the ledger records what the reaction asks of it. */
const failedBy = (jobId: string) => {
  const requeued: string[] = [];
  const ledger: AssetLedger = {
    asset: async () => ({ status: 'failed', ladderJobId: null, failedJobId: jobId, requeued, ladder: null }),
    progress: async () => {},
    transcoded: async () => {
      throw new Error('not expected: nothing is transcoded here');
    },
    failed: async () => {
      throw new Error('not expected: the failure is recorded already');
    },
    requeue: async (_cause, _assetId, r) => void requeued.push(r.jobId),
  };
  return { ledger, requeued };
};

const request: RecordedEvent = {
  id: '6f1c1d7e-3c2a-4e0b-9a57-0d5a5cf0b111',
  type: 'content.MediaAssetTranscodeRequested',
  schemaVersion: 1,
  streamId: 'media-asset-1',
  revision: 3,
  position: 12,
  occurredAt: '2026-12-04T09:00:00.000Z',
  data: {
    assetId: '0b7d2a4e-8f51-4f0c-a1b3-5c2e9d7f6a01',
    courseId: '9e3f1c2b-7a64-4d8e-b0c5-2f1a6d9e8b02',
    key: 'uploads/x',
    requestedAt: '2026-12-04T09:00:00.000Z',
  },
  metadata: { correlationId: 'c-1', causationId: null, actor: null, requestId: null, traceparent: null },
};
const tryOf = (number: number, redriven: string | null = null) => ({
  number,
  final: false,
  redriven,
  signal: new AbortController().signal,
  keepAlive: async () => {},
});
// Nothing here reaches the storage: a call to it fails the test.
const blobs = new Proxy({} as BlobStore, {
  get: (_, name) => () => {
    throw new Error(`not expected: blobs.${String(name)}`);
  },
});
const reactionFor = (ledger: AssetLedger) =>
  transcodingReaction({ blobs, ledger, logger: createLogger({ level: 'silent' }) });

test('a job found failed on a later try is set aside: the worker died before its dead letter', async (t) => {
  const { ledger, requeued } = failedBy(jobIdOf(request.id));
  await t.throwsAsync(reactionFor(ledger).handle(request, tryOf(2)), {
    instanceOf: PermanentFailure,
    message: /failed on an earlier try/,
  });
  t.deepEqual(requeued, []);
});

test('a job found failed on a first try is old news, and one redriven is asked for again', async (t) => {
  const { ledger, requeued } = failedBy(jobIdOf(request.id));
  const reaction = reactionFor(ledger);
  t.deepEqual(await reaction.handle(request, tryOf(1)), { outcome: 'recorded', ref: jobIdOf(request.id) });
  t.deepEqual(requeued, []);
  t.deepEqual(await reaction.handle(request, tryOf(1, 'ns.dlq.worker.transcoding@3')), {
    outcome: 'requeued',
    ref: jobIdOf(request.id),
  });
  t.deepEqual(requeued, [jobIdOf(request.id)]);
});
