import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident, type ChSql } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { requireEngine } from '@lectern/infra/testing/engines';
import { analyticsSchema, eventRow, utcDay, type EventRow } from './schema.ts';

// The schema spec: what the analytics tables promise (UTC days, copies
// collapsing by event id, the rollups agreeing with `events`), on both
// engines that run them. What any table asks of an engine is the store's
// contract (infra/src/analytics/contract.ts).

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 2, 30); // 2024-03-30, a Saturday
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const testDatabase = () => `lectern_test_${randomBytes(6).toString('hex')}`;

/** Registers the spec's tests as `<name>: …`; `open` gives a store on a database nobody else uses. */
const schemaSpec = (name: string, open: () => AnalyticsStore) => {
  const it = (title: string, body: (store: AnalyticsStore, t: ExecutionContext) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const store = open();
      try {
        await store.ensureSchema(analyticsSchema(store.database));
        await body(store, t);
      } finally {
        await store.exec(ch`DROP DATABASE IF EXISTS ${ident(store.database)}`);
        await store.close();
      }
    });

  const events = (store: AnalyticsStore): ChSql => store.table('events');

  it('ensureSchema is idempotent and creates the tables and the rollup view', async (store, t) => {
    await store.ensureSchema(analyticsSchema(store.database));
    const tables = await store.query<{ name: string }>(
      ch`SELECT name FROM system.tables WHERE database = ${store.database} ORDER BY name`,
    );
    t.deepEqual(
      tables.map((r) => r.name),
      ['events', 'user_days', 'user_days_mv', 'user_first_seen', 'user_first_seen_mv'],
    );
    await store.ping();
  });

  it('inserted events read back exactly, dated by their UTC day', async (store, t) => {
    const rows: EventRow[] = [
      eventRow({
        event_id: 'e1',
        type: 'course.viewed',
        user_id: 'u1',
        source: 'web',
        occurred_at: Date.UTC(2024, 2, 31, 23, 59, 59, 999),
        payload: JSON.stringify({ courseId: 'c1', seconds: 12.5 }),
        ingested_at: 1_711_929_600_000,
      }),
      eventRow({
        event_id: 'e2',
        kind: 'domain',
        type: 'profile.ProfileUpdated',
        user_id: 'u1',
        source: 'profile',
        occurred_at: Date.UTC(2024, 3, 1),
        payload: JSON.stringify({ displayName: 'Ada' }),
        stream_id: 'profile-1',
        schema_version: 2,
        ingested_at: 1_711_929_600_001,
      }),
    ];
    await store.insert('events', rows);
    const back = await store.query<EventRow & { event_date: string }>(
      ch`SELECT event_id, kind, type, user_id, source, occurred_at, event_date, payload, stream_id,
                schema_version, ingested_at
         FROM ${events(store)} ORDER BY event_id`,
    );
    t.deepEqual(back, [
      { ...rows[0]!, event_date: '2024-03-31' },
      { ...rows[1]!, event_date: '2024-04-01' },
    ]);
    t.is(utcDay(rows[0]!.occurred_at), '2024-03-31', 'utcDay agrees with the table');
  });

  it('a re-inserted event counts once in reports, before and after merges', async (store, t) => {
    // 300 events of 40 users over 3 days; then a redelivery of the first 200
    // and a replay of the last 150 (later ingestion time).
    const all = range(300).map((i) =>
      eventRow({
        event_id: `d${i}`,
        type: i % 3 === 0 ? 'lesson.completed' : 'course.viewed',
        user_id: `u${(i * 7) % 40}`,
        source: 'web',
        occurred_at: T0 + (i % 3) * DAY + i * 1000,
        ingested_at: 1_000,
      }),
    );
    await store.insert('events', all);
    await store.insert('events', all.slice(0, 200));
    await store.insert(
      'events',
      all.slice(150).map((e) => ({ ...e, ingested_at: 2_000 })),
    );

    const truth = {
      events: 300,
      completed: all.filter((e) => e.type === 'lesson.completed').length,
      dau: [0, 1, 2].map((d) => ({
        day: utcDay(T0 + d * DAY),
        users: new Set(
          all.filter((e) => utcDay(e.occurred_at) === utcDay(T0 + d * DAY)).map((e) => e.user_id),
        ).size,
      })),
    };

    const reports = async () => {
      const [counts] = await store.query<{ events: number; completed: number; final: number }>(
        ch`SELECT uniqExact(event_id) AS events,
                  uniqExactIf(event_id, type = 'lesson.completed') AS completed,
                  (SELECT count() FROM ${events(store)} FINAL) AS final
           FROM ${events(store)}`,
      );
      const dauRaw = await store.query<{ day: string; users: number }>(
        ch`SELECT event_date AS day, uniqExact(user_id) AS users FROM ${events(store)}
           GROUP BY day ORDER BY day`,
      );
      const dauRollup = await store.query<{ day: string; users: number }>(
        ch`SELECT event_date AS day, uniqExact(user_id) AS users FROM ${store.table('user_days')}
           GROUP BY day ORDER BY day`,
      );
      return { counts, dauRaw, dauRollup };
    };

    const before = await reports();
    t.deepEqual(before.counts, { events: truth.events, completed: truth.completed, final: truth.events });
    t.deepEqual(before.dauRaw, truth.dau, 'DAU from raw events');
    t.deepEqual(before.dauRollup, truth.dau, 'DAU from the user_days rollup');

    await store.exec(ch`OPTIMIZE TABLE ${events(store)} FINAL`);
    await store.exec(ch`OPTIMIZE TABLE ${store.table('user_days')} FINAL`);
    const [merged] = await store.query<{ rows: number; newest: number }>(
      ch`SELECT count() AS rows, countIf(ingested_at = 2000) AS newest FROM ${events(store)}`,
    );
    t.deepEqual(merged, { rows: 300, newest: 150 }, 'copies collapsed into the newest');
    const [days] = await store.query<{ rows: number }>(
      ch`SELECT count() AS rows FROM ${store.table('user_days')}`,
    );
    t.is(
      days!.rows,
      truth.dau.reduce((n, d) => n + d.users, 0),
      'one rollup row per user and day',
    );
    t.deepEqual(await reports(), before, 'the same reports after merging');
  });
};

// chDB opens one data folder per process: every test's store is a database
// in it, and an anchor store keeps it open between tests.
const dir = await mkdtemp(join(tmpdir(), 'lectern-analytics-schema-'));
const anchor = chdbStore({ path: join(dir, 'chdb') });
test.after.always(async () => {
  await anchor.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});
schemaSpec('chdb', () => chdbStore({ path: join(dir, 'chdb'), database: testDatabase() }));

const url = requireEngine(test, 'CLICKHOUSE_URL', 'analytics schema on ClickHouse');
if (url) schemaSpec('clickhouse', () => clickhouseStore({ url, database: testDatabase() }));
