import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import test, { type ExecutionContext } from 'ava';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { createHttpApp } from '@lectern/infra/http/app';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import { START } from '@lectern/infra/ports/event-store';
import { createLogger } from '@lectern/infra/runtime/logger';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { waitUntil } from '@lectern/infra/testing/wait';
import { auditRoutes } from '../src/audit-routes.ts';
import { profileModule } from '@lectern/profile-module';

/*
 * `lectern export` of a million events holds the same memory as one of a
 * thousand: the route reads a page of the store at a time and writes each
 * line as the client takes it. The store is filled with SQL (a million
 * appends through the API would test the API); the export runs through the
 * real route, over HTTP, read by a client in this process, and the heap is
 * sampled all along. On PostgreSQL and on the embedded profile's PGlite
 * (on disk, as `./dev start` keeps it; its pages live in WebAssembly memory,
 * outside the JavaScript heap measured here).
 */

const url = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');

// The heap that matters is what is still reachable: garbage waits for the
// collector, so each sample is taken right after a full collection.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const liveHeap = () => {
  collect();
  return process.memoryUsage().heapUsed;
};
const EVENTS = 1_000_000;
const STREAMS = 1_000;
const CHUNK = 10_000;

/** A database of the profile under test, and how to be rid of it. */
type Database = Readonly<{ sql: Sql; drop(): Promise<void> }>;

const exportKeepsTheHeapFlat = async (t: ExecutionContext, open: () => Promise<Database>) => {
  const { sql, drop } = await open();
  const store = await sqlEventStore(sql);
  const log = await sqlLog(sql);
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
  });
  app.use(
    auditRoutes({
      store,
      log,
      namespace: 'memory',
      verify: async () => ({ userId: '00000000-0000-4000-8000-000000000001', roles: ['admin'] }),
      streams: profileModule().streams ?? [],
      record: async () => {
        throw new Error('an export records no admin action');
      },
    }),
  );
  finish();
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await log.close();
    await sql.close();
    await drop();
  });

  // 1. A million profile events over a thousand streams, about 330 bytes a line once exported,
  //    written 10,000 at a time: a transaction open for the whole million would hold the
  //    database's feed back until it ended (the feed shows a commit once no older transaction
  //    of its database is open).
  await sql.exec(`
      insert into es_streams (stream_id, revision)
        select 'profile-' || s, ${EVENTS / STREAMS - 1} from generate_series(0, ${STREAMS - 1}) s`);
  for (let from = 0; from < EVENTS; from += CHUNK)
    await sql.exec(`
        insert into es_events (stream_id, revision, event_id, type, schema_version, occurred_at, data, metadata)
          select 'profile-' || (g % ${STREAMS}), g / ${STREAMS}, gen_random_uuid(), 'profile.ProfileUpdated', 1,
                 now(), jsonb_build_object('displayName', 'Learner ' || g, 'bio', repeat('b', 80)),
                 jsonb_build_object('correlationId', gen_random_uuid()::text, 'causationId', null,
                                    'actor', null, 'requestId', null, 'traceparent', null)
            from generate_series(${from}, ${Math.min(from + CHUNK, EVENTS) - 1}) g`);
  await waitUntil('the feed to hold the events', async () => (await store.readAll(START, 1)).length === 1);

  // 2. The export, read as it comes; the live heap measured every 16 MB or so.
  const before = liveHeap();
  let peak = before;
  let lines = 0;
  let bytes = 0;
  let sampledAt = 0;
  let samples = 0;
  const port = (server.address() as AddressInfo).port;
  const res = await fetch(`http://127.0.0.1:${port}/api/admin/events/export`, {
    headers: { authorization: 'Bearer any' },
  });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    for (const b of chunk) if (b === 10) lines++;
    if (bytes - sampledAt > 16 * 2 ** 20) {
      sampledAt = bytes;
      samples++;
      peak = Math.max(peak, liveHeap());
    }
  }

  t.is(lines, EVENTS);
  const grewMb = (peak - before) / 2 ** 20;
  const exportedMb = bytes / 2 ** 20;
  t.log(`exported ${exportedMb.toFixed(0)} MB; the live heap grew by ${grewMb.toFixed(1)} MB at most`);
  // Held whole, the export would take its size again in strings (and more as objects).
  t.true(samples >= 20, `sampled ${samples} times along the way`);
  t.true(exportedMb > 250, `a big enough export to tell: ${exportedMb.toFixed(0)} MB`);
  t.true(
    grewMb < 64,
    `the live heap grew by ${grewMb.toFixed(1)} MB while ${exportedMb.toFixed(0)} MB went out`,
  );
};

// Serial: the heap measured is the process's, which another export beside it would grow.
test.serial('embedded (PGlite): an export of a million events keeps the heap flat', (t) =>
  exportKeepsTheHeapFlat(t, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lectern-export-'));
    return { sql: await pgliteSql(dir), drop: () => rm(dir, { recursive: true, force: true }) };
  }),
);

if (url)
  test.serial('postgres: an export of a million events keeps the heap flat', (t) =>
    exportKeepsTheHeapFlat(t, async () => {
      const db = await freshDatabase(url);
      return { sql: postgresSql(db.url), drop: () => db.drop() };
    }),
  );
