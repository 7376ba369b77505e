import { randomBytes } from 'node:crypto';
import test from 'ava';
import { migrate, migrateDown } from '../sql/migrate.ts';
import { pgliteSql } from '../sql/pglite.ts';
import { postgresSql } from '../sql/postgres.ts';
import type { Sql } from '../sql/sql.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { postgresTestDatabase } from '../testing/sql-engines.ts';
import { rateLimiterContract } from './contract.ts';
import { rateLimitMigrations, sqlRateLimiter, type SqlRateLimiter } from './sql-limiter.ts';

type Opened = Readonly<{ sql: Sql; dispose(): Promise<void> }>;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const key = (what: string) => `${what}:${randomBytes(6).toString('hex')}`;

const suite = (label: string, open: () => Promise<Opened>) => {
  let shared: Promise<Opened & { limiter: SqlRateLimiter }> | undefined;
  const get = () =>
    (shared ??= (async () => {
      const opened = await open();
      return { ...opened, limiter: await sqlRateLimiter(opened.sql) };
    })());
  test.after.always(async () => {
    if (shared) await (await shared).dispose();
  });

  rateLimiterContract(test, label, async () => (await get()).limiter);

  // The sweeps run serially: a concurrent sweep skips the rows another one has locked, so
  // two at once would make "this sweep deleted that row" a race.

  test(`${label}: a row never holds more hits than its limit`, async (t) => {
    const { limiter, sql } = await get();
    const k = key('bounded');
    const now = Date.now();
    for (const i of range(50)) await limiter.hit(k, { limit: 3, windowMs: 1_000 }, new Date(now + i * 400));
    const [row] = await sql.query<{ n: number }>(
      'select cardinality(hits) as n from rate_limits where key = $1',
      [k],
    );
    t.true(row!.n <= 3, `${row!.n} hits stored`);
  });

  test.serial(`${label}: the sweep deletes rows past their expiry and keeps live ones`, async (t) => {
    const { limiter, sql } = await get();
    const stale = key('stale');
    const live = key('live');
    const hour = 3_600_000;
    // A hit two hours ago in a one-minute window expired long before the grace ran out.
    await limiter.hit(stale, { limit: 1, windowMs: 60_000 }, new Date(Date.now() - 2 * hour));
    await limiter.hit(live, { limit: 1, windowMs: 60_000 }, new Date());
    await limiter.sweep();
    const keys = (
      await sql.query<{ key: string }>('select key from rate_limits where key = any($1::text[])', [
        [stale, live],
      ])
    ).map((r) => r.key);
    t.deepEqual(keys, [live]);
    t.true(
      (await limiter.hit(stale, { limit: 1, windowMs: 60_000 }, new Date())).allowed,
      'a swept key starts over',
    );
  });

  test.serial(`${label}: the sweep goes batch by batch until nothing is left`, async (t) => {
    const { sql } = await get();
    const limiter = await sqlRateLimiter(sql, { migrate: false, sweepBatch: 7 });
    const prefix = key('batch');
    const old = new Date(Date.now() - 3_600_000);
    for (const i of range(20)) await limiter.hit(`${prefix}:${i}`, { limit: 1, windowMs: 1_000 }, old);
    await limiter.sweep();
    const [left] = await sql.query<{ n: number }>(
      `select count(*)::int as n from rate_limits where key like $1 || ':%'`,
      [prefix],
    );
    t.is(left!.n, 0);
  });

  test.serial(`${label}: a hit starts a background sweep once its interval has passed`, async (t) => {
    const { sql } = await get();
    const limiter = await sqlRateLimiter(sql, { migrate: false, sweepIntervalMs: 0, sweepGraceMs: 0 });
    const stale = key('auto-stale');
    await limiter.hit(stale, { limit: 1, windowMs: 1_000 }, new Date(Date.now() - 60_000));
    await limiter.hit(key('trigger'), { limit: 1, windowMs: 1_000 }, new Date());
    const deadline = Date.now() + 10_000;
    let rows = 1;
    while (rows > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      rows = (await sql.query('select 1 from rate_limits where key = $1', [stale])).length;
    }
    t.is(rows, 0);
  });

  test(`${label}: migrations roll down and up again`, async (t) => {
    const other = await open();
    try {
      const tables = async () =>
        (
          await other.sql.query<{ name: string }>(
            `select table_name as name from information_schema.tables where table_name = 'rate_limits'`,
          )
        ).map((r) => r.name);
      await migrate(other.sql, 'rate_limits', rateLimitMigrations);
      t.deepEqual(await tables(), ['rate_limits']);
      await migrateDown(other.sql, 'rate_limits', rateLimitMigrations);
      t.deepEqual(await tables(), []);
      const l = await sqlRateLimiter(other.sql);
      t.true((await l.hit('k', { limit: 1, windowMs: 1000 }, new Date())).allowed);
    } finally {
      await other.dispose();
    }
  });
};

suite('rate limiter on PGlite', async () => {
  const sql = await pgliteSql(null);
  return { sql, dispose: () => sql.close() };
});

const url = requireEngine(test, 'DATABASE_URL', 'rate limiter on PostgreSQL');
if (url) {
  suite('rate limiter on PostgreSQL', async () => {
    const { sql, close } = await postgresTestDatabase(url);
    return { sql, dispose: close };
  });

  test('rate limiter on PostgreSQL: two processes share one limit exactly (200 concurrent hits, limit 50)', async (t) => {
    const db = await freshDatabase(url);
    // Two pools stand for two processes: separate connections, separate limiter instances.
    const a = postgresSql(db.url, { max: 10, applicationName: 'limiter-a' });
    const b = postgresSql(db.url, { max: 10, applicationName: 'limiter-b' });
    try {
      const [la, lb] = await Promise.all([sqlRateLimiter(a), sqlRateLimiter(b)]);
      const lim = { limit: 50, windowMs: 60_000 };
      for (const run of range(3)) {
        const k = key(`shared-${run}`);
        const now = new Date();
        const decisions = await Promise.all(range(200).map((i) => (i % 2 ? la : lb).hit(k, lim, now)));
        const allowed = decisions.filter((d) => d.allowed);
        t.is(allowed.length, 50, `run ${run}: allowed`);
        t.deepEqual(
          allowed.map((d) => d.remaining).sort((x, y) => x - y),
          range(50),
          `run ${run}: every allowed hit saw a distinct count`,
        );
        t.true(
          decisions.filter((d) => !d.allowed).every((d) => d.retryAfterSeconds === 60),
          `run ${run}: denied hits wait for the window`,
        );
        const [row] = await a.query<{ n: number }>(
          'select cardinality(hits) as n from rate_limits where key = $1',
          [k],
        );
        t.is(row!.n, 50, `run ${run}: stored hits`);
        t.false((await la.peek(k, lim, now)).allowed, `run ${run}: a's view`);
        t.false((await lb.peek(k, lim, now)).allowed, `run ${run}: b's view`);
      }
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
}
