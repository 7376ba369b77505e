import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import express, { type Router } from 'express';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import * as schema from '@lectern/schemas/content/index';
import { mediaAssetDecider, transcodeLedger, type MediaAssetCommand } from '@lectern/content-commands';
import { openFolderStore } from '@lectern/infra/blobs/folder-store';
import { openMinioStore } from '@lectern/infra/blobs/minio-store';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import { BlobError, type BlobStore } from '@lectern/infra/ports/blob-store';
import { toLogMessage } from '@lectern/infra/runtime/codec';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { REDRIVE_FOR, REDRIVEN_FROM } from '@lectern/infra/runtime/dead-letter-admin';
import { systemClock } from '@lectern/infra/runtime/ids';
import { createLogger } from '@lectern/infra/runtime/logger';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { startReactor, workOf } from '@lectern/infra/runtime/reactor';
import { startRelay } from '@lectern/infra/runtime/relay';
import { pgliteSql } from '@lectern/infra/sql/pglite';
import { requireEngine } from '@lectern/infra/testing/engines';
import { tcpCut, type TcpCut } from '@lectern/infra/testing/tcp-cut';
import { waitUntil } from '@lectern/infra/testing/wait';
import {
  jobIdOf,
  observeTranscodes,
  TRANSCODING_RETRIES,
  transcodingReaction,
} from '@lectern/transcoding-worker';
import { makeAudioOnly, makeClip } from '@lectern/transcoding-worker/media/testing';

/*
 * The transcoding worker's faults (issue 11), as the content module runs it
 * (its reaction, its ledger, its retry policy, its metrics), on PGlite and
 * the SQL log, against a blob store the worker reaches through a TCP proxy
 * of this test's own: cutting the proxy makes the storage unreachable for
 * real (ECONNREFUSED, connections reset), restoring it brings it back. The
 * folder store runs everywhere; MinIO where S3_ENDPOINT names one. The
 * store's own calls (stat, delete) go to the storage directly: only the
 * data path the worker uses (presigned GETs and PUTs) is cut.
 *
 * The reactor's pauses are injected (recorded, not waited out), and its
 * jitter is zero, so the backoff is read exactly: no test waits a duration.
 */

type Storage = Readonly<{ blobs: BlobStore; proxy: TcpCut; close(): Promise<void> }>;

/** The folder store, its router served on a port of its own, its URLs pointing through the proxy. */
const folderStorage = async (): Promise<Storage> => {
  const root = await mkdtemp(join(tmpdir(), 'lectern-faults-blobs-'));
  const mounted: { router?: Router } = {};
  const app = express();
  app.use('/blobs', (req, res, next) => (mounted.router ? mounted.router(req, res, next) : next()));
  const server = http.createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxy = await tcpCut({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  const opened = await openFolderStore({ root, signingKey: randomBytes(32), baseUrl: `${proxy.url}/blobs` });
  mounted.router = opened.router;
  return {
    blobs: opened.store,
    proxy,
    async close() {
      await proxy.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
    },
  };
};

const s3Endpoint = requireEngine(test, 'S3_ENDPOINT', 'MinIO');

/** MinIO, its presigned URLs signed for the proxy's address. */
const minioStorage = async (): Promise<Storage> => {
  const endpoint = new URL(s3Endpoint!);
  const proxy = await tcpCut({ host: endpoint.hostname, port: Number(endpoint.port || 80) });
  const blobs = await openMinioStore({
    endpoint: s3Endpoint!,
    publicEndpoint: proxy.url,
    accessKey: process.env.S3_ACCESS_KEY ?? '',
    secretKey: (await readFile(process.env.S3_SECRET_KEY_FILE ?? '', 'utf8')).trim(),
    bucket: 'lectern-e2e',
  });
  return {
    blobs,
    proxy,
    async close() {
      await proxy.close();
      await blobs.close();
    },
  };
};

const storages: ReadonlyArray<readonly [string, () => Promise<Storage>]> = [
  ['folder', folderStorage],
  ...(s3Endpoint ? [['minio', minioStorage] as const] : []),
];

/** One Prometheus sample's value from the exposition text, or 0 when the series is absent. */
const sample = (text: string, name: string, labels = ''): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
};

/**
 * The worker, wired as `contentModule` wires it, on a fresh PGlite, with
 * the relay feeding the log: each test has a rig of its own.
 */
const rig = async (t: ExecutionContext, open: () => Promise<Storage>) => {
  const storage = await open();
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  const log = await sqlLog(sql);
  const namespace = `faults${randomUUID().slice(0, 8)}`;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l) => void lines.push(l) } });
  const metrics = createMetrics();
  const workDir = await mkdtemp(join(tmpdir(), 'lectern-faults-work-'));
  const pauses: number[] = [];
  const hooks: { onPause?: (n: number) => Promise<void>; onReadBack?: () => Promise<void> } = {};
  /** What the worker stored, by key: the store is the real one, only watched. */
  const stored: string[] = [];
  const watched: BlobStore = {
    ...storage.blobs,
    presignUpload: async (r) => {
      stored.push(r.key);
      return storage.blobs.presignUpload(r);
    },
    presignDownload: async (key, o) => {
      // The read-back of a ladder: every file of the try is stored by now.
      if (key.includes('/hls/') && hooks.onReadBack) {
        const hook = hooks.onReadBack;
        delete hooks.onReadBack;
        await hook();
      }
      return storage.blobs.presignDownload(key, o);
    },
  };
  const relay = await startRelay({ store, log, sql, logger, namespace });
  const reactor = await startReactor({
    reaction: transcodingReaction({
      blobs: watched,
      ledger: transcodeLedger({ store, clock: systemClock }),
      logger: logger.child({ worker: 'transcoding' }),
      workDir,
      observe: observeTranscodes(metrics),
    }),
    ...TRANSCODING_RETRIES,
    sql,
    log,
    logger,
    metrics,
    namespace,
    random: () => 0,
    sleep: async (ms) => {
      pauses.push(ms);
      await hooks.onPause?.(pauses.length);
    },
  });
  await reactor.start();
  t.teardown(async () => {
    await reactor.stop();
    await relay.stop();
    await log.close();
    await sql.close();
    await storage.close();
    await rm(workDir, { recursive: true, force: true });
  });

  const courseId = randomUUID();
  const authorId = randomUUID();
  const course = { authorId, status: 'draft' as const };
  const author = { userId: authorId, roles: ['author'] };
  const command = async (assetId: string, cmd: MediaAssetCommand, correlationId: string = randomUUID()) =>
    handleCommand({
      store,
      streamId: schema.mediaAssetStreamId(assetId),
      decider: mediaAssetDecider,
      catalogue: schema.contentEvents,
      command: cmd,
      commandId: randomUUID(),
      occurredAt: new Date().toISOString(),
      metadata: { correlationId, causationId: null, actor: null, requestId: null, traceparent: null },
    });
  const eventsOf = async (assetId: string) => store.readStream(schema.mediaAssetStreamId(assetId));
  const requests = async (assetId: string) =>
    (await eventsOf(assetId)).filter((e) => e.type === 'content.MediaAssetTranscodeRequested');

  return {
    storage,
    sql,
    /** Hands `request` back to the worker as `lectern dlq redrive` does, from the letter `letter`. */
    redrive: (request: RecordedEvent, letter: string) => {
      const message = toLogMessage(request);
      return log.produce(topicOf('content', namespace), [
        {
          ...message,
          headers: { ...message.headers, [REDRIVE_FOR]: 'worker.transcoding', [REDRIVEN_FROM]: letter },
        },
      ]);
    },
    lines,
    metrics,
    pauses,
    /** Why each retry was made, from the log: what an unexpected pause is explained by. */
    retried: () =>
      lines
        .map((l) => JSON.parse(l) as { msg?: string; attempt?: number; err?: { message?: string } })
        .filter((l) => l.msg === 'reaction failed; retrying')
        .map((l) => `try ${l.attempt}: ${l.err?.message}`)
        .join('; '),
    hooks,
    stored,
    eventsOf,
    requests,
    command,
    /** The worker's own folder holds nothing: every job's folder is gone. */
    workLeft: () => readdir(workDir),
    /**
     * A video asset with `bytes` stored under its key (the storage up),
     * then finished by the author's `correlationId`: the worker is asked to transcode it.
     */
    async upload(bytes: Buffer, correlationId: string) {
      const assetId = randomUUID();
      const at = new Date().toISOString();
      await command(assetId, {
        type: 'RegisterMediaAsset',
        assetId,
        courseId,
        kind: 'video',
        title: 'Lecture',
        course,
        actor: author,
        at,
      });
      const key = `content/${courseId}/${assetId}/source`;
      const put = await storage.blobs.presignUpload({
        key,
        contentType: 'video/mp4',
        size: bytes.length,
        maxSize: bytes.length,
      });
      const sent = await fetch(put.url, { method: 'PUT', headers: put.headers, body: bytes });
      if (!sent.ok) throw new Error(`PUT ${sent.status}`);
      const file = { contentType: 'video/mp4', size: bytes.length, uploadId: null, fileName: null };
      await command(assetId, { type: 'StartUpload', key, ...file, course, actor: author, at });
      return {
        assetId,
        finish: () =>
          command(
            assetId,
            {
              type: 'FinishUpload',
              stored: { size: bytes.length, sniffed: 'video/mp4' },
              course,
              actor: author,
              at: new Date().toISOString(),
            },
            correlationId,
          ),
      };
    },
    /** The reactor's row of `request` once it is settled (bounded). */
    async settled(request: RecordedEvent) {
      const seen: { row: Awaited<ReturnType<typeof workOf>> } = { row: null };
      await waitUntil(
        'the job to settle',
        async () => {
          seen.row = await workOf(sql, 'transcoding', request.id);
          return seen.row !== null && seen.row.state !== 'claimed';
        },
        5 * 60_000,
        50,
      );
      return seen.row!;
    },
    /** The asset as the content context folds it. */
    asset: (assetId: string) => transcodeLedger({ store, clock: systemClock }).asset(assetId),
    /** The exposition text, as `/metrics` serves it. */
    exposition: () => metrics.registry.metrics(),
  };
};

/** The log lines (JSON) whose message is `msg`. */
const logged = (lines: readonly string[], msg: string) =>
  lines.map((l) => JSON.parse(l) as Record<string, any>).filter((l) => l.msg === msg);

/** A small video of ffmpeg's test pattern with a tone: its ladder is one 360p rung, a cheap encode. */
const smallVideo = async (): Promise<Buffer> => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-faults-clip-'));
  try {
    await makeClip(join(dir, 'clip.mp4'), { seconds: 2, width: 640, height: 360, audio: true, rate: 10 });
    return await readFile(join(dir, 'clip.mp4'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const notStored = async (blobs: BlobStore, key: string): Promise<boolean> =>
  blobs.stat(key).then(
    () => false,
    (e: unknown) => e instanceof BlobError && e.code === 'blob_not_found',
  );

for (const [name, open] of storages) {
  test(`${name}: the storage unreachable on every try: three retries, 1 s, 2 s, 4 s, then failed with the reason`, async (t) => {
    const r = await rig(t, open);
    const correlationId = randomUUID();
    const { assetId, finish } = await r.upload(await smallVideo(), correlationId);
    await r.storage.proxy.cut();
    await finish();
    const [request] = await r.requests(assetId);
    const work = await r.settled(request!);

    // Exactly three retries, each pause twice the one before (no jitter here), then the dead letter.
    t.deepEqual(r.pauses, [1000, 2000, 4000], r.retried());
    t.like(work, { state: 'dead', attempts: 4 });
    const asset = await r.asset(assetId);
    t.is(asset.status, 'failed');
    const failed = (await r.eventsOf(assetId)).filter((e) => e.type === 'content.MediaAssetFailed');
    const jobFailed = (await r.eventsOf(assetId)).find((e) => e.type === 'content.MediaAssetTranscodeFailed');
    t.is(failed.length, 1);
    const reason = (failed[0]!.data as schema.MediaAssetFailed).reason;
    t.regex(
      reason,
      /^the storage is unreachable reading content\/.+: (ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/,
    );
    t.notRegex(reason, /signature|http/, 'the reason names no presigned URL');
    t.like(jobFailed?.data, { jobId: jobIdOf(request!.id), attempts: 4, permanent: false });
    t.deepEqual(await r.workLeft(), [], 'no job folder is left behind');

    // Metrics: four tries, three retries, one failed job with its duration, no speed (nothing was encoded).
    const text = await r.exposition();
    t.is(sample(text, 'lectern_reactor_attempts_total', 'reactor="transcoding"'), 4);
    t.is(sample(text, 'lectern_consumer_retries_total', 'consumer="transcoding"'), 3);
    t.is(sample(text, 'lectern_transcode_duration_seconds_count', 'outcome="failed"'), 1);
    t.is(sample(text, 'lectern_transcode_duration_seconds_count', 'outcome="transcoded"'), 0);
    t.is(sample(text, 'lectern_transcode_speed_factor_count'), 0);

    // Logs: each retry and the failure name the causing event and its correlation id.
    const retries = logged(r.lines, 'reaction failed; retrying');
    t.deepEqual(
      retries.map((l) => [l.attempt, l.pauseMs]),
      [
        [1, 1000],
        [2, 2000],
        [3, 4000],
      ],
    );
    t.true(retries.every((l) => l.eventId === request!.id && l.correlationId === correlationId));
    const [gaveUp] = logged(r.lines, 'transcode failed');
    t.like(gaveUp, {
      causeEventId: request!.id,
      correlationId,
      assetId,
      jobId: jobIdOf(request!.id),
      attempt: 4,
      permanent: false,
    });
    t.true(typeof gaveUp?.seconds === 'number' && gaveUp.seconds >= 0);
  });

  // Beside stress-ng the first try of a job sometimes failed and was retried after 1 s: the
  // test's upload had left a kept-alive connection that the storage closed as the worker reused it.
  test(`${name}: a connection the storage resets as the worker reads the source is opened again at once, no retry spent`, async (t) => {
    const r = await rig(t, open);
    const { assetId, finish } = await r.upload(await smallVideo(), randomUUID());
    r.storage.proxy.resetNextRequest();
    await finish();
    const [request] = await r.requests(assetId);
    const work = await r.settled(request!);

    t.is(r.storage.proxy.resets(), 1, 'the source download met the reset');
    t.deepEqual(r.pauses, [], `no retry: ${r.retried()}`);
    t.like(work, { state: 'done', attempts: 1, outcome: 'transcoded' });
    t.is((await r.asset(assetId)).status, 'ready');
  });

  test(`${name}: one outage, then the storage is back: the retry makes the ladder`, async (t) => {
    const r = await rig(t, open);
    const correlationId = randomUUID();
    const { assetId, finish } = await r.upload(await smallVideo(), correlationId);
    await r.storage.proxy.cut();
    // The outage ends while the worker waits to try again.
    r.hooks.onPause = () => r.storage.proxy.restore();
    await finish();
    const [request] = await r.requests(assetId);
    const work = await r.settled(request!);

    t.deepEqual(r.pauses, [1000], `one retry: ${r.retried()}`);
    t.like(work, { state: 'done', attempts: 2, outcome: 'transcoded' });
    const asset = await r.asset(assetId);
    t.is(asset.status, 'ready');
    t.is(asset.ladder?.jobId, jobIdOf(request!.id));
    t.deepEqual(
      asset.ladder?.renditions.map((x) => x.height),
      [360],
    );
    t.false((await r.eventsOf(assetId)).some((e) => e.type === 'content.MediaAssetTranscodeFailed'));
    t.false(await notStored(r.storage.blobs, asset.ladder!.master), 'the master playlist is stored');
    t.deepEqual(await r.workLeft(), [], 'the failed try and the good one both removed their folders');

    // Metrics: two tries, one retry, one job done with its duration and its speed (ffmpeg's convention).
    const text = await r.exposition();
    t.is(sample(text, 'lectern_reactor_attempts_total', 'reactor="transcoding"'), 2);
    t.is(sample(text, 'lectern_consumer_retries_total', 'consumer="transcoding"'), 1);
    t.is(sample(text, 'lectern_transcode_duration_seconds_count', 'outcome="transcoded"'), 1);
    t.is(sample(text, 'lectern_transcode_speed_factor_count'), 1);
    const [done] = logged(r.lines, 'transcoded');
    t.like(done, { causeEventId: request!.id, correlationId, jobId: jobIdOf(request!.id), attempt: 2 });
    t.true(done!.speedFactor > 0 && done!.seconds > 0);
    // The histogram holds what the log says: the one observation is the job's speed factor.
    t.is(sample(text, 'lectern_transcode_speed_factor_sum'), done!.speedFactor);
    t.is(sample(text, 'lectern_transcode_duration_seconds_sum', 'outcome="transcoded"'), done!.seconds);
  });

  test(`${name}: a re-transcode cut off after storing its files removes them, and the good ladder plays on`, async (t) => {
    const r = await rig(t, open);
    const { assetId, finish } = await r.upload(await smallVideo(), randomUUID());
    await finish();
    const [first] = await r.requests(assetId);
    t.like(await r.settled(first!), { state: 'done', outcome: 'transcoded' });
    const good = await r.asset(assetId);
    t.is(good.status, 'ready');
    const goodFiles = [...r.stored];
    t.true(goodFiles.length >= 3, 'a master, a media playlist, segments');
    const etags = await Promise.all(goodFiles.map(async (k) => (await r.storage.blobs.stat(k)).etag));
    r.stored.length = 0;

    // An admin asks for the ladder again; the storage goes away once the new files are stored.
    r.hooks.onReadBack = () => r.storage.proxy.cut();
    await r.command(assetId, {
      type: 'RequestTranscode',
      actor: { userId: randomUUID(), roles: ['admin'] },
      at: new Date().toISOString(),
      renditions: null,
    });
    const second = (await r.requests(assetId)).at(-1)!;
    t.not(second.id, first!.id);
    const work = await r.settled(second);

    t.deepEqual(r.pauses, [1000, 2000, 4000], r.retried());
    t.like(work, { state: 'dead', attempts: 4 });
    const jobFailed = (await r.eventsOf(assetId)).find((e) => e.type === 'content.MediaAssetTranscodeFailed');
    t.like(jobFailed?.data, { jobId: jobIdOf(second.id), attempts: 4, permanent: false });
    t.regex(
      (jobFailed!.data as schema.MediaAssetTranscodeFailed).reason,
      /^the storage is unreachable reading content\/.+: (ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/,
    );

    // The new job's files, stored under its own prefix before the cut, are gone.
    const partial = r.stored.filter((k) => k.includes(`/hls/${jobIdOf(second.id)}/`));
    t.true(partial.length >= 3, `the first try stored its ladder: ${JSON.stringify(r.stored)}`);
    for (const key of partial) t.true(await notStored(r.storage.blobs, key), `${key} is removed`);
    // The ladder that was good is untouched: still the asset's, every file as it was.
    const after = await r.asset(assetId);
    t.is(after.status, 'ready');
    t.deepEqual(after.ladder, good.ladder);
    t.false((await r.eventsOf(assetId)).some((e) => e.type === 'content.MediaAssetFailed'));
    t.deepEqual(await Promise.all(goodFiles.map(async (k) => (await r.storage.blobs.stat(k)).etag)), etags);
    t.deepEqual(await r.workLeft(), []);
  });

  test(`${name}: a ready video's failed re-transcode, redriven while the storage is still away, fails again on record`, async (t) => {
    const r = await rig(t, open);
    const { assetId, finish } = await r.upload(await smallVideo(), randomUUID());
    await finish();
    const [first] = await r.requests(assetId);
    t.like(await r.settled(first!), { state: 'done', outcome: 'transcoded' });
    const good = await r.asset(assetId);
    await r.storage.proxy.cut();
    await r.command(assetId, {
      type: 'RequestTranscode',
      actor: { userId: randomUUID(), roles: ['admin'] },
      at: new Date().toISOString(),
      renditions: null,
    });
    const second = (await r.requests(assetId)).at(-1)!;
    t.like(await r.settled(second), { state: 'dead', attempts: 4 });

    // The letter comes back with the storage still away: the job is tried afresh and fails again.
    r.pauses.length = 0;
    await r.redrive(second, `faults.dlq.worker.transcoding@0`);
    await waitUntil(
      'the redriven job to fail on record',
      async () =>
        (await r.eventsOf(assetId)).filter((e) => e.type === 'content.MediaAssetTranscodeFailed').length ===
        2,
      5 * 60_000,
      50,
    );
    const work = await r.settled(second);
    t.like(work, { state: 'dead', attempts: 4 });
    t.regex(
      work.lastError ?? '',
      /the storage is unreachable/,
      'dead for its own reason, not a refused record',
    );
    t.deepEqual(r.pauses, [1000, 2000, 4000], `the redrive had its own three retries: ${r.retried()}`);
    const failures = (await r.eventsOf(assetId))
      .filter((e) => e.type === 'content.MediaAssetTranscodeFailed')
      .map((e) => e.data as schema.MediaAssetTranscodeFailed);
    t.deepEqual(
      failures.map((f) => [f.jobId, f.attempts, f.permanent]),
      [
        [jobIdOf(second.id), 4, false],
        [jobIdOf(second.id), 4, false],
      ],
    );
    t.false(
      r.lines.some((l) => l.includes('event_id_conflict')),
      'no record of the job was refused',
    );
    const after = await r.asset(assetId);
    t.is(after.status, 'ready');
    t.deepEqual(after.ladder, good.ladder);
    t.deepEqual(await r.workLeft(), []);
  });

  test(`${name}: a source that is no video fails at once, with nothing left behind`, async (t) => {
    const r = await rig(t, open);
    const dir = await mkdtemp(join(tmpdir(), 'lectern-faults-wav-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await makeAudioOnly(join(dir, 'tone.wav'));
    const { assetId, finish } = await r.upload(await readFile(join(dir, 'tone.wav')), randomUUID());
    await finish();
    const [request] = await r.requests(assetId);
    const work = await r.settled(request!);

    t.deepEqual(r.pauses, [], `no retry: ${r.retried()}`);
    t.like(work, { state: 'done', attempts: 1, outcome: 'failed' });
    t.is((await r.asset(assetId)).status, 'failed');
    const jobFailed = (await r.eventsOf(assetId)).find((e) => e.type === 'content.MediaAssetTranscodeFailed');
    t.like(jobFailed?.data, { attempts: 1, permanent: true });
    t.regex((jobFailed!.data as schema.MediaAssetTranscodeFailed).reason, /no video stream/);
    t.deepEqual(r.stored, [], 'nothing was stored');
    t.deepEqual(await r.workLeft(), [], 'its job folder is removed');
    t.is(sample(await r.exposition(), 'lectern_transcode_duration_seconds_count', 'outcome="failed"'), 1);
  });
}
