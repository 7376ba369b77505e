import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AnalyticsStore } from '../ports/analytics-store.ts';
import { chdbStore } from './chdb-store.ts';
import { analyticsStoreContract, contractSchema, PROBE_TABLE, probeRow } from './contract.ts';
import { ch, ident } from './sql.ts';

// chDB opens one data folder per process: every test of this file uses the
// same folder, each in a database of its own. An anchor store keeps the
// folder open between tests.
const dir = await mkdtemp(join(tmpdir(), 'lectern-chdb-'));
const path = join(dir, 'data');
const spoolDir = join(dir, 'spool');
const anchor = chdbStore({ path, spoolDir });
test.after.always(async () => {
  await anchor.close();
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

const open = (opts: { batchRows?: number } = {}): AnalyticsStore =>
  chdbStore({ path, spoolDir, database: `lectern_test_${randomBytes(6).toString('hex')}`, ...opts });

analyticsStoreContract(test, 'chdb', async (opts) => {
  const store = open(opts);
  return {
    store,
    cleanup: async () => {
      await store.exec(ch`DROP DATABASE IF EXISTS ${ident(store.database)}`);
      await store.close();
    },
  };
});

test('chdb: spooled results are removed, whether a stream ends, is left early or fails', async (t) => {
  // A spool folder of its own, so other tests' streams cannot be counted.
  const ownSpool = join(dir, 'spool-own');
  const store = chdbStore({
    path,
    spoolDir: ownSpool,
    database: `lectern_test_${randomBytes(6).toString('hex')}`,
  });
  try {
    let n = 0;
    for await (const _ of store.stream(ch`SELECT number FROM system.numbers LIMIT 100000`)) n += 1;
    t.is(n, 100000);
    for await (const _ of store.stream(ch`SELECT number FROM system.numbers LIMIT 100000`)) break;
    await t.throwsAsync(async () => {
      for await (const _ of store.stream(ch`SELECT * FROM no_such_table`)) void _;
    });
    t.deepEqual(await readdir(ownSpool), []);
  } finally {
    await store.close();
  }
});

test('chdb: a table written by one store is there after the folder is reopened', async (t) => {
  const a = open();
  await a.ensureSchema(contractSchema(a.database));
  await a.insert(PROBE_TABLE, [probeRow({ id: 'p1', at: 0 })]);
  await a.close();
  const b = chdbStore({ path, spoolDir, database: a.database });
  try {
    t.deepEqual(await b.query(ch`SELECT id FROM ${b.table(PROBE_TABLE)}`), [{ id: 'p1' }]);
  } finally {
    await b.exec(ch`DROP DATABASE IF EXISTS ${ident(b.database)}`);
    await b.close();
  }
});
