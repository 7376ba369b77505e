import test from 'ava';
import { requireEngine } from '../testing/engines.ts';
import { postgresTestDatabase } from '../testing/sql-engines.ts';
import { sqlLogSuite } from './sql-log.suite.ts';

const url = requireEngine(test, 'DATABASE_URL', 'sql-log on PostgreSQL');
if (url) {
  sqlLogSuite(test, 'sql-log on PostgreSQL', async () => {
    const { sql, close } = await postgresTestDatabase(url);
    return { sql, dispose: close };
  });
}
