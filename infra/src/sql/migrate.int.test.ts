import test from 'ava';
import { eventStoreMigrations } from '../event-store/sql-store.ts';
import { messageLogMigrations } from '../message-log/sql-log.ts';
import { relayMigrations } from '../runtime/relay.ts';
import { projectionStatusMigrations } from '../runtime/projection-runner.ts';
import { rateLimitMigrations } from '../rate-limit/sql-limiter.ts';
import { keyRingMigrations } from '../auth/key-ring.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { migrate, migrateDown, MigrationLockTimeout, sqlMigration, type Migration } from './migrate.ts';
import { pgliteSql, postgresSql, type Sql } from './index.ts';
import { waitUntil } from '../testing/wait.ts';
import { tcpCut } from '../testing/tcp-cut.ts';

const modules: [string, readonly Migration[], string][] = [
  ['event_store', eventStoreMigrations, 'public.es_events'],
  ['relay', relayMigrations, 'public.relay_checkpoints'],
  ['projection_status', projectionStatusMigrations, 'public.projection_status'],
  ['message_log', messageLogMigrations, 'message_log.messages'],
  ['rate_limits', rateLimitMigrations, 'public.rate_limits'],
  ['identity_signing_keys', keyRingMigrations, 'public.identity_signing_keys'],
];

const tableCount = async (sql: Sql, table: string) =>
  (
    await sql.query<{ n: number }>('select count(*)::int as n from pg_tables where tablename = $1', [table])
  )[0]!.n;

const exists = async (sql: Sql, table: string): Promise<boolean> =>
  (await sql.query<{ t: string | null }>('select to_regclass($1)::text as t', [table]))[0]?.t != null;

const upDownUp = (name: string, open: () => Promise<{ sql: Sql; done(): Promise<void> }>) =>
  test(`${name}: every module migrates up idempotently, down completely, and up again`, async (t) => {
    const { sql, done } = await open();
    try {
      for (const [module, migrations, table] of modules) {
        await migrate(sql, module, migrations);
        await migrate(sql, module, migrations);
        t.true(await exists(sql, table), `${module} up`);
        await migrateDown(sql, module, migrations);
        t.false(await exists(sql, table), `${module} down`);
        await migrate(sql, module, migrations);
        t.true(await exists(sql, table), `${module} up again`);
      }
    } finally {
      await done();
    }
  });

upDownUp('pglite', async () => {
  const sql = await pgliteSql(null);
  return { sql, done: () => sql.close() };
});

const url = requireEngine(test, 'DATABASE_URL', 'migrations on PostgreSQL');
if (url) {
  upDownUp('postgres', async () => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url);
    return { sql, done: async () => (await sql.close(), await db.drop()) };
  });

  /** Two pools stand for two processes; `watch` is a third connection that looks on. */
  const twoProcesses = async () => {
    const db = await freshDatabase(url);
    const [a, b, watch] = [postgresSql(db.url), postgresSql(db.url), postgresSql(db.url)];
    const waiting = async (what: 'advisory' | 'relation') =>
      (
        await watch.query<{ n: number }>(
          `select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
           where d.datname = current_database() and not l.granted and l.locktype = $1`,
          [what],
        )
      )[0]!.n;
    const done = async () => {
      await Promise.all([a.close(), b.close(), watch.close()]);
      await db.drop();
    };
    return { a, b, watch, waiting, done };
  };

  test('postgres: two processes that start migrating one module together both succeed, leaving one knex lock row', async (t) => {
    const { a, b, watch, waiting, done } = await twoProcesses();
    const probe = [
      sqlMigration('0001_race_probe', 'create table race_probe (x int)', 'drop table race_probe'),
    ];
    try {
      // Stop both at the moment of knex's race: its tables exist, its lock row
      // does not yet, and both are about to look for it.
      await watch.exec(`
        create table knex_migrations_race_probe (id serial primary key, name varchar(255), batch integer, migration_time timestamptz);
        create table knex_migrations_race_probe_lock (index serial primary key, is_locked integer);`);
      let both!: Promise<PromiseSettledResult<void>[]>;
      await watch.transaction(async (tx) => {
        await tx.query('lock table knex_migrations_race_probe_lock in access exclusive mode');
        both = Promise.allSettled([migrate(a, 'race_probe', probe), migrate(b, 'race_probe', probe)]);
        await waitUntil(
          'both to wait',
          async () => (await waiting('advisory')) + (await waiting('relation')) >= 2,
        );
      });
      const results = await both;
      t.deepEqual(
        results.map((r) => (r.status === 'fulfilled' ? 'ok' : String(r.reason))),
        ['ok', 'ok'],
      );
      t.deepEqual(await watch.query('select is_locked from knex_migrations_race_probe_lock'), [
        { is_locked: 0 },
      ]);
      t.deepEqual(await watch.query('select name from knex_migrations_race_probe'), [
        { name: '0001_race_probe' },
      ]);
      await t.notThrowsAsync(migrate(b, 'race_probe', probe), 'and the module migrates again later');
    } finally {
      await done();
    }
  });

  // Beside stress-ng a new backend on a fresh database took longer than the 30 s
  // knex's pool allows for opening a connection, and a process failed to start
  // with "Timeout acquiring a connection" though the server was only slow.
  test("postgres: migrating waits for a server slow to open a session, longer than knex's pool would", async (t) => {
    const db = await freshDatabase(url);
    const target = new URL(db.url);
    const proxy = await tcpCut({ host: target.hostname, port: Number(target.port) });
    const viaProxy = new URL(db.url);
    viaProxy.port = new URL(proxy.url).port;
    const sql = postgresSql(viaProxy.toString());
    const probe = [
      sqlMigration('0001_slow_server', 'create table slow_server (x int)', 'drop table slow_server'),
    ];
    try {
      // The pool's session opens at once (it holds the module's lock); the
      // one knex opens for the migration waits past tarn's 30 s default.
      await sql.query('select 1');
      proxy.stall();
      const migrating = migrate(sql, 'slow_server', probe);
      await waitUntil('knex to be opening its session', async () => proxy.stalledCount() > 0);
      // A duration on purpose: what is tested is a wait longer than 30 s.
      await new Promise((r) => setTimeout(r, 32_000));
      proxy.unstall();
      await t.notThrowsAsync(migrating);
      t.true(await exists(sql, 'public.slow_server'));
    } finally {
      proxy.unstall();
      await sql.close();
      await proxy.close();
      await db.drop();
    }
  });

  test('postgres: a process waits while another migrates the module, up to lockWaitMs', async (t) => {
    const { a, b, waiting, done } = await twoProcesses();
    let finish = () => {};
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const slow: Migration[] = [
      {
        name: '0001_slow_probe',
        up: async (k) => (await gate, k.raw('create table slow_probe (x int)')),
        down: (k) => k.raw('drop table slow_probe'),
      },
    ];
    try {
      const first = migrate(a, 'slow_probe', slow);
      await waitUntil(
        'the first to be migrating',
        async () => (await tableCount(b, 'knex_migrations_slow_probe')) > 0,
      );
      const impatient = await t.throwsAsync(migrate(b, 'slow_probe', slow, { lockWaitMs: 200 }), {
        instanceOf: MigrationLockTimeout,
      });
      t.is(impatient?.code, 'migration_lock_timeout');
      const second = migrate(b, 'slow_probe', slow);
      await waitUntil('the second to wait its turn', async () => (await waiting('advisory')) >= 1);
      finish();
      await first;
      await second;
      t.is(await tableCount(b, 'slow_probe'), 1);
    } finally {
      finish();
      await done();
    }
  });
}
