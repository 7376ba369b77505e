import test from 'ava';
import pg from 'pg';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { postgresSql } from './postgres.ts';

const url = requireEngine(test, 'DATABASE_URL', 'LISTEN reconnection on PostgreSQL');
if (url)
  test('notifications resume after the listening connection is killed', async (t) => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url);
    try {
      const got: string[] = [];
      await sql.listen('reconnect_test', (p) => got.push(p));
      await sql.query(`select pg_notify('reconnect_test', 'before')`);
      const until = async (what: string) => {
        for (let i = 0; i < 200 && !got.includes(what); i++) await new Promise((r) => setTimeout(r, 25));
        return got.includes(what);
      };
      t.true(await until('before'));
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      const killed = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'lectern-listen' and datname = $1`,
        [db.name],
      );
      await admin.end();
      t.is(killed.rowCount, 1);
      // Keep notifying until the new connection is listening again.
      let resumed = false;
      for (let i = 0; i < 100 && !resumed; i++) {
        await sql.query(`select pg_notify('reconnect_test', 'after')`);
        resumed = await new Promise((r) => setTimeout(() => r(got.includes('after')), 100));
      }
      t.true(resumed, 'a notification arrived after the reconnect');
    } finally {
      await sql.close();
      await db.drop();
    }
  });
