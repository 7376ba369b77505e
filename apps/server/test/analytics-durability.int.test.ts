import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ingestKeyDigest } from '@lectern/analytics-commands';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { startServerProcess, type ServerProcess } from '../src/process.ts';

/*
 * Durability of ingest: a 202 means the batch is on the log, so a server
 * process killed right after answering loses nothing. Real processes
 * (`main.ts`), killed with SIGKILL (no shutdown, no flush of the
 * projector's buffer), then a restart or a second process that consumes the
 * log; every accepted event must then be in ClickHouse exactly once.
 */

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const KEY = `ik_${randomBytes(24).toString('base64url')}`;

type Server = ServerProcess;

/** A server process with only the engines named in `env` (and the ingest key); resolves once it is ready. */
const startServer = (env: Record<string, string>): Promise<Server> =>
  startServerProcess({ ANALYTICS_INGEST_KEYS: ingestKeyDigest(KEY), ...env });

/**
 * Sends batches from `senders` loops at once until `enough` events were
 * accepted; at the 202 that reaches it, kills the server with SIGKILL.
 * Requests still in flight then fail; their events may or may not be on
 * the log, and were never promised.
 */
const ingestUntilKilled = async (server: Server, source: string, enough: number, senders = 4) => {
  const sent = new Set<string>();
  const accepted = new Set<string>();
  let killed = false;
  const loop = async () => {
    while (!killed) {
      const events = Array.from({ length: 100 }, (_, i) => ({
        id: randomUUID(),
        type: i % 3 === 0 ? 'lesson.completed' : 'course.viewed',
        time: Date.now() - i,
        source,
        payload: { i },
      }));
      for (const e of events) sent.add(e.id);
      let status = 0;
      try {
        const res = await fetch(`${server.url}/api/analytics/ingest`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-ingest-key': KEY },
          body: JSON.stringify({ events }),
        });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        return; // the server is gone
      }
      if (status !== 202) throw new Error(`ingest answered ${status}`);
      for (const e of events) accepted.add(e.id);
      if (accepted.size >= enough && !killed) {
        killed = true;
        server.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, loop));
  await server.exited;
  return { sent, accepted };
};

type Counts = { ids: number; final: number; rows: number };
const countsOf = async (store: AnalyticsStore, source: string): Promise<Counts> => {
  const events = store.table('events');
  const [counts] = await store.query<Counts>(
    ch`SELECT uniqExact(event_id) AS ids, count() AS rows,
         (SELECT count() FROM ${events} FINAL WHERE source = ${source}) AS final
       FROM ${events} WHERE source = ${source}`,
  );
  return counts!;
};
const idsOf = async (store: AnalyticsStore, source: string): Promise<Set<string>> =>
  new Set(
    (
      await store.query<{ event_id: string }>(
        ch`SELECT DISTINCT event_id FROM ${store.table('events')} WHERE source = ${source}`,
      )
    ).map((r) => r.event_id),
  );

/** What every accepted event must be: present, once (after FINAL), and nothing that was never sent. */
const assertExactlyOnce = async (
  t: ExecutionContext,
  store: AnalyticsStore,
  source: string,
  sent: ReadonlySet<string>,
  accepted: ReadonlySet<string>,
) => {
  const ids = await idsOf(store, source);
  const counts = await countsOf(store, source);
  t.log(`accepted ${accepted.size}, sent ${sent.size}; in ClickHouse: ${JSON.stringify(counts)}`);
  t.deepEqual(
    [...accepted].filter((id) => !ids.has(id)),
    [],
    'every accepted event is in ClickHouse',
  );
  t.deepEqual(
    [...ids].filter((id) => !sent.has(id)),
    [],
    'and nothing that was not sent',
  );
  t.is(counts.final, counts.ids, 'each exactly once');
};

test('embedded: events accepted before a SIGKILL are in chDB exactly once after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-durability-'));
  const source = `kill-${randomBytes(4).toString('hex')}`;
  const env = { LECTERN_DATA_DIR: dir };
  try {
    const first = await startServer(env);
    const { sent, accepted } = await ingestUntilKilled(first, source, 2000);
    t.is(first.child.signalCode, 'SIGKILL');
    t.true(accepted.size >= 2000);

    // The same data folder again. chDB is in that process, so it is read here once the process has
    // consumed everything (its projection lag, sampled every 5 s, is 0) and stopped.
    const second = await startServer(env);
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const metrics = await (await fetch(`${second.url}/metrics`)).text();
        const lag = /^lectern_projection_lag_events\{projection="analytics"\} (\d+)$/m.exec(metrics)?.[1];
        if (lag === '0') break;
        if (Date.now() > deadline) throw new Error(`analytics lag ${lag ?? 'not sampled'} after 120 s`);
        await sleep(500);
      }
    } finally {
      await second.stop();
    }
    t.is(second.child.exitCode, 0, second.output());

    const store = chdbStore({ path: join(dir, 'chdb') });
    try {
      await assertExactlyOnce(t, store, source, sent, accepted);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

test('embedded: a second process on the same data folder is refused, with what to do instead', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-durability-'));
  try {
    const first = await startServer({ LECTERN_DATA_DIR: dir });
    try {
      const error = await t.throwsAsync(startServer({ LECTERN_DATA_DIR: dir }));
      t.regex(error?.message ?? '', /chDB could not open .*another process/);
      t.regex(error?.message ?? '', /Cannot lock file/, "chDB's own reason is in the output");
      t.regex(error?.message ?? '', /LECTERN_DATA_DIR|CLICKHOUSE_URL/);
    } finally {
      await first.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'durability on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'durability on Kafka');
const clickhouseUrl = requireEngine(test, 'CLICKHOUSE_URL', 'durability into ClickHouse');
if (databaseUrl && brokers && clickhouseUrl)
  test('postgres+kafka+clickhouse: events accepted before a SIGKILL reach ClickHouse exactly once through another process', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const dir = await mkdtemp(join(tmpdir(), 'lectern-durability-'));
    const database = `lectern_test_${randomBytes(6).toString('hex')}`;
    const analytics = new URL(clickhouseUrl);
    analytics.pathname = `/${database}`;
    const env = {
      LECTERN_DATA_DIR: dir,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: brokers,
      CLICKHOUSE_URL: analytics.toString(),
      LECTERN_NAMESPACE: `kill-${db.name}`,
    };
    const store = clickhouseStore({ url: clickhouseUrl, database });
    const source = `kill-${randomBytes(4).toString('hex')}`;
    try {
      // The API alone: nothing it accepted can have reached ClickHouse through it.
      const api = await startServer({ ...env, LECTERN_ROLES: 'api' });
      const { sent, accepted } = await ingestUntilKilled(api, source, 3000);
      t.is(api.child.signalCode, 'SIGKILL');
      t.deepEqual(await countsOf(store, source), { ids: 0, rows: 0, final: 0 });

      // Another process, projections only, takes the log from where the group left it (nowhere yet).
      const projections = await startServer({ ...env, LECTERN_ROLES: 'projections' });
      try {
        const deadline = Date.now() + 120_000;
        while ((await idsOf(store, source)).size < accepted.size && Date.now() < deadline) await sleep(250);
        await sleep(2000); // time for anything beyond the accepted to arrive, and be counted below
        await assertExactlyOnce(t, store, source, sent, accepted);
      } finally {
        await projections.stop();
      }

      // And the whole loop again with every role in one process, killed while its projector holds rows.
      const all = await startServer(env);
      const again = await ingestUntilKilled(all, source, 2000);
      const restarted = await startServer(env);
      try {
        const everything = new Set([...accepted, ...again.accepted]);
        const deadline = Date.now() + 120_000;
        while ((await idsOf(store, source)).size < everything.size && Date.now() < deadline) await sleep(250);
        await sleep(2000);
        await assertExactlyOnce(t, store, source, new Set([...sent, ...again.sent]), everything);
      } finally {
        await restarted.stop();
      }
    } finally {
      await store.exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`).catch(() => {});
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
