import test from 'ava';
import { pgliteSql } from '../sql/pglite.ts';
import { postgresSql } from '../sql/postgres.ts';
import type { Sql } from '../sql/sql.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { contractTimings, idempotencyStoreContract } from './contract.ts';
import { sqlIdempotencyStore, type SqlIdempotencyStore } from './sql-idempotency.ts';

type Opened = Readonly<{ sql: Sql; dispose(): Promise<void> }>;

const suite = (label: string, open: () => Promise<Opened>) => {
  let shared: Promise<Opened & { store: SqlIdempotencyStore }> | undefined;
  const get = () =>
    (shared ??= (async () => {
      const opened = await open();
      return { ...opened, store: await sqlIdempotencyStore(opened.sql, contractTimings) };
    })());
  test.after.always(async () => {
    if (shared) await (await shared).dispose();
  });
  idempotencyStoreContract(test, label, async () => (await get()).store);

  // Serial, so it runs before the contract's tests: a sweep is global, and would delete their keys.
  test.serial(
    `${label}: the sweep deletes finished keys past their retention and keeps running ones`,
    async (t) => {
      const { store, sql } = await get();
      const now = new Date();
      const done = await store.claim({ scope: 'sweep', key: 'done', fingerprint: 'f', now });
      const running = await store.claim({ scope: 'sweep', key: 'running', fingerprint: 'f', now });
      if (done.outcome !== 'started' || running.outcome !== 'started') return t.fail();
      await store.complete({
        scope: 'sweep',
        key: 'done',
        owner: done.owner,
        answer: { status: 200, headers: {}, body: '' },
      });
      await store.sweep(new Date(now.getTime() + contractTimings.retentionMs + 1));
      const keys = await sql.query<{ key: string }>(
        `select key from idempotency_keys where scope = 'sweep' order by key`,
      );
      t.deepEqual(
        keys.map((k) => k.key),
        ['running'],
      );
    },
  );
};

suite('idempotency keys on PGlite', async () => {
  const sql = await pgliteSql(null);
  return { sql, dispose: () => sql.close() };
});

const url = requireEngine(test, 'DATABASE_URL', 'idempotency keys on PostgreSQL');
if (url)
  suite('idempotency keys on PostgreSQL', async () => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url);
    return {
      sql,
      dispose: async () => {
        await sql.close();
        await db.drop();
      },
    };
  });
