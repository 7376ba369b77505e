import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestFn } from 'ava';
import * as schema from '@lectern/schemas/content/index';
import { mediaAssetDecider } from '@lectern/content-commands';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { uncausedMetadata } from '@lectern/infra/testing/projection-spec';
import { workOf } from '@lectern/infra/runtime/reactor';
import { waitUntil } from '@lectern/infra/testing/wait';
import { makeClip } from '@lectern/transcoding-worker/media/testing';
import { readLadder } from '@lectern/transcoding-worker/media/verify';
import { testClient, type Frame, type TestClient } from '@lectern/realtime/testing/client';
import type { CourseChange } from '@lectern/schemas/content/socket';
import { playHls } from './hls-player.ts';
import { jsonClient } from './http-client.ts';
import { fetchLadder, mediaAssets, rungsOf } from './media-assets.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';
import { runCli } from '../../../tools/src/testing/run-cli.ts';

const run = promisify(execFile);

/**
 * Transcoding end to end (issue 11): a video made with ffmpeg's test
 * source goes up through the content flow, and the transcoding worker
 * (ffprobe, one ffmpeg for the whole ladder, the storage, ffprobe again)
 * makes it an HLS ladder the asset switches to only once verified.
 */
export const transcodingFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const call = jsonClient(async () => (await lectern()).url);
  const assets = mediaAssets(call);
  const token = async (roles: string[]) =>
    (await (await lectern()).signAccessToken({ sub: randomUUID(), roles })).token;
  const newCourse = async (as: string) => {
    const r = await call('POST', '/api/courses', { token: as, body: { title: 'Video course' } });
    if (r.status !== 201) throw new Error(`POST /api/courses: ${r.status}`);
    return r.body!.courseId as string;
  };
  const clip = async (opts: { seconds: number; width: number; height: number }) => {
    const dir = await mkdtemp(join(tmpdir(), 'lectern-clip-'));
    try {
      const path = join(dir, 'clip.mp4');
      await makeClip(path, { ...opts, audio: true, rate: 15 });
      return await readFile(path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  /**
   * A socket on `course:<courseId>` as `as`, once the catalogue has the
   * write `consistencyToken` answered (the channel's check reads it): the
   * `subscribed` or error frame, and the client.
   */
  const watchCourse = async (as: string, courseId: string, consistencyToken: string) => {
    const c = await testClient(`${(await lectern()).url.replace(/^http/, 'ws')}/ws`);
    c.send({ type: 'auth', token: as });
    await c.next('welcome', (f) => f.type === 'welcome');
    // The gateway answers after its own bounded wait, caughtUp false if the catalogue is
    // behind then: on a busy machine that is asked again. The bounds guard a hang, not a speed.
    const until = Date.now() + 300_000;
    for (let n = 1; ; n++) {
      c.send({
        type: 'consistency',
        ref: `catalogue-${n}`,
        readModel: 'course_catalog',
        stream: schema.courseStreamId(courseId),
        token: consistencyToken,
      });
      const caught = await c.next('the catalogue', (f) => f.ref === `catalogue-${n}`, 300_000);
      if ((caught.data as { caughtUp?: boolean } | undefined)?.caughtUp === true) break;
      if (Date.now() > until) throw new Error(`the catalogue did not catch up: ${JSON.stringify(caught)}`);
    }
    c.send({ type: 'subscribe', ref: 'course', channel: `course:${courseId}` });
    return { client: c, answer: await c.next('the answer', (f) => f.ref === 'course') };
  };
  const courseItems = (c: TestClient, courseId: string) =>
    c.frames
      .filter((f) => f.type === 'item' && f.channel === `course:${courseId}`)
      .map((f) => f.data as CourseChange);
  const mediaStep = (courseId: string, assetId: string, step: string, jobId?: string) => (f: Frame) => {
    const d = f.data as Extract<CourseChange, { change: 'media' }> | undefined;
    return (
      f.type === 'item' &&
      f.channel === `course:${courseId}` &&
      d?.assetId === assetId &&
      d.step === step &&
      (jobId === undefined || d.jobId === jobId)
    );
  };

  /** The reactor's row of the job once it is settled: the asset's events are recorded before the row is marked. */
  const settledWork = async (requestId: string) => {
    for (const deadline = Date.now() + 60_000; ;) {
      const work = await workOf((await lectern()).sql, 'transcoding', requestId);
      if (work && work.state !== 'claimed') return work;
      if (Date.now() > deadline) throw new Error(`the job is still ${JSON.stringify(work)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const eventsOf = async (assetId: string) =>
    (await (await lectern()).store.readStream(schema.mediaAssetStreamId(assetId))).map((e) => ({
      id: e.id,
      type: e.type,
      data: e.data as Record<string, any>,
    }));

  test.serial(`${name}: an uploaded 1080p video becomes a verified 720p + 1080p HLS ladder`, async (t) => {
    const ada = await token(['author']);
    const created = await call('POST', '/api/courses', { token: ada, body: { title: 'Video course' } });
    t.is(created.status, 201);
    const courseId = created.body!.courseId as string;
    // The author watches the course on the socket; a learner may not, while it is a draft.
    const author = await watchCourse(ada, courseId, created.headers.get('x-consistency-token')!);
    t.teardown(() => author.client.close());
    t.like(author.answer, { type: 'subscribed', channel: `course:${courseId}` });
    const learnerToken = await token(['learner']);
    const early = await watchCourse(learnerToken, courseId, created.headers.get('x-consistency-token')!);
    early.client.close();
    t.like(early.answer, { type: 'error', code: 'forbidden' });
    const source = await clip({ seconds: 6, width: 1920, height: 1080 });
    const { assetId, status } = await assets.uploadVideo(ada, courseId, source);
    t.is(status, 'processing');

    const ready = await assets.when(ada, courseId, assetId, (a) => a.status !== 'processing');
    t.like(ready, { status: 'ready', reason: null, transcode: null });
    t.deepEqual(rungsOf(ready), [
      ['720p', 1280, 720],
      ['1080p', 1920, 1080],
    ]);
    // The master playlist through the presigned GET the answer carries.
    const master = await fetch(ready.ladder.masterUrl);
    t.is(master.status, 200);
    const text = await master.text();
    for (const resolution of ['1280x720', '1920x1080'])
      t.regex(
        text,
        new RegExp(`#EXT-X-STREAM-INF:.*BANDWIDTH=\\d+.*RESOLUTION=${resolution}.*CODECS="avc1[^"]*"`),
      );

    // Each rendition read back from the storage with ffprobe: its resolution and its duration.
    const events = await eventsOf(assetId);
    const transcoded = events.find((e) => e.type === 'content.MediaAssetTranscoded')!
      .data as schema.MediaAssetTranscoded;
    const dir = await mkdtemp(join(tmpdir(), 'lectern-ladder-'));
    try {
      const read = await readLadder(await fetchLadder((await lectern()).blobs, transcoded, dir));
      t.deepEqual(
        read.map((v) => [v.width, v.height]).sort((a, b) => a[1]! - b[1]!),
        [
          [1280, 720],
          [1920, 1080],
        ],
      );
      for (const v of read)
        t.true(Math.abs(v.durationSeconds - 6) < 0.5, `${v.height}p lasts ${v.durationSeconds} s`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Played over HTTP from the playback URL alone, as a player would: every segment decoded.
    const server = (await lectern()).url;
    const playback = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`, {
      token: ada,
    });
    t.is(playback.status, 200, JSON.stringify(playback.body));
    t.like(playback.body, { assetId, courseId, jobId: transcoded.jobId });
    const firstUrl = `${server}${playback.body!.url}`;
    const played = await playHls(firstUrl);
    t.deepEqual(
      played.map((v) => [v.uri, v.width, v.height]),
      [
        ['720p/index.m3u8', 1280, 720],
        ['1080p/index.m3u8', 1920, 1080],
      ],
    );
    for (const v of played) {
      t.true(Math.abs(v.durationSeconds - 6) < 0.5, `${v.uri} plays ${v.durationSeconds} s`);
      t.true(v.segments >= 2, `${v.uri}: ${v.segments} segments`);
    }
    // A segment is a redirect to the storage; the playback URL holds no storage credential.
    const segment = await fetch(firstUrl.replace('master.m3u8', '720p/seg_00000.ts'), { redirect: 'manual' });
    t.is(segment.status, 302);
    t.truthy(segment.headers.get('location'));
    t.false(firstUrl.includes('X-Amz') || firstUrl.includes('signature='), firstUrl);
    // A stranger gets no URL for a draft course's video, and a forged or unknown name plays nothing.
    const stranger = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`);
    t.like(stranger, { status: 404, body: { code: 'course_not_found' } });
    // Once the course is out with the video in a lesson, anyone gets a URL, and it plays.
    const sectionId = (
      await call('POST', `/api/courses/${courseId}/sections`, { token: ada, body: { title: 'Week 1' } })
    ).body!.sectionId as string;
    const lesson = await call('POST', `/api/courses/${courseId}/sections/${sectionId}/materials`, {
      token: ada,
      body: { title: 'The lecture', kind: 'video', assetId },
    });
    t.is(lesson.status, 201, JSON.stringify(lesson.body));
    t.is((await call('POST', `/api/courses/${courseId}/submit`, { token: ada })).status, 200);
    const published = await call('POST', `/api/courses/${courseId}/publish`, { token: ada });
    t.is(published.status, 200);
    // Published, the learner may watch it: where it stands, never its media's progress.
    const learner = await watchCourse(learnerToken, courseId, published.headers.get('x-consistency-token')!);
    t.teardown(() => learner.client.close());
    t.like(learner.answer, { type: 'subscribed' });
    const anyone = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`);
    t.is(anyone.status, 200, JSON.stringify(anyone.body));
    t.is((await fetch(`${server}${anyone.body!.url}`)).status, 200);
    const forged = firstUrl.replace(
      /\.([A-Za-z0-9_-])([A-Za-z0-9_-]{42})\/master\.m3u8$/,
      (_, c: string, rest: string) => `.${c === 'A' ? 'B' : 'A'}${rest}/master.m3u8`,
    );
    t.not(forged, firstUrl);
    for (const [url, code] of [
      [forged, 'playback_not_found'],
      [firstUrl.replace('master.m3u8', '480p/index.m3u8'), 'rendition_not_found'],
      [firstUrl.replace('master.m3u8', '720p/seg_99999.ts'), 'segment_not_found'],
    ] as const) {
      const r = await fetch(url, { redirect: 'manual' });
      t.is(r.status, 404, url);
      t.is(((await r.json()) as { code: string }).code, code);
    }

    // Progress was reported on the way, and the job took one try.
    const progress = events.filter((e) => e.type === 'content.MediaAssetTranscodeProgressed');
    t.true(progress.length >= 1);
    t.true(
      progress.every(
        (e) => e.data.jobId === transcoded.jobId && e.data.percent >= 0 && e.data.percent <= 100,
      ),
    );
    const request = events.find((e) => e.type === 'content.MediaAssetTranscodeRequested')!;
    t.like(await settledWork(request.id), { state: 'done', attempts: 1 });
    // The job shows on /metrics as docs/operations.md lists it: its try, its duration and its speed.
    const metrics = await (await fetch(`${server}/metrics`)).text();
    const value = (series: string) =>
      Number(
        metrics
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1] ?? 0,
      );
    t.true(value('lectern_reactor_attempts_total{reactor="transcoding"}') >= 1, 'the try is counted');
    t.true(value('lectern_transcode_duration_seconds_count{outcome="transcoded"}') >= 1);
    t.true(value('lectern_transcode_speed_factor_count') >= 1);
    t.true(value('lectern_transcode_speed_factor_sum') > 0);
    // …and pushed to the author as it went: the upload, each progress report, the ladder.
    await author.client.next(
      'the ladder, live',
      mediaStep(courseId, assetId, 'transcoded', transcoded.jobId),
    );
    await author.client.next('ready, live', mediaStep(courseId, assetId, 'ready'));
    const pushed = courseItems(author.client, courseId).filter(
      (d): d is Extract<CourseChange, { change: 'media' }> => d.change === 'media' && d.assetId === assetId,
    );
    t.deepEqual(
      [...new Set(pushed.map((d) => d.step))].filter((s) => s !== 'transcode_progress'),
      ['registered', 'upload_started', 'uploaded', 'transcode_requested', 'transcoded', 'ready'],
    );
    const live = pushed.filter((d) => d.step === 'transcode_progress');
    t.is(live.length, progress.length, 'every progress event was pushed');
    t.true(
      live.every((d) => d.jobId === transcoded.jobId && d.percent! >= 0 && d.percent! <= 100),
      JSON.stringify(live),
    );

    // An admin makes the 720p rendition again: a new job, its master naming the new 720p and the kept 1080p.
    const admin = await token(['admin']);
    const path = `/api/courses/${courseId}/media-assets/${assetId}/transcode`;
    const refused = await call('POST', path, { token: admin, body: { rendition: '480p' } });
    t.is(refused.status, 409);
    t.is(refused.body?.code, 'rendition_not_in_ladder');
    const again = await call('POST', path, { token: admin, body: { rendition: '720p' } });
    t.is(again.status, 202, JSON.stringify(again.body));
    const remade = await assets.when(
      ada,
      courseId,
      assetId,
      (a) => a.ladder?.jobId !== transcoded.jobId || a.status !== 'ready',
    );
    t.like(remade, { status: 'ready' });
    const second = (await eventsOf(assetId)).filter((e) => e.type === 'content.MediaAssetTranscoded').at(-1)!
      .data as schema.MediaAssetTranscoded;
    t.deepEqual(
      second.renditions.map((r) => [r.name, r.playlist]),
      [
        ['720p', '720p/index.m3u8'],
        ['1080p', `../${transcoded.jobId}/1080p/index.m3u8`],
      ],
    );
    const dir2 = await mkdtemp(join(tmpdir(), 'lectern-ladder-'));
    try {
      const read = await readLadder(await fetchLadder((await lectern()).blobs, second, dir2));
      t.deepEqual(
        read.map((v) => v.height).sort((a, b) => a - b),
        [720, 1080],
      );
    } finally {
      await rm(dir2, { recursive: true, force: true });
    }
    // The new ladder plays (its 1080p from the first job's folder), and the first URL still plays its own.
    const replay = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`, {
      token: ada,
    });
    t.is(replay.body?.jobId, second.jobId);
    t.deepEqual(
      (await playHls(`${server}${replay.body!.url}`)).map((v) => [v.uri, v.height]),
      [
        ['720p/index.m3u8', 720],
        ['1080p/index.m3u8', 1080],
      ],
    );
    t.deepEqual(
      (await playHls(firstUrl)).map((v) => v.height),
      [720, 1080],
      'a player mid-stream is not cut off by a new ladder',
    );

    // The second job was pushed to the author; the learner, subscribed meanwhile on the same
    // process, got none of it, and both see the course archived.
    await author.client.next(
      'the new ladder, live',
      mediaStep(courseId, assetId, 'transcoded', second.jobId),
    );
    t.is((await call('POST', `/api/courses/${courseId}/archive`, { token: ada })).status, 200);
    const archived = (f: Frame) =>
      f.type === 'item' && (f.data as { change?: string; status?: string }).status === 'archived';
    for (const c of [author.client, learner.client]) await c.next('archived', archived);
    t.deepEqual(
      courseItems(learner.client, courseId).map((d) => [d.change, (d as { status?: string }).status]),
      [['status', 'archived']],
    );
  });

  test.serial(`${name}: a re-transcode that fails takes nothing from the ladder that plays`, async (t) => {
    const l = await lectern();
    const ada = await token(['author']);
    const admin = await token(['admin']);
    const courseId = await newCourse(ada);
    const { assetId } = await assets.uploadVideo(
      ada,
      courseId,
      await clip({ seconds: 4, width: 1280, height: 720 }),
    );
    const ready = await assets.when(ada, courseId, assetId, (a) => a.status !== 'processing');
    t.like(ready, { status: 'ready' });
    const good = ready.ladder.jobId as string;
    const playing = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`, {
      token: ada,
    });
    t.is(playing.status, 200);

    // The source is lost from the storage; an admin asks for the 720p rendition again.
    const uploaded = (await eventsOf(assetId)).find((e) => e.type === 'content.MediaAssetUploaded')!;
    await l.blobs.delete(uploaded.data.key as string);
    const again = await call('POST', `/api/courses/${courseId}/media-assets/${assetId}/transcode`, {
      token: admin,
      body: { rendition: '720p' },
    });
    t.is(again.status, 202, JSON.stringify(again.body));
    let failure: Record<string, any> | undefined;
    await waitUntil('the new job to fail', async () => {
      failure = (await eventsOf(assetId)).find((e) => e.type === 'content.MediaAssetTranscodeFailed')?.data;
      return failure !== undefined;
    });
    t.like(failure, { permanent: true, attempts: 1 });
    t.not(failure!.jobId, good);
    t.regex(failure!.reason as string, /gone/);

    // The asset still plays the ladder it had, from the same job, and nothing says it failed.
    const after = await assets.when(ada, courseId, assetId, () => true);
    t.like(after, { status: 'ready', reason: null });
    t.is(after.ladder.jobId, good);
    t.false((await eventsOf(assetId)).some((e) => e.type === 'content.MediaAssetFailed'));
    const replay = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}/playback`, {
      token: ada,
    });
    t.is(replay.body?.jobId, good);
    t.deepEqual(
      (await playHls(`${l.url}${replay.body!.url}`)).map((v) => v.height),
      [720],
    );
  });

  test.serial(`${name}: ffmpeg killed mid-job is tried again, and the ladder still appears`, async (t) => {
    const ada = await token(['author']);
    const courseId = await newCourse(ada);
    // Long enough that the job is still encoding when its first progress is seen.
    const source = await clip({ seconds: 30, width: 1280, height: 720 });
    const { assetId } = await assets.uploadVideo(ada, courseId, source);
    await assets.when(ada, courseId, assetId, (a) => a.transcode !== null || a.status !== 'processing');
    // The worker runs in this process: its ffmpeg is a child of ours.
    const { stdout } = await run('pgrep', ['-P', String(process.pid), 'ffmpeg']).catch(() => ({
      stdout: '',
    }));
    const pids = stdout.split('\n').filter(Boolean);
    t.is(pids.length, 1, 'one ffmpeg is encoding');
    process.kill(Number(pids[0]), 'SIGKILL');

    const ready = await assets.when(ada, courseId, assetId, (a) => a.status !== 'processing');
    t.like(ready, { status: 'ready', reason: null });
    t.deepEqual(
      ready.ladder.renditions.map((r: { name: string }) => r.name),
      ['720p'],
      'a 720p source gets no 1080p rung',
    );
    const events = await eventsOf(assetId);
    t.false(
      events.some((e) => e.type === 'content.MediaAssetTranscodeFailed'),
      'a retried job is not a failure',
    );
    const request = events.find((e) => e.type === 'content.MediaAssetTranscodeRequested')!;
    t.like(await settledWork(request.id), { state: 'done', attempts: 2 });
  });

  test.serial(
    `${name}: a failed job's dead letter, redriven with lectern dlq, asks for the job again and the video plays`,
    async (t) => {
      const l = await lectern();
      const authorId = randomUUID();
      const ada = (await l.signAccessToken({ sub: authorId, roles: ['author'] })).token;
      const admin = (await l.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
      const courseId = await newCourse(ada);
      const source = await clip({ seconds: 4, width: 1280, height: 720 });
      const registered = await call('POST', `/api/courses/${courseId}/media-assets`, {
        token: ada,
        body: { kind: 'video', title: 'Lecture' },
      });
      const assetId = registered.body!.assetId as string;
      const upload = `/api/courses/${courseId}/media-assets/${assetId}/upload`;
      const presign = await call('POST', `${upload}/presign`, {
        token: ada,
        body: { contentType: 'video/mp4', size: source.length, fileName: 'lecture.mp4' },
      });
      t.is(presign.status, 200, JSON.stringify(presign.body));
      const [part] = presign.body!.upload.parts as {
        method: string;
        url: string;
        headers: Record<string, string>;
      }[];

      // The upload recorded as finished while the storage holds nothing under its key (a file
      // the storage lost): the job finds it gone, a permanent failure, and dead-letters the request.
      await handleCommand({
        store: l.store,
        streamId: schema.mediaAssetStreamId(assetId),
        decider: mediaAssetDecider,
        command: {
          type: 'FinishUpload',
          stored: { size: source.length, sniffed: 'video/mp4' },
          course: { authorId, status: 'draft' },
          actor: { userId: authorId, roles: ['author'] },
          at: new Date().toISOString(),
        },
        commandId: randomUUID(),
        occurredAt: new Date().toISOString(),
        metadata: uncausedMetadata(),
        catalogue: schema.contentEvents,
      });
      const failed = await assets.when(ada, courseId, assetId, (a) => a.status !== 'processing');
      t.is(failed.status, 'failed');
      t.regex(failed.reason, /is gone/);
      const request = (await eventsOf(assetId)).find(
        (e) => e.type === 'content.MediaAssetTranscodeRequested',
      )!;
      t.like(await settledWork(request.id), { state: 'dead', attempts: 1 });

      const env = { LECTERN_URL: l.url, LECTERN_TOKEN: admin };
      const topic = `${l.namespace}.dlq.worker.transcoding`;
      const shown = async () => {
        const r = await runCli(['dlq', 'show', topic], env);
        if (r.code !== 0) throw new Error(r.stderr);
        return (JSON.parse(r.stdout) as { items: { redriven: boolean; letter: { value: string } }[] }).items;
      };
      await waitUntil(
        'the dead letter',
        async () => (await shown()).some((i) => i.letter.value.includes(request.id)),
        120_000,
        100,
      );
      t.true((await shown()).some((i) => !i.redriven && i.letter.value.includes(request.id)));

      // The file is put back; the dead letter is redriven: the job is asked for again, a new one.
      const put = await fetch(part!.url, { method: part!.method, headers: part!.headers, body: source });
      t.true(put.ok, `PUT ${put.status}`);
      const redrive = await runCli(['dlq', 'redrive', topic], env);
      t.is(redrive.code, 0, redrive.stderr);
      t.true((JSON.parse(redrive.stdout) as { redriven: number }).redriven >= 1);

      const ready = await assets.when(ada, courseId, assetId, (a) => a.status === 'ready');
      t.deepEqual(
        ready.ladder.renditions.map((r: { name: string }) => r.name),
        ['720p'],
      );
      const events = await eventsOf(assetId);
      const requests = events.filter((e) => e.type === 'content.MediaAssetTranscodeRequested');
      const failedJob = events.find((e) => e.type === 'content.MediaAssetTranscodeFailed')!.data
        .jobId as string;
      t.is(requests.length, 2, 'asked for again once');
      t.is(requests[1]!.data.requeueOf, failedJob);
      const done = events.find((e) => e.type === 'content.MediaAssetTranscoded')!
        .data as schema.MediaAssetTranscoded;
      t.not(done.jobId, failedJob, 'a new job, in a folder of its own');
      t.true(
        events.some((e) => e.type === 'content.MediaAssetTranscodeProgressed' && e.data.jobId === done.jobId),
        'the new job shows its progress',
      );
      t.like(await settledWork(request.id), { state: 'done', outcome: 'requeued' });
      t.like(await settledWork(requests[1]!.id), { state: 'done', outcome: 'transcoded', attempts: 1 });
      const dir = await mkdtemp(join(tmpdir(), 'lectern-ladder-'));
      try {
        const read = await readLadder(await fetchLadder(l.blobs, done, dir));
        t.deepEqual(
          read.map((v) => v.height),
          [720],
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }

      // Redriven again (nothing waits): nothing more is asked for.
      const again = await runCli(['dlq', 'redrive', topic], env);
      t.is(again.code, 0, again.stderr);
      t.is(
        (await eventsOf(assetId)).filter((e) => e.type === 'content.MediaAssetTranscodeRequested').length,
        2,
      );
    },
  );
};
