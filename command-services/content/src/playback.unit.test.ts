import { randomBytes, randomUUID } from 'node:crypto';
import test from 'ava';
import { messageKeys } from '@lectern/infra/auth/message-secrets';
import { unsubscribeToken } from '@lectern/infra/notify/unsubscribe';
import { openPlaybackToken, playbackToken, playerMaster, renditionKey, segmentsOf } from './playback.ts';

const keys = messageKeys([randomBytes(32)]);
const assetId = randomUUID();
const jobId = randomUUID();
const now = new Date('2026-12-03T10:00:00Z');
const later = new Date('2026-12-03T14:00:00Z');

test('a playback token names its asset, ladder and expiry, and stops at the expiry', (t) => {
  const token = playbackToken(keys, { assetId, jobId, expiresAt: later });
  t.deepEqual(openPlaybackToken(keys, token, now), { assetId, jobId, expiresAt: later });
  t.is(openPlaybackToken(keys, token, later), 'expired');
  t.is(openPlaybackToken(messageKeys([randomBytes(32)]), token, now), null, 'another key');
});

test('a changed part, a stretched expiry or a token of another purpose is nobody', (t) => {
  const token = playbackToken(keys, { assetId, jobId, expiresAt: later });
  const [a, j, exp, mac] = token.split('.') as [string, string, string, string];
  for (const forged of [
    `${randomUUID()}.${j}.${exp}.${mac}`,
    `${a}.${randomUUID()}.${exp}.${mac}`,
    `${a}.${j}.${Number(exp) + 3600}.${mac}`,
    `${a}.${j}.${exp}`,
    `${a}.${j}.${exp}.${mac}.x`,
    `${a}.${j}.0${exp}.${mac}`,
    // Same shape, signed for unsubscribing: purposes never stand in for each other.
    unsubscribeToken(keys, a, j).replace(/\.([^.]+)$/, `.${exp}.$1`),
    '',
  ])
    t.is(openPlaybackToken(keys, forged, now), null, forged);
  // A forged expiry in the past is not reported as "expired": it was never ours.
  t.is(openPlaybackToken(keys, `${a}.${j}.1.${mac}`, now), null);
});

const renditions = [
  { name: '720p', width: 1280, height: 720, bandwidth: 2_000_000, playlist: '720p/index.m3u8' },
  { name: '1080p', width: 1920, height: 1080, bandwidth: 5_000_000, playlist: '../job-1/1080p/index.m3u8' },
];
const master = [
  '#EXTM3U',
  '#EXT-X-VERSION:3',
  '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"',
  '720p/index.m3u8',
  '',
  '#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2"',
  '../job-1/1080p/index.m3u8',
  '',
].join('\n');

test("a player's master playlist names every variant by its rendition, its tags untouched", (t) => {
  const out = playerMaster(master, renditions);
  t.is(out, master.replace('../job-1/1080p/index.m3u8', '1080p/index.m3u8'));
  t.false(out.includes('..'));
});

test('a master playlist and a ladder that disagree give a player nothing', (t) => {
  t.throws(() => playerMaster(master, renditions.slice(0, 1)), { message: /does not hold/ });
  t.throws(() => playerMaster(master.replace(/#EXT-X-STREAM-INF.*\n\.\.\/job-1.*\n/, ''), renditions), {
    message: /1 variants; the ladder has 2/,
  });
});

test('a rendition playlist lists plain segment names only', (t) => {
  const vod =
    '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:2.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n';
  t.deepEqual(segmentsOf(vod), ['seg_00000.ts', 'seg_00001.ts']);
  for (const bad of [
    '../other/seg_00000.ts',
    'https://evil.example/x.ts',
    'seg 1.ts',
    'index.m3u8',
    '/abs.ts',
  ])
    t.throws(() => segmentsOf(vod.replace('seg_00001.ts', bad)), { message: /not a segment file/ }, bad);
});

test("a rendition is stored under its job's prefix or an earlier job's, never outside the asset's hls folder", (t) => {
  const ladder = { prefix: 'media/c/a/hls/job-2' };
  t.is(renditionKey(ladder, renditions[0]!), 'media/c/a/hls/job-2/720p/index.m3u8');
  t.is(renditionKey(ladder, renditions[1]!), 'media/c/a/hls/job-1/1080p/index.m3u8');
  for (const playlist of ['../../x/index.m3u8', '../../../../etc/passwd', '../../hls-other/j/index.m3u8'])
    t.throws(() => renditionKey(ladder, { ...renditions[0]!, playlist }), { message: /outside/ }, playlist);
});
