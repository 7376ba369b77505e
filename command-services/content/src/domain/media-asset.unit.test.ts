import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type * as schema from '@lectern/schemas/content/index';
import { mediaAssetDecider, sniffMedia } from './media-asset.ts';

const assetId = '3b4c5d6e-7f80-4192-8b3c-4d5e6f708192';
const courseId = '7d0a6f1e-3c2b-4a59-8e1f-0b2c3d4e5f60';
const at = '2026-03-01T10:00:00.000Z';
const register = {
  type: 'RegisterMediaAsset',
  assetId,
  courseId,
  kind: 'video',
  title: 'Lecture',
  course: { authorId: 'ada' },
  actor: { userId: 'ada', roles: ['author'] },
  at,
} as const;
const registered: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetRegistered',
  data: { assetId, courseId, kind: 'video', title: 'Lecture', registeredAt: at },
};
const ready: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetReady',
  data: { assetId, courseId, readyAt: at },
};

test("the course's author registers an asset; others and missing courses are refused", (t) => {
  spec(mediaAssetDecider).given([]).when(register).then(t, [registered]);
  spec(mediaAssetDecider)
    .given([])
    .when({ ...register, course: null })
    .thenFails(t, 'course_not_found');
  spec(mediaAssetDecider)
    .given([])
    .when({ ...register, actor: { userId: 'bob', roles: ['author'] } })
    .thenFails(t, 'not_course_author');
});

test('an asset becomes ready once, and a failure never undoes ready', (t) => {
  spec(mediaAssetDecider).given([registered]).when({ type: 'MarkMediaAssetReady', at }).then(t, [ready]);
  spec(mediaAssetDecider).given([registered, ready]).when({ type: 'MarkMediaAssetReady', at }).then(t, []);
  spec(mediaAssetDecider)
    .given([registered, ready])
    .when({ type: 'MarkMediaAssetFailed', reason: 'x', at })
    .thenFails(t, 'media_asset_ready');
  spec(mediaAssetDecider)
    .given([registered])
    .when({ type: 'MarkMediaAssetFailed', reason: 'bad input', at })
    .then(t, [
      { type: 'content.MediaAssetFailed', data: { assetId, courseId, reason: 'bad input', failedAt: at } },
    ]);
  spec(mediaAssetDecider)
    .given([])
    .when({ type: 'MarkMediaAssetReady', at })
    .thenFails(t, 'media_asset_not_found');
});

const key = `content/${courseId}/${assetId}`;
const author = {
  course: { authorId: 'ada', status: 'draft' },
  actor: { userId: 'ada', roles: ['author'] },
  at,
} as const;
const start = (contentType: string, size: number) =>
  ({ type: 'StartUpload', key, contentType, size, uploadId: 'u1', fileName: null, ...author }) as const;
const started = (contentType: schema.UploadContentType, size: number): schema.MediaAssetStreamEvent => ({
  type: 'content.MediaAssetUploadStarted',
  data: { assetId, courseId, key, contentType, size, uploadId: 'u1', fileName: null, startedAt: at },
});
const finish = (stored: { size: number; sniffed: schema.UploadContentType | null } | null) =>
  ({ type: 'FinishUpload', stored, ...author }) as const;
const document: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetRegistered',
  data: { assetId, courseId, kind: 'document', title: 'Slides', registeredAt: at },
};

test('an upload starts for a type and size the kind takes, by its author, on a draft', (t) => {
  const mib = 1024 * 1024;
  spec(mediaAssetDecider)
    .given([registered])
    .when(start('video/mp4', 50 * mib))
    .then(t, [started('video/mp4', 50 * mib)]);
  spec(mediaAssetDecider)
    .given([registered])
    .when(start('application/pdf', 10))
    .thenFails(t, 'media_type_not_allowed');
  spec(mediaAssetDecider)
    .given([document])
    .when(start('video/mp4', 10))
    .thenFails(t, 'media_type_not_allowed');
  spec(mediaAssetDecider)
    .given([registered])
    .when(start('video/webm', 2048 * mib + 1))
    .thenFails(t, 'media_too_large');
  spec(mediaAssetDecider)
    .given([document])
    .when(start('image/png', 20 * mib + 1))
    .thenFails(t, 'media_too_large');
  spec(mediaAssetDecider)
    .given([document])
    .when(start('application/pdf', 100 * mib))
    .then(t, [started('application/pdf', 100 * mib)]);
  spec(mediaAssetDecider)
    .given([registered])
    .when({ ...start('video/mp4', 10), actor: { userId: 'bob', roles: ['author'] } })
    .thenFails(t, 'not_course_author');
  spec(mediaAssetDecider)
    .given([registered])
    .when({ ...start('video/mp4', 10), course: { authorId: 'ada', status: 'review' } })
    .thenFails(t, 'course_not_editable');
  spec(mediaAssetDecider)
    .given([registered, ready])
    .when(start('video/mp4', 10))
    .thenFails(t, 'media_already_uploaded');
});

test('finalize: a video waits for transcoding, a document is ready; nothing, a lie or too much is refused', (t) => {
  const uploaded = (contentType: schema.UploadContentType, size: number): schema.MediaAssetStreamEvent => ({
    type: 'content.MediaAssetUploaded',
    data: { assetId, courseId, key, contentType, size, uploadedAt: at },
  });
  spec(mediaAssetDecider)
    .given([registered, started('video/mp4', 100)])
    .when(finish({ size: 100, sniffed: 'video/mp4' }))
    .then(t, [
      uploaded('video/mp4', 100),
      {
        type: 'content.MediaAssetTranscodeRequested',
        data: { assetId, courseId, key, contentType: 'video/mp4', requestedAt: at },
      },
    ]);
  spec(mediaAssetDecider)
    .given([document, started('image/png', 100)])
    .when(finish({ size: 100, sniffed: 'image/png' }))
    .then(t, [uploaded('image/png', 100), ready]);
  spec(mediaAssetDecider)
    .given([document, started('image/png', 100), uploaded('image/png', 100), ready])
    .when(finish(null))
    .then(t, []);
  spec(mediaAssetDecider).given([registered]).when(finish(null)).thenFails(t, 'media_not_uploaded');
  spec(mediaAssetDecider)
    .given([registered, started('video/mp4', 100)])
    .when(finish(null))
    .thenFails(t, 'media_not_uploaded');
  spec(mediaAssetDecider)
    .given([registered, started('video/mp4', 100)])
    .when(finish({ size: 100, sniffed: 'video/webm' }))
    .thenFails(t, 'media_type_mismatch');
  spec(mediaAssetDecider)
    .given([document, started('image/png', 100)])
    .when(finish({ size: 21 * 1024 * 1024, sniffed: 'image/png' }))
    .thenFails(t, 'media_too_large');
});

test('sniffing: the magic numbers of every accepted type, and nothing else', (t) => {
  const b = (...parts: (string | number[])[]) =>
    new Uint8Array(
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))),
    );
  t.is(sniffMedia(b([0, 0, 0, 0x18], 'ftypisom', [0, 0, 0, 0])), 'video/mp4');
  t.is(sniffMedia(b([0, 0, 0, 0x14], 'ftypqt  ', [0, 0, 0, 0])), 'video/quicktime');
  t.is(sniffMedia(b([0x1a, 0x45, 0xdf, 0xa3, 0x9f])), 'video/webm');
  t.is(sniffMedia(b('%PDF-1.7\n')), 'application/pdf');
  t.is(sniffMedia(b([0xff, 0xd8, 0xff, 0xe0])), 'image/jpeg');
  t.is(sniffMedia(b([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'image/png');
  t.is(sniffMedia(b('RIFF', [1, 2, 3, 4], 'WEBPVP8 ')), 'image/webp');
  t.is(sniffMedia(b('RIFF', [1, 2, 3, 4], 'WAVEfmt ')), null);
  t.is(sniffMedia(b('GIF89a')), null);
  t.is(sniffMedia(b('%PD')), null);
  t.is(sniffMedia(new Uint8Array()), null);
});

const uploadedVideo: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetUploaded',
  data: { assetId, courseId, key, contentType: 'video/mp4', size: 100, uploadedAt: at },
};
const requested: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetTranscodeRequested',
  data: { assetId, courseId, key, contentType: 'video/mp4', requestedAt: at },
};
const processing = [registered, started('video/mp4', 100), uploadedVideo, requested];
const jobA = '0a0a0a0a-0000-4000-8000-00000000000a';
const jobB = '0b0b0b0b-0000-4000-8000-00000000000b';
const ladder = (jobId: string) => ({
  jobId,
  prefix: `media/${courseId}/${assetId}/hls/${jobId}`,
  master: `media/${courseId}/${assetId}/hls/${jobId}/master.m3u8`,
  renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, playlist: '720p/index.m3u8' }],
  durationSeconds: 6,
});
const transcoded = (jobId: string): schema.MediaAssetStreamEvent => ({
  type: 'content.MediaAssetTranscoded',
  data: { assetId, courseId, ...ladder(jobId), transcodedAt: at },
});
const failure = (jobId: string, permanent = false) =>
  ({
    type: 'RecordTranscodeFailure',
    jobId,
    reason: 'ffmpeg was killed',
    attempts: 4,
    permanent,
    at,
  }) as const;
const transcodeFailed = (jobId: string, permanent = false): schema.MediaAssetStreamEvent => ({
  type: 'content.MediaAssetTranscodeFailed',
  data: { assetId, courseId, jobId, reason: 'ffmpeg was killed', attempts: 4, permanent, failedAt: at },
});
const admin = { userId: 'root', roles: ['admin'] };

test('a verified ladder makes a processing video ready, once per job', (t) => {
  spec(mediaAssetDecider)
    .given(processing)
    .when({ type: 'RecordTranscode', ...ladder(jobA), at })
    .then(t, [transcoded(jobA), ready]);
  spec(mediaAssetDecider)
    .given([...processing, transcoded(jobA), ready])
    .when({ type: 'RecordTranscode', ...ladder(jobA), at })
    .then(t, []);
  t.like(spec(mediaAssetDecider).given([...processing, transcoded(jobA), ready]).state, {
    status: 'ready',
    file: { key },
    ladder: ladder(jobA),
  });
});

const assetFailed: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetFailed',
  data: { assetId, courseId, reason: 'ffmpeg was killed', failedAt: at },
};
/** A processing video that job A failed. */
const failed = [...processing, assetFailed, transcodeFailed(jobA)];

test('a failed job fails a processing video, keeps its file for a requeue, and is recorded once', (t) => {
  spec(mediaAssetDecider)
    .given(processing)
    .when(failure(jobA))
    .then(t, [assetFailed, transcodeFailed(jobA)]);
  spec(mediaAssetDecider).given(failed).when(failure(jobA)).then(t, []);
  // An admin requeues it: processing again, from the stored file.
  spec(mediaAssetDecider)
    .given(failed)
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: null })
    .then(t, [requested]);
  spec(mediaAssetDecider)
    .given([...failed, requested])
    .when({ type: 'RecordTranscode', ...ladder(jobB), at })
    .then(t, [transcoded(jobB), ready]);
});

test('a redriven dead letter asks for the failed job again, once, and only while it is the failure', (t) => {
  const requeue = { type: 'RequeueFailedTranscode', jobId: jobA, renditions: null, at } as const;
  const again: schema.MediaAssetStreamEvent = {
    type: 'content.MediaAssetTranscodeRequested',
    data: { ...requested.data, requeueOf: jobA } as schema.MediaAssetTranscodeRequested,
  };
  spec(mediaAssetDecider).given(failed).when(requeue).then(t, [again]);
  t.like(spec(mediaAssetDecider).given([...failed, again]).state, {
    status: 'processing',
    file: { key },
    requeued: [jobA],
  });
  // Twice (a letter redriven twice): nothing more. Another job's letter, or a video not failed: nothing.
  spec(mediaAssetDecider)
    .given([...failed, again])
    .when(requeue)
    .then(t, []);
  spec(mediaAssetDecider)
    .given(failed)
    .when({ ...requeue, jobId: jobB })
    .then(t, []);
  spec(mediaAssetDecider).given(processing).when(requeue).then(t, []);
  // The requeued job is a new one: its ladder makes the video ready.
  spec(mediaAssetDecider)
    .given([...failed, again])
    .when({ type: 'RecordTranscode', ...ladder(jobB), at })
    .then(t, [transcoded(jobB), ready]);
});

test('a ready video transcoded again keeps playing its ladder if the new job fails', (t) => {
  const readyA = [...processing, transcoded(jobA), ready];
  spec(mediaAssetDecider)
    .given(readyA)
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: null })
    .then(t, [requested]);
  spec(mediaAssetDecider)
    .given([...readyA, requested])
    .when(failure(jobB))
    .then(t, [transcodeFailed(jobB)]);
  t.like(spec(mediaAssetDecider).given([...readyA, requested, transcodeFailed(jobB)]).state, {
    status: 'ready',
    ladder: { jobId: jobA },
  });
  spec(mediaAssetDecider)
    .given([...readyA, requested])
    .when({ type: 'RecordTranscode', ...ladder(jobB), at })
    .then(t, [transcoded(jobB)]);
});

test('only admins requeue, and only an uploaded video', (t) => {
  spec(mediaAssetDecider)
    .given(processing)
    .when({ type: 'RequestTranscode', actor: { userId: 'ada', roles: ['author'] }, at, renditions: null })
    .thenFails(t, 'forbidden');
  spec(mediaAssetDecider)
    .given([registered])
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: null })
    .thenFails(t, 'media_not_transcodable');
});

test('progress is recorded while a job runs, not after its ladder is in', (t) => {
  const progress = { type: 'RecordTranscodeProgress', jobId: jobA, percent: 40, etaSeconds: 3, at } as const;
  spec(mediaAssetDecider)
    .given(processing)
    .when(progress)
    .then(t, [
      {
        type: 'content.MediaAssetTranscodeProgressed',
        data: { assetId, courseId, jobId: jobA, percent: 40, etaSeconds: 3, at },
      },
    ]);
  spec(mediaAssetDecider)
    .given([...processing, transcoded(jobA), ready])
    .when(progress)
    .then(t, []);
});

test('one rendition of the ladder is made again; one it does not have is refused', (t) => {
  const readyA = [...processing, transcoded(jobA), ready];
  spec(mediaAssetDecider)
    .given(readyA)
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: ['720p'] })
    .then(t, [
      { ...requested, data: { ...requested.data, renditions: ['720p'] } } as schema.MediaAssetStreamEvent,
    ]);
  spec(mediaAssetDecider)
    .given(readyA)
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: ['1080p'] })
    .thenFails(t, 'rendition_not_in_ladder');
  spec(mediaAssetDecider)
    .given(processing)
    .when({ type: 'RequestTranscode', actor: admin, at, renditions: ['720p'] })
    .thenFails(t, 'rendition_not_in_ladder');
});
