import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { kafkaLog } from '../message-log/kafka.ts';
import type { MessageLog } from '../ports/message-log.ts';

/**
 * The engine rule for `*.int.test.ts` suites (ARCHITECTURE.md §6): a suite
 * that needs an engine reads its URL from the environment. When the variable
 * is unset, the suite is skipped on a developer's machine, but with
 * `CI=true` it fails, so CI can never go green by not testing.
 *
 * Registers one test that says so (a skipped one, or a failing one in CI)
 * and returns `null` when the variable is unset; otherwise returns its value
 * and registers nothing, and the caller registers the suite.
 *
 * @param label what the suite covers, to keep titles unique when one file
 *   asks for the same variable more than once.
 * @example
 *   const url = requireEngine(test, 'DATABASE_URL', 'event store on PostgreSQL');
 *   if (url) eventStoreContract(test, 'postgres', async () => open(url));
 */
export const requireEngine = (test: TestFn, variable: string, label = variable): string | null => {
  const value = process.env[variable]?.trim();
  if (value) return value;
  if (process.env.CI === 'true') {
    test(`${label}: ${variable} must be set when CI=true`, (t) => {
      t.fail(
        `${variable} is not set; CI=true forbids skipping engine-backed tests (start it with infra/local/)`,
      );
    });
  } else {
    test.skip(`${label}: skipped because ${variable} is not set (CI=true would fail instead)`, () => {});
  }
  return null;
};

/** A database that exists for one test run; `drop()` removes it even while connections remain. */
export type ThrowawayDatabase = Readonly<{ url: string; name: string; drop(): Promise<void> }>;

const withClient = async <T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url, application_name: 'lectern-tests' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
};

/**
 * Creates `lectern_test_<random>` on the server `url` points at (the role
 * needs CREATEDB) and returns a URL for it, so a suite migrates and writes
 * into a database nobody else uses. Call `drop()` in `test.after.always`.
 *
 * @example
 *   const db = await freshDatabase(process.env.DATABASE_URL!);
 *   const sql = postgresSql(db.url);
 *   test.after.always(async () => { await sql.close(); await db.drop(); });
 */
export const freshDatabase = async (
  url: string,
  name = `lectern_test_${randomBytes(6).toString('hex')}`,
): Promise<ThrowawayDatabase> => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a safe database name: ${name}`);
  await withClient(url, (c) => c.query(`create database ${name}`));
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    name,
    drop: async () => {
      // `with (force)` (PostgreSQL 13+) ends sessions a failed test left open.
      await withClient(url, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
};

/**
 * Deletes what a test namespace left in Kafka: the consumer groups and
 * topics named `<namespace>.…` or `…-<namespace>`. Call it once the
 * namespace's clients have closed: kafkajs keeps refreshing the metadata of
 * every topic a client used, which would create them again.
 *
 * @example
 *   await log.close();
 *   await dropKafkaNamespace(process.env.KAFKA_BROKERS!, ns);
 */
export const dropKafkaNamespace = async (brokers: string, namespace: string): Promise<void> => {
  const admin = new Kafka({
    clientId: 'lectern-test-cleanup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const mine = (name: string) => name.startsWith(`${namespace}.`) || name.endsWith(`-${namespace}`);
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter(mine);
    await admin.deleteGroups(groups).catch(() => {});
    const topics = (await admin.listTopics()).filter(mine);
    await admin.deleteTopics({ topics }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
};

/**
 * A Kafka log as the suites of one broker use it: short sessions and
 * fetch waits, so a rebalance or an idle partition costs a test seconds,
 * not minutes; the client's own logging off (failures reach the test).
 *
 * @example const log = kafkaTestLog(process.env.KAFKA_BROKERS!, 'analytics-tests');
 */
export const kafkaTestLog = (brokers: string, clientId: string): MessageLog =>
  kafkaLog({
    brokers,
    clientId,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 6000,
    maxWaitTimeInMs: 200,
    log: () => {},
    onError: () => {},
  });
