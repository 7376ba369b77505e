import { randomBytes, randomUUID } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import * as schema from '@lectern/schemas/content/index';
import type { Validator } from '@lectern/schemas/validation';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { uncausedMetadata } from '@lectern/infra/testing/projection-spec';
import { mediaAssetDecider } from '@lectern/content-commands';
import { jsonClient, problem, type Reply } from './http-client.ts';
import { mediaAssets } from './media-assets.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * The content slice end to end over HTTP: courses, their structure, the
 * workflow with review and the media check, and the catalogue, read back
 * through consistency tokens. Registered once per profile (embedded;
 * PostgreSQL + Kafka).
 */
export const contentFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const call = jsonClient(async () => (await lectern()).url);
  const token = async (roles: string[], sub = randomUUID()) =>
    (await (await lectern()).signAccessToken({ sub, roles })).token;
  /** The answer matches what the document says the operation answers. */
  const documented = (t: ExecutionContext, r: Reply, validator: Validator<unknown>) => {
    const checked = validator(r.body);
    t.deepEqual(checked.ok ? [] : checked.issues, [], JSON.stringify(r.body));
  };
  const consistent = (r: Reply) => ({ 'x-consistency-token': r.headers.get('x-consistency-token') ?? '' });
  /** A word no other test's course holds, so searches and filters see only this test's courses. */
  const word = () => `w${randomUUID().replaceAll('-', '').slice(0, 12)}`;

  const newCourse = async (t: ExecutionContext, as: string, body: Record<string, unknown>) => {
    const r = await call('POST', '/api/courses', { token: as, body });
    t.is(r.status, 201, JSON.stringify(r.body));
    documented(t, r, schema.courseCommandResult);
    return { courseId: r.body!.courseId as string, reply: r };
  };

  test.serial(
    `${name}: an author creates a course and reads it back; others do not see the draft`,
    async (t) => {
      const ada = await token(['author']);
      const tag = word();
      const { courseId, reply } = await newCourse(t, ada, {
        title: 'Event sourcing',
        summary: 'Streams',
        tags: [tag],
      });
      t.is(reply.headers.get('etag'), '"0"');
      t.is(reply.headers.get('location'), `/api/courses/${courseId}`);
      t.like(reply.body, { status: 'draft', revision: 0 });

      const mine = await call('GET', `/api/courses/${courseId}`, { token: ada, headers: consistent(reply) });
      t.is(mine.status, 200);
      t.is(mine.headers.get('x-consistency'), 'caught-up');
      t.is(mine.headers.get('etag'), '"0"');
      documented(t, mine, schema.courseDetail);
      t.like(mine.body, {
        title: 'Event sourcing',
        status: 'draft',
        tags: [tag],
        sections: [],
        comments: [],
      });

      const learner = await token(['learner']);
      problem(t, await call('GET', `/api/courses/${courseId}`, { token: learner }), 404, 'course_not_found');
      problem(t, await call('GET', `/api/courses/${courseId}`), 404, 'course_not_found');
      const listed = await call('GET', `/api/courses?tags=${tag}&after=${courseId}`, {
        token: ada,
        headers: consistent(reply),
      });
      t.is(listed.headers.get('x-consistency'), 'caught-up');
      documented(t, listed, schema.cataloguePage);
      t.deepEqual(
        listed.body!.items.map((i: { courseId: string }) => i.courseId),
        [courseId],
      );
      t.deepEqual((await call('GET', `/api/courses?tags=${tag}`, { token: learner })).body!.items, []);
      t.deepEqual((await call('GET', `/api/courses?tags=${tag}`)).body!.items, []);
    },
  );

  test.serial(
    `${name}: RBAC: learners and anonymous callers cannot write; other authors cannot touch a course`,
    async (t) => {
      problem(t, await call('POST', '/api/courses', { body: { title: 'x' } }), 401, 'token_missing');
      problem(
        t,
        await call('POST', '/api/courses', { token: await token(['learner']), body: { title: 'x' } }),
        403,
        'forbidden',
      );
      problem(t, await call('GET', '/api/courses', { token: 'not-a-token' }), 401);
      const { courseId } = await newCourse(t, await token(['author']), { title: 'Mine' });
      const bob = await token(['author']);
      problem(
        t,
        await call('PATCH', `/api/courses/${courseId}`, { token: bob, body: { title: 'Ours' } }),
        403,
        'not_course_author',
      );
      problem(
        t,
        await call('POST', `/api/courses/${courseId}/submit`, { token: bob }),
        403,
        'not_course_author',
      );
      const admin = await call('PATCH', `/api/courses/${courseId}`, {
        token: await token(['admin']),
        body: { title: 'Theirs' },
      });
      t.is(admin.status, 200);
      documented(t, admin, schema.courseCommandResult);
    },
  );

  test.serial(
    `${name}: sections and materials are added, reordered under If-Match, and read back in order`,
    async (t) => {
      const ada = await token(['author']);
      const { courseId } = await newCourse(t, ada, { title: 'Structure' });
      const sections: string[] = [];
      for (const title of ['Intro', 'Middle', 'End']) {
        const r = await call('POST', `/api/courses/${courseId}/sections`, { token: ada, body: { title } });
        t.is(r.status, 201);
        documented(t, r, schema.courseCommandResult);
        sections.push(r.body!.sectionId);
      }
      const [intro, middle, end] = sections as [string, string, string];
      const m1 = await call('POST', `/api/courses/${courseId}/sections/${intro}/materials`, {
        token: ada,
        body: { title: 'Welcome', kind: 'text', body: 'Hello' },
      });
      t.is(m1.status, 201, JSON.stringify(m1.body));
      const m2 = await call('POST', `/api/courses/${courseId}/sections/${intro}/materials`, {
        token: ada,
        body: { title: 'Plan', kind: 'text', body: 'Three parts' },
      });
      problem(
        t,
        await call('POST', `/api/courses/${courseId}/sections/${intro}/materials`, {
          token: ada,
          body: { title: 'Clip', kind: 'video' },
        }),
        400,
        'validation_failed',
      );
      const revision = m2.headers.get('etag')!;
      t.is(revision, '"5"');
      const stale = await call('PUT', `/api/courses/${courseId}/section-order`, {
        token: ada,
        body: { sectionIds: [end, middle, intro] },
        headers: { 'if-match': '"4"' },
      });
      problem(t, stale, 412, 'revision_mismatch');
      problem(
        t,
        await call('PUT', `/api/courses/${courseId}/section-order`, {
          token: ada,
          body: { sectionIds: [end, intro] },
        }),
        409,
        'order_mismatch',
      );
      const reordered = await call('PUT', `/api/courses/${courseId}/section-order`, {
        token: ada,
        body: { sectionIds: [end, middle, intro] },
        headers: { 'if-match': revision },
      });
      t.is(reordered.status, 200);
      t.is(reordered.headers.get('etag'), '"6"');
      await call('PUT', `/api/courses/${courseId}/sections/${intro}/material-order`, {
        token: ada,
        body: { materialIds: [m2.body!.materialId, m1.body!.materialId] },
      });
      await call('PATCH', `/api/courses/${courseId}/sections/${middle}`, {
        token: ada,
        body: { title: 'Core' },
      });
      const removed = await call('DELETE', `/api/courses/${courseId}/sections/${end}`, { token: ada });
      t.is(removed.status, 200);
      const detail = await call('GET', `/api/courses/${courseId}`, {
        token: ada,
        headers: consistent(removed),
      });
      t.is(detail.headers.get('x-consistency'), 'caught-up');
      documented(t, detail, schema.courseDetail);
      t.deepEqual(
        detail.body!.sections.map((s: { title: string; materials: { title: string }[] }) => [
          s.title,
          s.materials.map((m) => m.title),
        ]),
        [
          ['Core', []],
          ['Intro', ['Plan', 'Welcome']],
        ],
      );
      t.is(detail.headers.get('etag'), removed.headers.get('etag'));
    },
  );

  test.serial(
    `${name}: review, comments and publication, held back until every media asset is ready`,
    async (t) => {
      const adaId = randomUUID();
      const ada = await token(['author'], adaId);
      const admin = await token(['admin']);
      const learner = await token(['learner']);
      const topic = word();
      const { courseId } = await newCourse(t, ada, { title: `Publishing ${topic}` });
      const section = (
        await call('POST', `/api/courses/${courseId}/sections`, { token: ada, body: { title: 'One' } })
      ).body!.sectionId as string;
      const asset = await call('POST', `/api/courses/${courseId}/media-assets`, {
        token: ada,
        body: { kind: 'video', title: 'Lecture' },
      });
      t.is(asset.status, 201, JSON.stringify(asset.body));
      documented(t, asset, schema.mediaAssetResult);
      const assetId = asset.body!.assetId as string;
      problem(
        t,
        await call('POST', `/api/courses/${courseId}/sections/${section}/materials`, {
          token: ada,
          body: { title: 'Talk', kind: 'audio', assetId },
        }),
        400,
        'material_kind_mismatch',
      );
      const video = await call('POST', `/api/courses/${courseId}/sections/${section}/materials`, {
        token: ada,
        body: { title: `Lecture on ${topic}x`, kind: 'video', assetId },
      });
      t.is(video.status, 201, JSON.stringify(video.body));

      const early = await call('POST', `/api/courses/${courseId}/publish`, { token: ada });
      problem(t, early, 409, 'invalid_transition');
      t.is(early.body!.currentStatus, 'draft');
      problem(
        t,
        await call('POST', `/api/courses/${courseId}/comments`, { token: admin, body: { body: 'x' } }),
        409,
        'course_not_in_review',
      );
      t.is((await call('POST', `/api/courses/${courseId}/submit`, { token: ada })).status, 200);
      problem(
        t,
        await call('POST', `/api/courses/${courseId}/comments`, { token: ada, body: { body: 'self' } }),
        403,
        'forbidden',
      );
      const comment = await call('POST', `/api/courses/${courseId}/comments`, {
        token: admin,
        body: { body: 'Looks good' },
      });
      t.is(comment.status, 201);
      documented(t, comment, schema.courseCommandResult);
      problem(
        t,
        await call('PATCH', `/api/courses/${courseId}`, { token: ada, body: { title: 'Late' } }),
        409,
        'course_not_editable',
      );

      const blocked = await call('POST', `/api/courses/${courseId}/publish`, { token: admin });
      problem(t, blocked, 409, 'media_not_ready');
      t.deepEqual(blocked.body!.assets, [{ assetId, status: 'pending' }]);

      // What the upload and transcoding flows will do: mark the asset ready, through its decider.
      const l = await lectern();
      await handleCommand({
        store: l.store,
        streamId: schema.mediaAssetStreamId(assetId),
        decider: mediaAssetDecider,
        command: { type: 'MarkMediaAssetReady', at: new Date().toISOString() },
        commandId: randomUUID(),
        occurredAt: new Date().toISOString(),
        metadata: uncausedMetadata(),
        catalogue: schema.contentEvents,
      });
      const published = await call('POST', `/api/courses/${courseId}/publish`, { token: ada });
      t.is(published.status, 200, JSON.stringify(published.body));
      t.like(published.body, { status: 'published' });

      // Searchable once applied: by its title, and by a material's title (a word prefix).
      const found = await call('GET', `/api/courses?q=${topic}&after=${courseId}`, {
        headers: consistent(published),
      });
      t.is(found.headers.get('x-consistency'), 'caught-up');
      documented(t, found, schema.cataloguePage);
      t.deepEqual(
        found.body!.items.map((i: { courseId: string }) => i.courseId),
        [courseId],
      );
      const byMaterial = await call('GET', `/api/courses?q=${encodeURIComponent(`${topic}x lecture`)}`, {
        token: learner,
      });
      t.deepEqual(
        byMaterial.body!.items.map((i: { courseId: string }) => i.courseId),
        [courseId],
      );
      const forLearner = await call('GET', `/api/courses/${courseId}`, { token: learner });
      t.is(forLearner.status, 200);
      t.is(forLearner.body!.comments, undefined, 'review comments are for the author and admins');
      const forAuthor = await call('GET', `/api/courses/${courseId}`, { token: ada });
      t.deepEqual(
        forAuthor.body!.comments.map((c: { body: string }) => c.body),
        ['Looks good'],
      );

      problem(t, await call('DELETE', `/api/courses/${courseId}`, { token: ada }), 409, 'course_published');
      const back = await call('POST', `/api/courses/${courseId}/return-to-draft`, { token: ada });
      t.like(back.body, { status: 'draft' });
      const gone = await call('GET', `/api/courses/${courseId}`, {
        token: learner,
        headers: consistent(back),
      });
      problem(t, gone, 404, 'course_not_found');
      const archived = await call('POST', `/api/courses/${courseId}/archive`, { token: admin });
      t.like(archived.body, { status: 'archived' });
      const removed = await call('DELETE', `/api/courses/${courseId}`, { token: ada });
      t.like(removed.body, { status: 'removed' });
      problem(
        t,
        await call('GET', `/api/courses/${courseId}`, { token: admin, headers: consistent(removed) }),
        404,
        'course_not_found',
      );
    },
  );

  type Part = {
    partNumber: number;
    size: number;
    method: string;
    url: string;
    headers: Record<string, string>;
  };
  /** Sends a part straight to the storage, as a browser would: never through the API. */
  const sendPart = (p: Part, file: Buffer, partSize: number) =>
    fetch(p.url, {
      method: p.method,
      headers: p.headers,
      body: file.subarray((p.partNumber - 1) * partSize, (p.partNumber - 1) * partSize + p.size),
    });
  const uploadPath = (courseId: string, assetId: string) =>
    `/api/courses/${courseId}/media-assets/${assetId}/upload`;
  const newAsset = async (t: ExecutionContext, as: string, courseId: string, kind: string) => {
    const r = await call('POST', `/api/courses/${courseId}/media-assets`, {
      token: as,
      body: { kind, title: kind },
    });
    t.is(r.status, 201, JSON.stringify(r.body));
    return r.body!.assetId as string;
  };
  const assets = mediaAssets(call);
  const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom', 'latin1')]);

  test.serial(
    `${name}: a 50 MB video goes up in parts with a resume; noise in an MP4 header fails at once; an image is ready at once`,
    async (t) => {
      const ada = await token(['author']);
      const { courseId } = await newCourse(t, ada, { title: 'Uploads' });
      const sectionId = (
        await call('POST', `/api/courses/${courseId}/sections`, { token: ada, body: { title: 'One' } })
      ).body!.sectionId as string;
      const videoId = await newAsset(t, ada, courseId, 'video');
      const imageId = await newAsset(t, ada, courseId, 'document');
      for (const [assetId, kind] of [
        [videoId, 'video'],
        [imageId, 'document'],
      ] as const) {
        const m = await call('POST', `/api/courses/${courseId}/sections/${sectionId}/materials`, {
          token: ada,
          body: { title: kind, kind, assetId },
        });
        t.is(m.status, 201, JSON.stringify(m.body));
      }

      // 1. The video: 50 MB in parts, half of them sent, then resumed from what the storage says it has.
      const video = Buffer.concat([MP4, randomBytes(50_000_000 - MP4.length)]);
      const began = performance.now();
      const presign = await call('POST', `${uploadPath(courseId, videoId)}/presign`, {
        token: ada,
        body: { contentType: 'video/mp4', size: video.length, fileName: 'lecture.mp4', multipart: true },
      });
      t.is(presign.status, 200, JSON.stringify(presign.body));
      documented(t, presign, schema.uploadStarted);
      const plan = presign.body!.upload as {
        uploadId: string;
        partSize: number;
        partCount: number;
        parts: Part[];
      };
      t.truthy(plan.uploadId);
      t.is(plan.partCount, Math.ceil(video.length / plan.partSize));
      t.is(plan.parts.length, plan.partCount);
      const firstHalf = plan.parts.slice(0, Math.floor(plan.partCount / 2));
      for (const p of firstHalf) t.is((await sendPart(p, video, plan.partSize)).status, 200);
      problem(t, await call('POST', uploadPath(courseId, videoId), { token: ada }), 409, 'upload_incomplete');
      const progress = await call('GET', uploadPath(courseId, videoId), { token: ada });
      t.is(progress.status, 200, JSON.stringify(progress.body));
      documented(t, progress, schema.uploadProgress);
      const left = progress.body!.upload as {
        present: { partNumber: number }[];
        missing: number[];
        parts: Part[];
      };
      t.deepEqual(
        left.present.map((p) => p.partNumber),
        firstHalf.map((p) => p.partNumber),
      );
      t.deepEqual(
        left.missing,
        plan.parts.slice(firstHalf.length).map((p) => p.partNumber),
      );
      for (const p of left.parts) t.is((await sendPart(p, video, plan.partSize)).status, 200);
      const done = await call('POST', uploadPath(courseId, videoId), { token: ada });
      t.is(done.status, 200, JSON.stringify(done.body));
      documented(t, done, schema.mediaAssetResult);
      t.like(done.body, { assetId: videoId, status: 'processing' });
      t.log(
        `${name}: 50 MB video, multipart with a resume, presign to finalize: ${Math.round(performance.now() - began)} ms`,
      );
      const l = await lectern();
      const types = (await l.store.readStream(schema.mediaAssetStreamId(videoId))).map((e) => e.type);
      const from = types.lastIndexOf('content.MediaAssetUploadStarted');
      t.deepEqual(types.slice(from, from + 3), [
        'content.MediaAssetUploadStarted',
        'content.MediaAssetUploaded',
        'content.MediaAssetTranscodeRequested',
      ]);
      // Its bytes are an MP4 header and noise: the transcoding worker fails it at once, with the reason, untried again.
      const failed = await assets.when(ada, courseId, videoId, (a) => a.status !== 'processing');
      t.like(failed, { status: 'failed', ladder: null, transcode: null });
      t.regex(failed.reason as string, /not a readable video|cannot read|unreadable|Invalid data/i);
      const jobs = (await l.store.readStream(schema.mediaAssetStreamId(videoId))).filter(
        (e) => e.type === 'content.MediaAssetTranscodeFailed',
      );
      t.like(
        jobs.map((e) => e.data),
        [{ permanent: true, attempts: 1 }],
      );

      // 2. The image: one PUT, ready at finalize.
      const image = Buffer.concat([PNG, randomBytes(5000)]);
      const single = await call('POST', `${uploadPath(courseId, imageId)}/presign`, {
        token: ada,
        body: { contentType: 'image/png', size: image.length },
      });
      t.is(single.status, 200, JSON.stringify(single.body));
      const put = (single.body!.upload as { parts: Part[]; uploadId: null }).parts;
      t.is(put.length, 1);
      t.is((await sendPart(put[0]!, image, image.length)).status, 200);
      const imageDone = await call('POST', uploadPath(courseId, imageId), { token: ada });
      t.like(imageDone.body, { assetId: imageId, status: 'ready' });

      // 3. Publishing waits for the video's transcoding, and says so; without it, the course goes out.
      t.is((await call('POST', `/api/courses/${courseId}/submit`, { token: ada })).status, 200);
      const blocked = await call('POST', `/api/courses/${courseId}/publish`, { token: ada });
      problem(t, blocked, 409, 'media_not_ready');
      t.deepEqual(blocked.body!.assets, [{ assetId: videoId, status: 'failed' }]);
      const back = await call('POST', `/api/courses/${courseId}/return-to-draft`, { token: ada });
      t.is(back.status, 200);
      const course = await call('GET', `/api/courses/${courseId}`, { token: ada, headers: consistent(back) });
      const videoMaterial = (
        course.body!.sections[0].materials as { materialId: string; assetId: string }[]
      ).find((m) => m.assetId === videoId)!;
      const removed = await call(
        'DELETE',
        `/api/courses/${courseId}/sections/${sectionId}/materials/${videoMaterial.materialId}`,
        { token: ada },
      );
      t.is(removed.status, 200, JSON.stringify(removed.body));
      t.is((await call('POST', `/api/courses/${courseId}/submit`, { token: ada })).status, 200);
      const published = await call('POST', `/api/courses/${courseId}/publish`, { token: ada });
      t.is(published.status, 200, JSON.stringify(published.body));
      t.like(published.body, { status: 'published' });
      problem(
        t,
        await call('POST', `${uploadPath(courseId, imageId)}/presign`, {
          token: ada,
          body: { contentType: 'image/png', size: 100 },
        }),
        409,
        'course_not_editable',
      );
    },
  );

  test.serial(
    `${name}: uploads: a wrong type, too large, nothing sent, bytes that lie, and a learner are refused`,
    async (t) => {
      const ada = await token(['author']);
      const { courseId } = await newCourse(t, ada, { title: 'Refusals' });
      const videoId = await newAsset(t, ada, courseId, 'video');
      const docId = await newAsset(t, ada, courseId, 'document');
      const presign = (assetId: string, body: Record<string, unknown>, as = ada) =>
        call('POST', `${uploadPath(courseId, assetId)}/presign`, { token: as, body });

      const wrong = await presign(videoId, { contentType: 'application/pdf', size: 100 });
      problem(t, wrong, 400, 'media_type_not_allowed');
      t.deepEqual(wrong.body!.allowed, ['video/mp4', 'video/webm', 'video/quicktime']);
      problem(
        t,
        await presign(docId, { contentType: 'image/gif', size: 100 }),
        400,
        'media_type_not_allowed',
      );
      problem(
        t,
        await presign(docId, { contentType: 'image/png', size: 20 * 1024 * 1024 + 1 }),
        413,
        'media_too_large',
      );
      problem(
        t,
        await presign(videoId, { contentType: 'video/mp4', size: 2 ** 31 + 1 }),
        413,
        'media_too_large',
      );
      problem(
        t,
        await presign(videoId, { contentType: 'video/mp4', size: 100 }, await token(['learner'])),
        403,
        'forbidden',
      );
      problem(
        t,
        await presign(videoId, { contentType: 'video/mp4', size: 100 }, await token(['author'])),
        403,
        'not_course_author',
      );
      problem(t, await call('POST', uploadPath(courseId, docId), { token: ada }), 409, 'media_not_uploaded');
      const unsent = await presign(docId, { contentType: 'application/pdf', size: 100 });
      t.is(unsent.status, 200);
      problem(t, await call('POST', uploadPath(courseId, docId), { token: ada }), 409, 'media_not_uploaded');

      // Declared (and sent as) a PDF, but the bytes are a PNG: the storage cannot tell; finalize can.
      const fake = Buffer.concat([PNG, randomBytes(200)]);
      const lie = await presign(docId, { contentType: 'application/pdf', size: fake.length });
      const [part] = (lie.body!.upload as { parts: Part[] }).parts;
      t.is((await sendPart(part!, fake, fake.length)).status, 200);
      const refused = await call('POST', uploadPath(courseId, docId), { token: ada });
      problem(t, refused, 400, 'media_type_mismatch');
      t.like(refused.body, { declared: 'application/pdf', found: 'image/png' });
      problem(t, await call('POST', uploadPath(courseId, docId), { token: ada }), 409, 'media_not_uploaded'); // the refused file was deleted
      const other = randomUUID();
      problem(
        t,
        await call('POST', uploadPath(courseId, other), { token: ada }),
        404,
        'media_asset_not_found',
      );
    },
  );

  test.serial(`${name}: the catalogue filters by status and author and pages by cursor`, async (t) => {
    const authorId = randomUUID();
    const ada = await token(['author'], authorId);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { courseId, reply } = await newCourse(t, ada, { title: `Paged ${i}` });
      ids.push(courseId);
      // Tokens are per stream (a course): each course is read back with its own.
      const read = await call('GET', `/api/courses/${courseId}`, { token: ada, headers: consistent(reply) });
      t.is(read.headers.get('x-consistency'), 'caught-up');
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Reply = await call(
        'GET',
        `/api/courses?author=${authorId}&status=draft&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: ada },
      );
      t.is(page.status, 200);
      seen.push(...page.body!.items.map((i: { courseId: string }) => i.courseId));
      cursor = page.body!.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    t.deepEqual(seen, [...ids].reverse());
    t.is(pages, 3);
    problem(t, await call('GET', '/api/courses?cursor=bm9wZQ'), 400, 'invalid_cursor');
    problem(t, await call('GET', '/api/courses?limit=0'), 400, 'invalid_limit');
    problem(t, await call('GET', '/api/courses?tags=Not%20A%20Tag'), 400, 'validation_failed');
    problem(t, await call('GET', '/api/courses?status=gone'), 400, 'validation_failed');
    problem(t, await call('GET', '/api/courses/not-a-uuid'), 400, 'validation_failed');
  });
};
