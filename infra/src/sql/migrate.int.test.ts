import test from 'ava';
import { eventStoreMigrations } from '../event-store/sql-store.ts';
import { messageLogMigrations } from '../message-log/sql-log.ts';
import { relayMigrations } from '../runtime/relay.ts';
import { projectionStatusMigrations } from '../runtime/projection-runner.ts';
import { rateLimitMigrations } from '../rate-limit/sql-limiter.ts';
import { keyRingMigrations } from '../auth/key-ring.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { migrate, migrateDown, type Migration } from './migrate.ts';
import { pgliteSql, postgresSql, type Sql } from './index.ts';

const modules: [string, readonly Migration[], string][] = [
  ['event_store', eventStoreMigrations, 'public.es_events'],
  ['relay', relayMigrations, 'public.relay_checkpoints'],
  ['projection_status', projectionStatusMigrations, 'public.projection_status'],
  ['message_log', messageLogMigrations, 'message_log.messages'],
  ['rate_limits', rateLimitMigrations, 'public.rate_limits'],
  ['identity_signing_keys', keyRingMigrations, 'public.identity_signing_keys'],
];

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
if (url)
  upDownUp('postgres', async () => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url);
    return { sql, done: async () => (await sql.close(), await db.drop()) };
  });
