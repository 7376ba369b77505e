import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ChdbFolderInUse, chdbStore } from './chdb-store.ts';
import { ch } from './sql.ts';

// In a file of its own: it opens and closes folders, which the contract's
// shared folder (chdb-store.int.test.ts) must not see happen.
test('chdb: one data folder per process, with an error that names both', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-chdb-folder-'));
  try {
    const a = chdbStore({ path: join(dir, 'a') });
    const again = chdbStore({ path: join(dir, 'a'), database: 'other' });
    t.deepEqual(
      await again.query(ch`SELECT 1 AS one`),
      [{ one: 1 }],
      'a second store on the same folder shares it',
    );

    const error = t.throws(() => chdbStore({ path: join(dir, 'b') }), { instanceOf: ChdbFolderInUse });
    t.true(error?.message.includes(join(dir, 'a')) && error.message.includes(join(dir, 'b')), error?.message);

    await again.close();
    t.deepEqual(
      await a.query(ch`SELECT 2 AS two`),
      [{ two: 2 }],
      'closing one store leaves the other working',
    );
    t.throws(() => chdbStore({ path: join(dir, 'b') }), { instanceOf: ChdbFolderInUse });
    await a.close();

    const b = chdbStore({ path: join(dir, 'b') });
    t.deepEqual(
      await b.query(ch`SELECT 3 AS three`),
      [{ three: 3 }],
      'another folder opens once the first is closed',
    );
    await b.close();
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
