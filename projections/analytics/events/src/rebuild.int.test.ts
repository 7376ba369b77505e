import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { topicOf, type NewEvent } from '@lectern/schemas';
import { ingestTopic, type IngestMessage } from '@lectern/schemas/analytics/ingest';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { createLogger } from '@lectern/infra/runtime/logger';
import { RebuildNotVerified } from '@lectern/infra/runtime/projection-runner';
import { startRelay } from '@lectern/infra/runtime/relay';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import {
  dropKafkaNamespace,
  kafkaTestLog,
  freshDatabase,
  requireEngine,
} from '@lectern/infra/testing/engines';
import { feedShows, waitUntil as waitFor } from '@lectern/infra/testing/wait';
import { analyticsProjector } from './projector.ts';
import { rebuildAnalytics } from './rebuild.ts';
import { ANALYTICS_TABLES, ANALYTICS_VIEWS, analyticsSchema } from './schema.ts';

const logger = createLogger({ level: 'silent' });
const waitUntil = (what: string, predicate: () => Promise<boolean> | boolean) =>
  waitFor(what, predicate, 180_000, 50);
const DAY = 86_400_000;
/** The live model's tables and views, as the schema makes them: a rebuild leaves nothing else. */
const LIVE_MODEL = [...ANALYTICS_TABLES, ...ANALYTICS_VIEWS].sort();
const T0 = Date.UTC(2025, 2, 3);

type Engines = Readonly<{
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  analytics: AnalyticsStore;
  /** Removes the engines' state, the namespace's topics and groups too. */
  cleanup(namespace: string): Promise<void>;
}>;

const profileUpdated = (userId: string, at: number): NewEvent => ({
  id: randomUUID(),
  type: 'profile.ProfileUpdated',
  schemaVersion: 1,
  occurredAt: new Date(at).toISOString(),
  data: {
    userId,
    changes: [{ field: 'displayName', from: null, to: `Ada ${userId.slice(0, 4)}` }],
    updatedAt: new Date(at).toISOString(),
  },
  metadata: {
    correlationId: randomUUID(),
    causationId: null,
    actor: { userId, roles: [] },
    requestId: null,
    traceparent: null,
  },
});

const telemetry = (i: number): IngestMessage => ({
  id: randomUUID(),
  type: 'course.viewed',
  userId: `viewer-${i % 7}`,
  source: 'web',
  occurredAt: T0 + (i % 3) * DAY + i,
  payload: { i },
  receivedAt: T0 + 3 * DAY,
});

/**
 * The ClickHouse rebuild end to end on one engine set: a store, a relay
 * into the log, the live projector feeding `events`, and `rebuildAnalytics`
 * beside them, as `lectern rebuild analytics` runs it.
 */
const suite = (label: string, open: () => Promise<Engines>) =>
  test(`${label}: analytics rebuilds into _vN tables, verified at one position, swapped while reports answer`, async (t) => {
    const { sql, store, log, analytics, cleanup } = await open();
    const ns = `r${randomBytes(4).toString('hex')}`;
    await analytics.ensureSchema(analyticsSchema(analytics.database));
    const deps = { analytics, store, log, sql, logger, namespace: ns, contexts: ['profile'] };
    const events = analytics.table('events');
    const domainCount = async () =>
      (
        await analytics.query<{ n: number }>(
          ch`SELECT uniqExact(event_id) AS n FROM ${events} WHERE kind = 'domain'`,
        )
      )[0]!.n;
    const rowOf = async (id: string) =>
      analytics.query<{ payload: string }>(ch`SELECT payload FROM ${events} FINAL WHERE event_id = ${id}`);
    const modelTables = async () =>
      (
        await analytics.query<{ name: string }>(
          ch`SELECT name FROM system.tables WHERE database = ${analytics.database} ORDER BY name`,
        )
      ).map((r) => r.name);
    const users = Array.from({ length: 12 }, () => randomUUID());
    const revisions = new Map<string, number>();
    const appended: string[] = [];
    const append = async (userId: string, at = T0) => {
      const stream = `profile-${userId}`;
      const revision = revisions.get(stream);
      const event = profileUpdated(userId, at);
      await store.append(stream, [event], { expectedRevision: revision ?? 'no_stream' });
      revisions.set(stream, (revision ?? -1) + 1);
      appended.push(event.id);
    };
    const projector = analyticsProjector({
      store: analytics,
      log,
      logger,
      namespace: ns,
      contexts: ['profile'],
      maxBatchDelayMs: 100,
    });
    let relay: Awaited<ReturnType<typeof startRelay>> | null = null;
    let querying = true;
    let queries = 0;
    const failures: unknown[] = [];
    let reader: Promise<void> = Promise.resolve();
    try {
      for (const u of users) await append(u);
      for (const u of users.slice(0, 4)) await append(u, T0 + DAY);
      // A rebuild replays the feed, which holds events back while an older transaction of the
      // store's database is still open (a writer beside this one): it reads none of them before.
      await feedShows(store, appended, 60_000);

      // No relay yet: the live model cannot have what the store holds, so nothing can be compared.
      const refused = await t.throwsAsync(rebuildAnalytics(deps, { agreeWithinMs: 0 }), {
        instanceOf: RebuildNotVerified,
      });
      t.regex(refused!.message, /is a relay running\?/);
      t.deepEqual(await modelTables(), LIVE_MODEL);
      t.is(await domainCount(), 0, 'the live model is untouched');
      // Accepted unverified, as an operator may after a lost table: swapped in from the store alone.
      const blind = await rebuildAnalytics(deps, { agreeWithinMs: 0, acceptDifferences: true });
      t.true(blind.swapped);
      t.like(blind.verification, { verified: false, matches: false, position: null, tables: [] });
      t.is(blind.events, 16);
      t.is(await domainCount(), 16);
      t.deepEqual(await modelTables(), LIVE_MODEL);

      relay = await startRelay({ store, log, sql, logger, namespace: ns });
      await projector.start();
      const views = Array.from({ length: 30 }, (_, i) => telemetry(i));
      await log.produce(
        ingestTopic(ns),
        views.map((m) => ({ key: m.userId ?? m.id, value: JSON.stringify(m) })),
      );
      // The projector's copies of what the rebuild wrote collapse: still 16 events.
      await waitUntil('the projector has committed the 16 events', async () => {
        const parts = await log.lag(`${ns}.projection.analytics`, topicOf('profile', ns));
        const published = parts.reduce((n, p) => n + Number(p.end), 0);
        return published === 16 && parts.every((p) => p.committed === p.end || p.end === '0');
      });
      t.is(await domainCount(), 16);
      const telemetryCount = async () =>
        (
          await analytics.query<{ n: number }>(
            ch`SELECT uniqExact(event_id) AS n FROM ${events} WHERE kind = 'telemetry'`,
          )
        )[0]!.n;
      await waitUntil('the telemetry', async () => (await telemetryCount()) === 30);

      // A report, over and over, while the rebuilds run: none may fail.
      reader = (async () => {
        while (querying) {
          try {
            await analytics.query(
              ch`SELECT event_date, uniqExact(user_id) AS users FROM ${analytics.table('user_days')} GROUP BY event_date`,
            );
            await analytics.query(ch`SELECT type, uniqExact(event_id) AS n FROM ${events} GROUP BY type`);
            queries++;
          } catch (error) {
            failures.push(error);
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      // 1. Intact: verified at one position, swapped, telemetry carried over, views feeding the new tables.
      const rebuilding = rebuildAnalytics(deps, { pageSize: 5, insertRows: 7 });
      await append(users[0]!, T0 + 2 * DAY); // written during the rebuild
      const sound = await rebuilding;
      t.true(sound.swapped);
      t.like(sound.verification, { verified: true, matches: true });
      const [checked] = sound.verification.tables;
      t.like(checked, { table: 'events', differingRows: 0, differingKeys: [] });
      t.true(checked!.rebuiltRows >= 16, `${checked!.rebuiltRows} rows`);
      t.is(checked!.liveRows, checked!.rebuiltRows);
      t.is(checked!.liveChecksum, checked!.rebuiltChecksum);
      t.true(sound.verification.position! > 0);
      t.true(sound.events >= 16);
      await waitUntil('the event written during the rebuild', async () => (await domainCount()) === 17);
      t.is(await telemetryCount(), 30, 'telemetry is carried over from the live table');
      t.deepEqual(await modelTables(), LIVE_MODEL);
      const newcomer = randomUUID();
      await append(newcomer, T0 + 9 * DAY);
      await waitUntil('the live view feeds the new user_days', async () => {
        const rows = await analytics.query(
          ch`SELECT user_id FROM ${analytics.table('user_days')} WHERE user_id = ${newcomer}`,
        );
        return rows.length > 0;
      });
      const [firstSeen] = await analytics.query<{ days: number }>(
        ch`SELECT count() AS days FROM (SELECT user_id FROM ${analytics.table('user_first_seen')} GROUP BY user_id)`,
      );
      t.is(firstSeen!.days, 12 + 7 + 1, 'every user of the store and of the telemetry has a first day');

      // 2. A row deleted and a row changed by hand: named by event id, the live model kept.
      const [deleted, changed] = await analytics.query<{
        event_id: string;
        payload: string;
        ingested_at: number;
      }>(
        ch`SELECT event_id, payload, ingested_at FROM ${events} FINAL WHERE kind = 'domain' ORDER BY event_id LIMIT 2`,
      );
      await analytics.exec(ch`ALTER TABLE ${events} DELETE WHERE event_id = ${deleted!.event_id}`);
      await waitUntil('the deletion', async () => (await rowOf(deleted!.event_id)).length === 0);
      await analytics.exec(
        ch`INSERT INTO ${events} (event_id, kind, type, user_id, source, occurred_at, payload, stream_id, schema_version, ingested_at)
           SELECT event_id, kind, type, user_id, source, occurred_at, '{"tampered":true}', stream_id, schema_version, ingested_at + 1
           FROM ${events} FINAL WHERE event_id = ${changed!.event_id}`,
      );
      t.deepEqual(await rowOf(changed!.event_id), [{ payload: '{"tampered":true}' }]);
      const damaged = await rebuildAnalytics(deps, { pageSize: 5 });
      t.false(damaged.swapped, 'a rebuild that differs is not swapped in');
      t.like(damaged.verification, { verified: true, matches: false });
      const [found] = damaged.verification.tables;
      t.like(found, { liveRows: 17, rebuiltRows: 18, differingRows: 2 });
      t.deepEqual(
        found!.differingKeys,
        [deleted!.event_id, changed!.event_id].sort().map((event_id) => ({ event_id })),
      );
      t.deepEqual(await rowOf(deleted!.event_id), [], 'the live model is kept');
      t.deepEqual(await rowOf(changed!.event_id), [{ payload: '{"tampered":true}' }]);
      t.deepEqual(await modelTables(), LIVE_MODEL);

      // 3. Accepted: swapped in, both rows as their events make them.
      const accepted = await rebuildAnalytics(deps, { acceptDifferences: true });
      t.true(accepted.swapped);
      t.is(accepted.verification.tables[0]!.differingRows, 2, 'what it replaced is still reported');
      t.deepEqual(await rowOf(deleted!.event_id), [{ payload: deleted!.payload }]);
      t.deepEqual(await rowOf(changed!.event_id), [{ payload: changed!.payload }]);
      t.is(await domainCount(), 18);
      t.is(await telemetryCount(), 30);
    } finally {
      querying = false;
      await reader;
      await projector.stop();
      await relay?.stop();
      await cleanup(ns);
    }
    t.deepEqual(failures, [], 'no report failed during the rebuilds');
    t.true(queries > 0);
  });

const testDatabase = () => `lectern_test_${randomBytes(6).toString('hex')}`;

// The embedded profile: store, relay checkpoint and log in PGlite, analytics in chDB.
suite('embedded (PGlite, chDB)', async () => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  const log = await sqlLog(sql, { pollIntervalMs: 100, onError: () => {} });
  const dir = await mkdtemp(join(tmpdir(), 'lectern-rebuild-'));
  const analytics = chdbStore({ path: join(dir, 'chdb'), database: testDatabase() });
  return {
    sql,
    store,
    log,
    analytics,
    cleanup: async () => {
      for (const engine of [log, store, sql, analytics]) await engine.close();
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
});

// The engines: PostgreSQL, Kafka and the ClickHouse server (18.16: no EXCHANGE, one RENAME).
const databaseUrl = requireEngine(test, 'DATABASE_URL', 'analytics rebuild on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'analytics rebuild through Kafka');
const clickhouse = requireEngine(test, 'CLICKHOUSE_URL', 'analytics rebuild on ClickHouse');
if (databaseUrl && brokers && clickhouse)
  suite('engines (PostgreSQL, Kafka, ClickHouse)', async () => {
    const db = await freshDatabase(databaseUrl);
    const sql = postgresSql(db.url);
    const store = await sqlEventStore(sql);
    const log = kafkaTestLog(brokers, 'analytics-rebuild-tests');
    const analytics = clickhouseStore({ url: clickhouse, database: testDatabase() });
    return {
      sql,
      store,
      log,
      analytics,
      cleanup: async (namespace) => {
        await log.close();
        await dropKafkaNamespace(brokers, namespace);
        await store.close();
        await sql.close();
        await db.drop();
        await analytics.exec(ch`DROP DATABASE IF EXISTS ${ident(analytics.database)}`);
        await analytics.close();
      },
    };
  });
