import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import type { LogMessage, MessageLog } from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import { migrate, migrateDown } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';
import { messageLogContract } from './contract.ts';
import { messageLogMigrations, partitionFor, sqlLog, type SqlLogOptions } from './sql-log.ts';
import { waitUntil as waitFor } from '../testing/wait.ts';

// Lease time stands still here: no member or lease lapses because the machine
// is slow, so these tests see what the design guarantees to live members.
// Lapses have their own tests, which move their own clock
// (sql-log-leases.suite.ts).
const standingStill: Clock = { now: () => new Date('2026-01-01T00:00:00Z') };
const options: SqlLogOptions = {
  heartbeatIntervalMs: 1000,
  sessionTimeoutMs: 2500,
  pollIntervalMs: 500,
  clock: standingStill,
  onError: (error, context) => {
    // Rejections staged by the contract are expected; anything else is worth seeing.
    if (!context.startsWith('handleBatch')) process.stderr.write(`sql-log ${context}: ${String(error)}\n`);
  },
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const unique = () => randomBytes(5).toString('hex');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const waitUntil = (what: string, predicate: () => boolean, timeoutMs = 180_000) =>
  waitFor(what, predicate, timeoutMs);

export type Opened = Readonly<{ sql: Sql; dispose(): Promise<void> }>;

/**
 * The SQL log's tests (the MessageLog contract and its own), registered on
 * `test` for one engine. Each engine runs in its own test file, so its own
 * process: PGlite works on the main thread, and on a busy machine it would
 * otherwise take the time the other engine's tests wait with.
 */
export const sqlLogSuite = (test: TestFn, label: string, open: () => Promise<Opened>): void => {
  let shared: Promise<Opened & { log: MessageLog }> | undefined;
  const get = () =>
    (shared ??= (async () => {
      const opened = await open();
      return { ...opened, log: await sqlLog(opened.sql, options) };
    })());
  test.after.always(async () => {
    if (!shared) return;
    const { log, dispose } = await shared;
    await log.close();
    await dispose();
  });

  // Every test of the contract shares one database, as the services of one process do.
  messageLogContract(test, label, async () => ({ log: (await get()).log, cleanup: async () => {} }));

  test(`${label}: concurrent producers never let a consumer see a gap or reorder a key`, async (t) => {
    const { log } = await get();
    const topic = `sql.${unique()}`;
    await log.ensureTopics([{ topic, partitions: 2 }]);
    // Two hot keys on different partitions, written by every producer in alternating
    // orders, so the per-partition locks are taken in contested, crossing orders.
    const candidates = range(50).map((i) => `hot-${i}`);
    const hotA = candidates.find((k) => partitionFor(k, 2) === 0)!;
    const hotB = candidates.find((k) => partitionFor(k, 2) === 1)!;
    const seen: LogMessage[] = [];
    const c = log.consume({
      groupId: `sql-${unique()}`,
      topics: [topic],
      maxBatchSize: 13,
      handleBatch: async (b) => {
        seen.push(...b.messages);
      },
    });
    await c.ready;
    const producers = 8;
    const calls = 25;
    await Promise.all(
      range(producers).map(async (p) => {
        for (let i = 0; i < calls; i++) {
          const pair = [
            { key: hotA, value: `${p}:${i}:a` },
            { key: hotB, value: `${p}:${i}:b` },
          ];
          await log.produce(topic, p % 2 === 0 ? pair : pair.reverse());
        }
      }),
    );
    const total = producers * calls * 2;
    await waitUntil(`${total} messages`, () => seen.length >= total);
    await sleep(300);
    await c.stop();
    t.is(seen.length, total);
    for (const partition of [0, 1]) {
      const offsets = seen.filter((m) => m.partition === partition).map((m) => m.offset);
      t.deepEqual(
        offsets,
        range(total / 2).map(String),
        `partition ${partition}: offsets 0..n-1, delivered in order`,
      );
    }
    for (const p of range(producers)) {
      for (const [key, suffix] of [
        [hotA, 'a'],
        [hotB, 'b'],
      ] as const) {
        const mine = seen.filter((m) => m.key === key && m.value.startsWith(`${p}:`)).map((m) => m.value);
        t.deepEqual(
          mine,
          range(calls).map((i) => `${p}:${i}:${suffix}`),
          `producer ${p}'s order on ${key}`,
        );
      }
    }
  });

  test(`${label}: migrations roll all the way down and up again`, async (t) => {
    const other = await open();
    try {
      const tables = async () =>
        (
          await other.sql.query<{ name: string }>(
            `select table_name as name from information_schema.tables where table_schema = 'message_log' order by 1`,
          )
        ).map((r) => r.name);
      await migrate(other.sql, 'message_log', messageLogMigrations);
      t.deepEqual(await tables(), ['commits', 'leases', 'members', 'messages', 'partitions', 'topics']);
      await migrateDown(other.sql, 'message_log', messageLogMigrations);
      t.deepEqual(await tables(), []);
      t.deepEqual(
        await other.sql.query(
          `select schema_name from information_schema.schemata where schema_name = 'message_log'`,
        ),
        [],
      );
      const log = await sqlLog(other.sql, options);
      await log.ensureTopics([{ topic: 'again', partitions: 2 }]);
      await log.produce('again', [{ key: 'k', value: 'v' }]);
      t.deepEqual((await log.lag('nobody', 'again')).map((l) => l.end).sort(), ['0', '1']);
      await log.close();
    } finally {
      await other.dispose();
    }
  });
};
