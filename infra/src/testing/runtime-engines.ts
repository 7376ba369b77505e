import { sqlEventStore } from '../event-store/sql-store.ts';
import { kafkaLog, type KafkaLogOptions } from '../message-log/kafka.ts';
import { sqlLog } from '../message-log/sql-log.ts';
import type { EventStore } from '../ports/event-store.ts';
import type { MessageLog } from '../ports/message-log.ts';
import { pgliteSql, postgresSql, type Sql } from '../sql/index.ts';
import { freshDatabase } from './engines.ts';

/** What the runtime's consumers run on: a database, the event store in it, a message log; and their end. */
export type RuntimeEngines = Readonly<{
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  cleanup(): Promise<void>;
}>;

/**
 * The embedded profile's: PGlite in memory and the SQL log on it, with
 * sessions short enough that a test's group changes settle quickly.
 *
 * @example suite('pglite + sql log', embeddedEngines);
 */
export const embeddedEngines = async (): Promise<RuntimeEngines> => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  const log = await sqlLog(sql, { heartbeatIntervalMs: 200, sessionTimeoutMs: 2000, pollIntervalMs: 200 });
  return {
    sql,
    store,
    log,
    cleanup: async () => (await log.close(), await store.close(), await sql.close()),
  };
};

/**
 * A fresh PostgreSQL database (dropped at the end) and Kafka.
 *
 * @example suite('postgres + kafka', () => postgresKafkaEngines(url, { brokers, clientId: 'my-tests' }));
 */
export const postgresKafkaEngines = async (
  databaseUrl: string,
  kafka: KafkaLogOptions,
): Promise<RuntimeEngines> => {
  const db = await freshDatabase(databaseUrl);
  const sql = postgresSql(db.url);
  const store = await sqlEventStore(sql);
  const log = kafkaLog(kafka);
  return {
    sql,
    store,
    log,
    cleanup: async () => (await log.close(), await store.close(), await sql.close(), await db.drop()),
  };
};
