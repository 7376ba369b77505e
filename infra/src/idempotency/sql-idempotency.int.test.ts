import test from 'ava';
import { sqlEngines, type TestDatabase } from '../testing/sql-engines.ts';
import { contractTimings, idempotencyStoreContract } from './contract.ts';
import { sqlIdempotencyStore, type SqlIdempotencyStore } from './sql-idempotency.ts';

const suite = (label: string, open: () => Promise<TestDatabase>) => {
  let shared: Promise<TestDatabase & { store: SqlIdempotencyStore }> | undefined;
  const get = () =>
    (shared ??= (async () => {
      const opened = await open();
      return { ...opened, store: await sqlIdempotencyStore(opened.sql, contractTimings) };
    })());
  test.after.always(async () => {
    if (shared) await (await shared).close();
  });
  idempotencyStoreContract(test, label, async () => (await get()).store);

  // Serial, so it runs before the contract's tests: a sweep is global, and would delete their keys.
  test.serial(
    `${label}: the sweep deletes finished keys past their retention and keeps running ones`,
    async (t) => {
      const { store, sql } = await get();
      const now = new Date();
      const done = await store.claim({ scope: 'sweep', key: 'done', fingerprint: 'f', now });
      const running = await store.claim({ scope: 'sweep', key: 'running', fingerprint: 'f', now });
      if (done.outcome !== 'started' || running.outcome !== 'started') return t.fail();
      await store.complete({
        scope: 'sweep',
        key: 'done',
        owner: done.owner,
        answer: { status: 200, headers: {}, body: '' },
      });
      await store.sweep(new Date(now.getTime() + contractTimings.retentionMs + 1));
      const keys = await sql.query<{ key: string }>(
        `select key from idempotency_keys where scope = 'sweep' order by key`,
      );
      t.deepEqual(
        keys.map((k) => k.key),
        ['running'],
      );
    },
  );
};

for (const { title, open } of sqlEngines(test, 'idempotency keys'))
  suite(`idempotency keys on ${title}`, open);
