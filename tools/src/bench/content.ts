import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Minio from 'minio';
import {
  CATALOGUE,
  courseCatalogueProjection,
  decodeCursor,
  listCourses,
  type CatalogueFilter,
  type Viewer,
} from '@lectern/content-projection-catalogue';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { projectionRunner } from '@lectern/infra/runtime/projection-runner';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import { startServerProcess } from '@lectern/server/process';
import { courseStreamId } from '@lectern/schemas/content/index';
import { generatedCatalogue, misspelt, random, withoutAccents, type Catalogue } from './content-data.ts';
import { quietLogger, withDatabase, type Engines } from './engines.ts';
import { openSqlLog } from './logs.ts';
import { cpuMsOf } from './proc-cpu.ts';
import { perSecond, progress, round, summarize } from './stats.ts';

export type ContentPlan = Readonly<{
  postgresCourses: number;
  pgliteCourses: number;
  /** Timed runs of each query kind (after `warmup` untimed ones). */
  runs: number;
  warmup: number;
  uploadBytes: number;
}>;

/** Fills the store, one append per course (its whole history), `concurrency` at a time. */
const fill = async (store: EventStore, catalogue: Catalogue, courses: number, concurrency: number) => {
  const started = performance.now();
  let next = 0;
  let events = 0;
  let materials = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < courses) {
        const c = catalogue.course(next++);
        await store.append(courseStreamId(c.courseId), c.events, { expectedRevision: 'no_stream' });
        events += c.events.length;
        materials += c.materials;
        if (next % 20_000 === 0) progress(`content: ${next} courses appended`);
      }
    }),
  );
  return { courses, materials, events, seconds: round((performance.now() - started) / 1000, 1) };
};

type Query = Readonly<{ kind: string; viewer: Viewer; filter: CatalogueFilter }>;

const anonymous: Viewer = { userId: null, admin: false };
const admin: Viewer = { userId: 'bench-admin', admin: true };
const PAGE = 20;

/**
 * What learners and authors ask the catalogue, by kind. Searches: a word most
 * courses hold (among the 10 most frequent), one of middling frequency (rank
 * 100–1000), a rare one (rank 2000+), two words, a prefix as typed so far, a
 * misspelt word (the trigram path where pg_trgm exists) and an accented word
 * typed without its accents. Lists: newest first, by a frequent tag, by a
 * rare tag, by author, an admin's drafts, and the second page of a list.
 */
const queriesOf = (catalogue: Catalogue, courses: number, seed: number): (() => Query)[] => {
  const rand = random(seed);
  const v = catalogue.vocabulary;
  const pick = (from: number, to: number) => v[from + Math.floor(rand() * (Math.min(to, v.length) - from))]!;
  const search = (kind: string, q: () => string) => () => ({
    kind,
    viewer: anonymous,
    filter: { q: q(), limit: PAGE },
  });
  const list =
    (kind: string, f: () => Omit<CatalogueFilter, 'limit'>, viewer = anonymous) =>
    () => ({
      kind,
      viewer,
      filter: { ...f(), limit: PAGE },
    });
  const someCourse = () => catalogue.course(Math.floor(rand() * courses));
  const accented = v.filter((w) => w !== withoutAccents(w));
  return [
    search('search: common word', () => pick(0, 10)),
    search('search: middling word', () => pick(100, 1000)),
    search('search: rare word', () => pick(2000, v.length)),
    search('search: two words', () => `${pick(0, 100)} ${pick(100, 1000)}`),
    search('search: prefix', () => pick(100, 1000).slice(0, 4)),
    search('search: misspelt', () => misspelt(pick(100, 1000), rand)),
    search('search: without accents', () => withoutAccents(accented[Math.floor(rand() * accented.length)]!)),
    list('list: newest', () => ({})),
    list('list: frequent tag', () => ({ tags: [catalogue.tags[Math.floor(rand() * 5)]!] })),
    list('list: rare tag', () => ({ tags: [catalogue.tags[100 + Math.floor(rand() * 200)]!] })),
    list('list: author', () => ({ author: someCourse().authorId })),
    list('list: drafts (admin)', () => ({ status: 'draft' as const }), admin),
  ];
};

/** Each kind's queries in turn, kinds interleaved so a slow spell of the machine touches all alike. */
const measureQueries = async (sql: Sql, queries: (() => Query)[], plan: ContentPlan) => {
  const samples = new Map<string, number[]>();
  const found = new Map<string, number[]>();
  const secondPage: number[] = [];
  for (let i = 0; i < plan.warmup + plan.runs; i++) {
    for (const next of queries) {
      const { kind, viewer, filter } = next();
      const t = performance.now();
      const page = await listCourses(sql, viewer, filter);
      const ms = performance.now() - t;
      if (i < plan.warmup) continue;
      (samples.get(kind) ?? samples.set(kind, []).get(kind)!).push(ms);
      (found.get(kind) ?? found.set(kind, []).get(kind)!).push(page.items.length);
      if (kind === 'list: newest' && page.nextCursor) {
        const t2 = performance.now();
        await listCourses(sql, viewer, { ...filter, after: decodeCursor(page.nextCursor) });
        secondPage.push(performance.now() - t2);
      }
    }
  }
  const byKind = Object.fromEntries(
    [...samples].map(([kind, ms]) => [
      kind,
      { ...summarize(ms), meanItems: round(found.get(kind)!.reduce((a, b) => a + b, 0) / ms.length, 1) },
    ]),
  );
  const all = (prefix: string) => [...samples].filter(([k]) => k.startsWith(prefix)).flatMap(([, ms]) => ms);
  return {
    search: summarize(all('search')),
    list: summarize([...all('list'), ...secondPage]),
    byKind: { ...byKind, 'list: second page (cursor)': summarize(secondPage) },
  };
};

/**
 * The catalogue on one database: the store filled with every course's
 * history, the projection built by `runner.rebuild()` (the store read in
 * pages, applied in batches, shadow tables swapped in), then the readers the
 * query routes call, timed.
 */
const onDatabase = async (label: string, sql: Sql, courses: number, plan: ContentPlan) => {
  const catalogue = generatedCatalogue(1);
  const store = await sqlEventStore(sql);
  const log = await openSqlLog(sql);
  try {
    progress(`content ${label}: appending ${courses} courses`);
    const filled = await fill(store, catalogue, courses, sql.kind === 'postgres' ? 8 : 1);
    const runner = await projectionRunner({
      projection: courseCatalogueProjection,
      sql,
      log,
      store,
      logger: quietLogger(),
    });
    progress(`content ${label}: rebuilding ${CATALOGUE} from ${filled.events} events`);
    const rebuilt = await runner.rebuild();
    if (rebuilt.events !== filled.events)
      throw new Error(`rebuild applied ${rebuilt.events} events, expected ${filled.events}`);
    const [rows] = await sql.query<{ n: string; materials: string }>(
      `select count(*) as n, sum(material_count) as materials from ${CATALOGUE}`,
    );
    if (Number(rows?.n) !== courses)
      throw new Error(`${CATALOGUE} holds ${rows?.n} courses, expected ${courses}`);
    // As autovacuum would soon after a bulk load: the planner needs the table's statistics.
    await sql.query(`analyze ${CATALOGUE}`);
    progress(`content ${label}: querying`);
    const queries = await measureQueries(sql, queriesOf(catalogue, courses, 7), plan);
    progress(`content ${label}: search p95 ${queries.search.p95} ms, list p95 ${queries.list.p95} ms`);
    return {
      courses,
      materials: Number(rows!.materials),
      events: filled.events,
      appendSeconds: filled.seconds,
      projection: {
        events: rebuilt.events,
        seconds: round(rebuilt.seconds, 1),
        eventsPerSecond: perSecond(rebuilt.events, rebuilt.seconds * 1000),
        coursesPerSecond: perSecond(courses, rebuilt.seconds * 1000),
      },
      queries,
    };
  } finally {
    await log.close().catch(() => {});
    await store.close();
  }
};

type Part = {
  partNumber: number;
  method: string;
  url: string;
  headers: Record<string, string>;
  size: number;
};

/**
 * One `uploadBytes` video, as a browser sends it: presign (multipart), each
 * part PUT straight to the URL it was given, then finalize. The server runs
 * as its own process, so its CPU time during the transfer is its own.
 */
const upload = async (env: Record<string, string>, bytes: number) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-bench-content-'));
  const server = await startServerProcess({ ...env, LECTERN_DATA_DIR: dataDir });
  try {
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as Record<string, any>;
    };
    const minted = await fetch(`${server.url}/api/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: randomUUID(), roles: ['author'] }),
    });
    const { token } = (await minted.json()) as { token: string };
    const { courseId } = await call('POST', '/api/courses', token, { title: 'Bench upload' });
    const { sectionId } = await call('POST', `/api/courses/${courseId}/sections`, token, { title: 'One' });
    const { assetId } = await call('POST', `/api/courses/${courseId}/media-assets`, token, {
      kind: 'video',
      title: 'Lecture',
    });
    await call('POST', `/api/courses/${courseId}/sections/${sectionId}/materials`, token, {
      title: 'Lecture',
      kind: 'video',
      assetId,
    });
    const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom', 'latin1')]);
    const file = Buffer.concat([MP4, randomBytes(bytes - MP4.length)]);
    const path = `/api/courses/${courseId}/media-assets/${assetId}/upload`;

    // What the server spends doing nothing in particular (consumers polling, timers), for scale.
    const idleFrom = await cpuMsOf(server.child.pid!);
    const idleStarted = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const idlePerSecond =
      ((await cpuMsOf(server.child.pid!)) - idleFrom) / ((performance.now() - idleStarted) / 1000);
    const cpuBefore = await cpuMsOf(server.child.pid!);
    const began = performance.now();
    const { upload: plan } = await call('POST', `${path}/presign`, token, {
      contentType: 'video/mp4',
      size: file.length,
      fileName: 'lecture.mp4',
      multipart: true,
    });
    const presigned = performance.now();
    const cpuPresigned = await cpuMsOf(server.child.pid!);
    for (const p of plan.parts as Part[]) {
      const from = (p.partNumber - 1) * plan.partSize;
      const res = await fetch(p.url, {
        method: p.method,
        headers: p.headers,
        body: file.subarray(from, from + p.size),
      });
      if (!res.ok) throw new Error(`part ${p.partNumber} answered ${res.status}: ${await res.text()}`);
    }
    const sent = performance.now();
    const cpuSent = await cpuMsOf(server.child.pid!);
    const done = await call('POST', path, token);
    const finished = performance.now();
    const cpuFinished = await cpuMsOf(server.child.pid!);
    if (done.status !== 'processing') throw new Error(`finalize left the asset ${done.status}`);
    return {
      bytes: file.length,
      parts: (plan.parts as Part[]).length,
      partBytes: plan.partSize as number,
      seconds: {
        presign: round((presigned - began) / 1000, 3),
        put: round((sent - presigned) / 1000, 3),
        finalize: round((finished - sent) / 1000, 3),
        total: round((finished - began) / 1000, 3),
      },
      serverCpuMs: {
        presign: round(cpuPresigned - cpuBefore, 0),
        put: round(cpuSent - cpuPresigned, 0),
        finalize: round(cpuFinished - cpuSent, 0),
        total: round(cpuFinished - cpuBefore, 0),
        /** The same server's CPU time per second of an idle moment just before: the floor under each figure. */
        idlePerSecond: round(idlePerSecond, 0),
      },
    };
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
};

/** Removes what the upload left in the bench's bucket. */
const emptyBucket = async (env: Record<string, string>): Promise<void> => {
  const endpoint = new URL(env.S3_ENDPOINT!);
  const client = new Minio.Client({
    endPoint: endpoint.hostname,
    port: Number(endpoint.port) || (endpoint.protocol === 'https:' ? 443 : 80),
    useSSL: endpoint.protocol === 'https:',
    accessKey: env.S3_ACCESS_KEY!,
    secretKey: (await readFile(env.S3_SECRET_KEY_FILE!, 'utf8')).trim(),
  });
  const names: string[] = [];
  for await (const o of client.listObjectsV2(env.S3_BUCKET!, '', true)) if (o.name) names.push(o.name);
  if (names.length) await client.removeObjects(env.S3_BUCKET!, names);
};

const attempt = async (label: string, f: () => Promise<unknown>): Promise<unknown> => {
  try {
    return await f();
  } catch (error) {
    progress(`content ${label} failed: ${(error as Error).stack ?? String(error)}`);
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
};

/**
 * The content context: the catalogue (projection apply rate, then search and
 * filtered lists at `postgresCourses` courses with ten materials each) on
 * PostgreSQL and, smaller, on PGlite; and a video upload through presign,
 * PUTs straight to the storage and finalize, on MinIO and on the embedded
 * folder store (whose PUTs our server receives: the contrast).
 */
export const contentSection = async (engines: Engines, plan: ContentPlan) => {
  const result: Record<string, unknown> = {};
  result.cataloguePostgres = engines.databaseUrl
    ? await attempt('catalogue on postgres', () =>
        withDatabase(engines.databaseUrl!, async (db) => {
          const sql = postgresSql(db.url, { max: 10, applicationName: 'lectern-bench' });
          try {
            return await onDatabase('postgres', sql, plan.postgresCourses, plan);
          } finally {
            await sql.close();
          }
        }),
      )
    : { skipped: 'DATABASE_URL not set' };
  result.cataloguePglite = await attempt('catalogue on pglite', async () => {
    const sql = await pgliteSql(null);
    try {
      return await onDatabase('pglite', sql, plan.pgliteCourses, plan);
    } finally {
      await sql.close();
    }
  });

  const s3 = process.env.S3_ENDPOINT?.trim();
  if (s3) {
    const env = {
      S3_ENDPOINT: s3,
      S3_ACCESS_KEY: process.env.S3_ACCESS_KEY ?? '',
      S3_SECRET_KEY_FILE: process.env.S3_SECRET_KEY_FILE ?? '',
      S3_BUCKET: 'lectern-bench',
    };
    result.uploadMinio = await attempt('upload to minio', () => upload(env, plan.uploadBytes));
    await emptyBucket(env).catch((e: unknown) => progress(`could not empty lectern-bench: ${String(e)}`));
  } else result.uploadMinio = { skipped: 'S3_ENDPOINT not set' };
  result.uploadEmbedded = await attempt('upload to the folder store', () => upload({}, plan.uploadBytes));

  return {
    method:
      `catalogue: generated courses (Zipf-distributed words; 2–3 sections, 10 materials each; 70 % published) appended one ` +
      `course per append, then ${CATALOGUE} built by the projection runner's rebuild (store pages of 5000) and analyzed; ` +
      `${plan.runs} timed runs of each query kind (after ${plan.warmup}), kinds interleaved, through listCourses (the reader ` +
      `GET /api/courses calls; HTTP not included), pages of ${PAGE}, anonymous viewer except the admin's drafts. ` +
      `upload: the server as its own process; presign (multipart) → PUT each part from the bench straight to the URL ` +
      `given → finalize; serverCpuMs = the server process's user + system CPU time (/proc) over each step, and per second of 2 s idle just before (its floor)`,
    ...result,
  };
};
