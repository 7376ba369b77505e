import { topicOf } from '@lectern/schemas';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import { POOL_SIZE } from './append.ts';
import { benchId, withDatabase, type Engines } from './engines.ts';
import { prefill, relayToHead, type RelayRun } from './fixtures.ts';
import { dropKafkaNamespace, openKafkaLog, openSqlLog } from './logs.ts';
import { progress } from './stats.ts';

const TIMEOUT_MS = 180_000;

type Outcome = (RelayRun & { prefillSeconds: number }) | { skipped: string } | { error: string };

/** One store → log run: fill the store, open the log, relay to the head. */
const measure = async (
  label: string,
  sql: Sql,
  openLog: () => Promise<MessageLog>,
  namespace: string,
  events: number,
): Promise<Outcome> => {
  const topic = topicOf('profile', namespace);
  const store = await sqlEventStore(sql);
  let log: MessageLog | null = null;
  try {
    const filled = await prefill(store, {
      events,
      perStream: 10,
      concurrency: sql.kind === 'postgres' ? 8 : 1,
    });
    log = await openLog();
    // The topic exists before the clock starts, as it does in a running system.
    await log.ensureTopics([{ topic, partitions: 4 }]);
    const run = await relayToHead({
      store,
      sql,
      log,
      topic,
      namespace,
      expected: filled.events,
      timeoutMs: TIMEOUT_MS,
    });
    progress(
      `relay ${label}: ${run.perSecond} ev/s (${run.events} events in ${run.seconds} s; log holds ${run.messagesInLog})`,
    );
    return { ...run, prefillSeconds: filled.seconds };
  } catch (error) {
    progress(`relay ${label} failed: ${(error as Error).stack ?? String(error)}`);
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  } finally {
    await log?.close().catch(() => {});
    await store.close();
  }
};

/**
 * The relay's throughput from a store already holding `events` events to
 * the log: PostgreSQL → Kafka (topics under a bench-only namespace, deleted afterwards),
 * PostgreSQL → the SQL log in the same database, PGlite → the SQL log.
 */
export const relaySection = async (engines: Engines, events: number) => {
  const result: Record<string, Outcome> = {};
  const pg = engines.databaseUrl;

  if (pg && engines.kafkaBrokers) {
    const brokers = engines.kafkaBrokers;
    const prefix = benchId();
    result.postgresToKafka = await withDatabase(pg, async (db) => {
      const sql = postgresSql(db.url, { max: POOL_SIZE, applicationName: 'lectern-bench' });
      try {
        return await measure(
          'postgres → kafka',
          sql,
          () => openKafkaLog(brokers, `lectern-${prefix}`),
          prefix,
          events,
        );
      } finally {
        await sql.close();
        await dropKafkaNamespace(brokers, prefix).catch((e: unknown) =>
          progress(`could not drop kafka topics ${prefix}.*: ${String(e)}`),
        );
      }
    });
  } else result.postgresToKafka = { skipped: !pg ? 'DATABASE_URL not set' : 'KAFKA_BROKERS not set' };

  if (pg) {
    result.postgresToSqlLog = await withDatabase(pg, async (db) => {
      const sql = postgresSql(db.url, { max: POOL_SIZE, applicationName: 'lectern-bench' });
      try {
        return await measure('postgres → sql log', sql, () => openSqlLog(sql), 'lectern', events);
      } finally {
        await sql.close();
      }
    });
  } else result.postgresToSqlLog = { skipped: 'DATABASE_URL not set' };

  {
    const sql = await pgliteSql(null);
    try {
      result.pgliteToSqlLog = await measure(
        'pglite → sql log',
        sql,
        () => openSqlLog(sql),
        'lectern',
        events,
      );
    } finally {
      await sql.close();
    }
  }

  return {
    method:
      `pre-append ${events} profile events (10 per stream) into a fresh store, create the topic (4 partitions), then time ` +
      `startRelay (batch 1000) until its saved checkpoint equals the store's head cursor; messagesInLog = sum of the topic's end offsets afterwards`,
    ...result,
  };
};
