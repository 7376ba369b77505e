import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { analyticsIngestFlow, INGEST_KEY_DIGESTS } from './analytics-ingest-flow.ts';
import { loadConfig } from './config.ts';

const tempDir = () => mkdtemp(join(tmpdir(), 'lectern-ingest-'));

// Embedded: PGlite, the log in PGlite tables, chDB in the data folder.
analyticsIngestFlow(test, 'embedded', async () => {
  const dir = await tempDir();
  return {
    config: loadConfig({
      PORT: '0',
      LECTERN_DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      ANALYTICS_INGEST_KEYS: INGEST_KEY_DIGESTS,
    }),
    cleanup: async (lectern) => {
      await lectern.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'ingest on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'ingest on Kafka');
const clickhouseUrl = requireEngine(test, 'CLICKHOUSE_URL', 'ingest into ClickHouse');
if (databaseUrl && brokers && clickhouseUrl)
  analyticsIngestFlow(test, 'postgres+kafka+clickhouse', async () => {
    const dir = await tempDir();
    const db = await freshDatabase(databaseUrl);
    // A ClickHouse database of the run's own: the URL's path names it.
    const analytics = new URL(clickhouseUrl);
    analytics.pathname = `/lectern_test_${randomBytes(6).toString('hex')}`;
    return {
      config: loadConfig({
        PORT: '0',
        LECTERN_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers,
        CLICKHOUSE_URL: analytics.toString(),
        LECTERN_NAMESPACE: `e2e-${db.name}`,
        ANALYTICS_INGEST_KEYS: INGEST_KEY_DIGESTS,
      }),
      cleanup: async (lectern) => {
        const database = lectern.analytics!.database;
        await lectern.stop();
        const admin = clickhouseStore({ url: clickhouseUrl });
        await admin.exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`);
        await admin.close();
        await db.drop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
