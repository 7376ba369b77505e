import test from 'ava';
import { requireEngine } from '../testing/engines.ts';
import { postgresTestDatabase } from '../testing/sql-engines.ts';
import { sqlLogLeaseSuite } from './sql-log-leases.suite.ts';

const url = requireEngine(test, 'DATABASE_URL', 'sql-log leases on PostgreSQL');
if (url) {
  sqlLogLeaseSuite(test, 'sql-log on PostgreSQL', async () => {
    const { sql, close } = await postgresTestDatabase(url);
    return { sql, dispose: close };
  });
}
