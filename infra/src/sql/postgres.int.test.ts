import test from 'ava';
import pg from 'pg';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { postgresSql } from './postgres.ts';
import { sqlState, UNIQUE_VIOLATION } from './sql.ts';

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

if (url)
  test('failed queries keep their connection; a lost connection is replaced', async (t) => {
    const db = await freshDatabase(url);
    // One connection: any backend the pool throws away shows as a new pid.
    const sql = postgresSql(db.url, { max: 1 });
    try {
      const pid = async () => (await sql.query<{ pid: number }>('select pg_backend_pid() as pid'))[0]!.pid;
      await sql.exec('create table once (id int primary key); insert into once values (1);');
      const first = await pid();
      for (let i = 0; i < 20; i++) {
        const unique = await t.throwsAsync(sql.query('insert into once values (1)'));
        t.is(sqlState(unique), UNIQUE_VIOLATION);
        const raised = await t.throwsAsync(
          sql.query(`do $$ begin raise exception using errcode = 'P0409', message = 'conflict'; end $$`),
        );
        t.is(sqlState(raised), 'P0409');
        await t.throwsAsync(sql.transaction((tx) => tx.query('select 1/0')));
        t.is(await pid(), first, `after ${i + 1} rounds of SQL errors`);
      }

      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      await admin.query('select pg_terminate_backend($1)', [first]);
      await admin.end();
      // The pool learns of the loss from the socket, at most one query later.
      let next: number | undefined;
      for (let i = 0; i < 100 && next === undefined; i++) next = await pid().catch(() => undefined);
      t.not(next, undefined);
      t.not(next, first, 'a new session replaced the terminated one');
    } finally {
      await sql.close();
      await db.drop();
    }
  });
