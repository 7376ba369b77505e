import test from 'ava';
import { pgliteSql } from '../sql/pglite.ts';
import { sqlLogLeaseSuite } from './sql-log-leases.suite.ts';

sqlLogLeaseSuite(test, 'sql-log on PGlite', async () => {
  const sql = await pgliteSql(null);
  return { sql, dispose: () => sql.close() };
});
