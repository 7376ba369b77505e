import test from 'ava';
import { pgliteSql } from '../sql/pglite.ts';
import { sqlLogSuite } from './sql-log.suite.ts';

sqlLogSuite(test, 'sql-log on PGlite', async () => {
  const sql = await pgliteSql(null);
  return { sql, dispose: () => sql.close() };
});
