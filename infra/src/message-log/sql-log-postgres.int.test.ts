import test from 'ava';
import { postgresSql } from '../sql/postgres.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { sqlLogSuite } from './sql-log.suite.ts';

const url = requireEngine(test, 'DATABASE_URL', 'sql-log on PostgreSQL');
if (url) {
  sqlLogSuite(test, 'sql-log on PostgreSQL', async () => {
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
