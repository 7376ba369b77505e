import test from 'ava';
import { postgresSql } from '../sql/postgres.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { sqlLogLeaseSuite } from './sql-log-leases.suite.ts';

const url = requireEngine(test, 'DATABASE_URL', 'sql-log leases on PostgreSQL');
if (url) {
  sqlLogLeaseSuite(test, 'sql-log on PostgreSQL', async () => {
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
}
