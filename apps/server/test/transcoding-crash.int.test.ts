import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as schema from '@lectern/schemas/content/index';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { openMinioStore } from '@lectern/infra/blobs/minio-store';
import { workOf } from '@lectern/infra/runtime/reactor';
import { postgresSql } from '@lectern/infra/sql/index';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { jobIdOf } from '@lectern/transcoding-worker';
import { makeClip } from '@lectern/transcoding-worker/media/testing';
import { readLadder } from '@lectern/transcoding-worker/media/verify';
import { startServerProcess, type ServerProcess } from '../src/process.ts';
import { jsonClient } from './http-client.ts';
import { fetchLadder, mediaAssets, rungsOf } from './media-assets.ts';
import { PATIENT_READS } from './patient-reads.ts';

/*
 * The transcoding worker killed with SIGKILL mid-encode (issue 11: "a
 * worker killed mid-job loses its lease and another takes the job over"),
 * on PostgreSQL + Kafka + MinIO, as separate processes: an
 * `api,relay,projections` process takes the upload, a `workers` process
 * transcodes it and is killed while its ffmpeg encodes. The ffmpeg it
 * spawned must die with it (it would otherwise encode on, for nobody).
 * A second `workers` process, sharing the temp folder where the dead one's
 * job folder is left, takes the job over once the Kafka session and the
 * claim's lease have run out, and the asset ends with one verified ladder.
 */

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka');
const s3Endpoint = requireEngine(test, 'S3_ENDPOINT', 'MinIO');

const SECONDS = 20;
const BUCKET = 'lectern-e2e';
const JOB_FOLDER = 'lectern-transcode-';

/** A process as /proc shows it (the engines and workers run on Linux). */
type Proc = Readonly<{ pid: number; ppid: number; name: string; state: string }>;

const processOf = async (pid: number): Promise<Proc | null> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // "pid (name) state ppid …": the name may hold spaces and parentheses, so it is cut at the last ')'.
  const [state = '?', ppid = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(ppid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), state };
};

const childrenOf = async (parent: number): Promise<Proc[]> => {
  const pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p)).map(Number);
  const all = await Promise.all(pids.map(processOf));
  return all.filter((p): p is Proc => p !== null && p.ppid === parent);
};

/** Running, or able to run: a zombie has ended and only waits to be reaped. */
const alive = async (pid: number): Promise<boolean> => {
  const p = await processOf(pid);
  return p !== null && p.state !== 'Z' && p.state !== 'X';
};

/** The ones of `procs` still running once they have all ended, or `ms` has passed (bounded, not a pause). */
const stillRunning = async (procs: readonly Proc[], ms: number): Promise<Proc[]> => {
  for (const deadline = Date.now() + ms; ;) {
    const running = (await Promise.all(procs.map(async (p) => ((await alive(p.pid)) ? [p] : [])))).flat();
    if (running.length === 0 || Date.now() > deadline) return running;
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** The first non-null value of `probe`, within `ms`. */
const until = async <T>(what: string, ms: number, probe: () => Promise<T | null>): Promise<T> => {
  for (const deadline = Date.now() + ms; ;) {
    const found = await probe();
    if (found !== null) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

if (databaseUrl && brokers && s3Endpoint)
  test('a transcoding worker killed mid-encode: its ffmpeg dies with it, and a new worker makes the ladder', async (t) => {
    const began = performance.now();
    const elapsed = () => `${((performance.now() - began) / 1000).toFixed(1)} s`;
    const db = await freshDatabase(databaseUrl);
    const sql = postgresSql(db.url);
    const dirs: string[] = [];
    const processes: ServerProcess[] = [];
    const scratch = async (prefix: string) => {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    };
    // Both workers' temp folder, as two workers of one host share /tmp: the dead one's job folder stays there.
    const jobs = await scratch('lectern-crash-tmp-');
    const s3 = {
      S3_ENDPOINT: s3Endpoint,
      S3_ACCESS_KEY: process.env.S3_ACCESS_KEY ?? '',
      S3_SECRET_KEY_FILE: process.env.S3_SECRET_KEY_FILE ?? '',
      S3_BUCKET: BUCKET,
    };
    const keys = randomBytes(32).toString('base64url');
    const start = async (roles: string) => {
      const p = await startServerProcess({
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers,
        LECTERN_NAMESPACE: `crash-${db.name}`,
        LECTERN_DATA_DIR: await scratch('lectern-crash-data-'),
        LECTERN_ROLES: roles,
        LECTERN_MESSAGE_KEYS: keys,
        ...s3,
        ...PATIENT_READS,
        TMPDIR: jobs,
        // A kill -9 leaves the group's member registered until its session times out (6 s at least),
        // and the job's claim until its lease runs out (the encode's progress keeps it alive till then).
        LECTERN_KAFKA_SESSION_TIMEOUT_MS: '6000',
        LECTERN_WORKER_LEASE_MS: '10000',
      });
      processes.push(p);
      return p;
    };
    let orphans: Proc[] = [];
    const jobFolders = async () => (await readdir(jobs)).filter((f) => f.startsWith(JOB_FOLDER)).sort();
    try {
      const api = await start('api,relay,projections');
      const first = await start('workers');
      const call = jsonClient(() => api.url);
      const assets = mediaAssets(call);
      const store = await sqlEventStore(sql);
      const eventsOf = async (assetId: string) =>
        (await store.readStream(schema.mediaAssetStreamId(assetId))).map((e) => ({
          id: e.id,
          type: e.type,
          data: e.data as Record<string, any>,
        }));
      const author = (
        await call('POST', '/api/dev/token', { body: { sub: randomUUID(), roles: ['author'] } })
      ).body!.token as string;
      const course = await call('POST', '/api/courses', { token: author, body: { title: 'Crash course' } });
      t.is(course.status, 201, JSON.stringify(course.body));
      const courseId = course.body!.courseId as string;

      // 1. A 1080p video long enough to be mid-encode when its first progress is seen.
      const clipDir = await scratch('lectern-clip-');
      await makeClip(join(clipDir, 'clip.mp4'), {
        seconds: SECONDS,
        width: 1920,
        height: 1080,
        audio: true,
        rate: 15,
      });
      const { assetId, status } = await assets.uploadVideo(
        author,
        courseId,
        await readFile(join(clipDir, 'clip.mp4')),
      );
      t.is(status, 'processing');
      const encoding = await assets.when(
        author,
        courseId,
        assetId,
        (a) => a.transcode !== null || a.status !== 'processing',
      );
      t.like(encoding, { status: 'processing' }, 'the first worker is encoding, not done');
      const request = (await eventsOf(assetId)).find(
        (e) => e.type === 'content.MediaAssetTranscodeRequested',
      )!;
      const jobId = jobIdOf(request.id);
      t.is(encoding.transcode.jobId, jobId);
      const claimed = await workOf(sql, 'transcoding', request.id);
      t.like(claimed, { state: 'claimed', attempts: 1 }, 'the first worker holds the job');
      t.truthy(claimed?.owner);

      // 2. The worker's children while it encodes: its ffmpeg is one of them.
      const children = await childrenOf(first.child.pid!);
      const ffmpeg = children.filter((c) => c.name === 'ffmpeg');
      t.is(ffmpeg.length, 1, `one ffmpeg encodes: ${JSON.stringify(children)}`);
      const leftovers = await jobFolders();
      t.is(leftovers.length, 1, 'the first worker has its job folder');

      // 3. Killed mid-encode: nothing it started may survive it.
      first.child.kill('SIGKILL');
      await first.exited;
      const killedAt = performance.now();
      t.log(
        `killed the first worker at ${elapsed()}: children ${children.map((c) => `${c.name} ${c.pid}`).join(', ')}`,
      );
      const survivors = await stillRunning(children, 60_000);
      orphans = survivors;
      t.log(`its children ended ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
      t.deepEqual(survivors, [], 'no ffmpeg (or anything else) the dead worker started runs on');
      // Gone, and cut short rather than gone because it had finished: ffmpeg writes the master
      // playlist of a VOD ladder only at its end, into the job folder the dead worker left.
      const cut = join(jobs, leftovers[0]!, 'out');
      t.deepEqual(
        (await readdir(cut)).filter((f) => f.endsWith('.m3u8')),
        [],
        'the ffmpeg of the dead worker did not encode on to the end',
      );
      t.deepEqual(await jobFolders(), leftovers, 'the dead worker left its job folder');

      // 4. A new worker beside the dead one's leftovers takes the job over.
      await start('workers');
      const ready = await assets.when(author, courseId, assetId, (a) => a.status !== 'processing');
      t.log(
        `ready ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill (${elapsed()} in all)`,
      );
      t.like(ready, { status: 'ready', reason: null, transcode: null });
      t.deepEqual(rungsOf(ready), [
        ['720p', 1280, 720],
        ['1080p', 1920, 1080],
      ]);
      t.is(ready.ladder.jobId, jobId, 'the same job, taken over');

      // 5. The asset's stream: one ladder, no failure; the work row: a second try, by a new owner.
      const events = await eventsOf(assetId);
      const count = (type: string) => events.filter((e) => e.type === type).length;
      t.is(count('content.MediaAssetTranscoded'), 1);
      t.is(count('content.MediaAssetReady'), 1);
      t.is(count('content.MediaAssetTranscodeFailed'), 0, 'a takeover is not a failure');
      t.is(count('content.MediaAssetFailed'), 0);
      const work = await until('the job settled', 60_000, async () => {
        const w = await workOf(sql, 'transcoding', request.id);
        return w && w.state !== 'claimed' ? w : null;
      });
      t.like(work, { state: 'done', attempts: 2, outcome: 'transcoded', ref: jobId, lastError: null });
      t.not(work.owner, claimed!.owner, 'another worker did it');

      // 6. The ladder read back from the storage with ffprobe.
      const transcoded = events.find((e) => e.type === 'content.MediaAssetTranscoded')!
        .data as schema.MediaAssetTranscoded;
      const secret = (await readFile(s3.S3_SECRET_KEY_FILE, 'utf8')).trim();
      const blobs = await openMinioStore({
        endpoint: s3Endpoint,
        accessKey: s3.S3_ACCESS_KEY,
        secretKey: secret,
        bucket: BUCKET,
      });
      const ladderDir = await scratch('lectern-ladder-');
      const read = await readLadder(await fetchLadder(blobs, transcoded, ladderDir));
      t.deepEqual(
        read.map((v) => [v.width, v.height]).sort((a, b) => a[1]! - b[1]!),
        [
          [1280, 720],
          [1920, 1080],
        ],
      );
      for (const v of read)
        t.true(Math.abs(v.durationSeconds - SECONDS) < 0.5, `${v.height}p lasts ${v.durationSeconds} s`);

      // 7. The new worker removed its own job folder; the dead one's is all that is left.
      t.deepEqual(await jobFolders(), leftovers);
    } finally {
      // What this test's worker started and left running (a failed run) is ended here, by pid.
      for (const o of orphans) if (await alive(o.pid)) process.kill(o.pid, 'SIGKILL');
      for (const p of processes) await p.stop();
      await sql.close();
      await db.drop();
      for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
