import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RequestHandler } from 'express';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { ensureSigningKey, openFolderStore } from '@lectern/infra/blobs/folder-store';
import { openMinioStore } from '@lectern/infra/blobs/minio-store';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { ChdbFolderInUse, chdbStore } from '@lectern/infra/analytics/chdb-store';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import type { ChSql } from '@lectern/infra/analytics/sql';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { instrumentedStore } from '@lectern/infra/event-store/instrumented';
import { kurrentEventStore } from '@lectern/infra/event-store/kurrentdb';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import { kafkaLog } from '@lectern/infra/message-log/kafka';
import { pgliteSql, postgresSql, type Sql } from '@lectern/infra/sql/index';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { Metrics } from '@lectern/infra/runtime/metrics';
import type { Config } from './config.ts';
import { claimDatabase } from './deployment.ts';

/**
 * The analytics store: the ClickHouse server `CLICKHOUSE_URL` names, else
 * chDB in `<dataDir>/chdb`.
 *
 * chDB opens one data folder per process. A second Lectern started in the
 * same process (tests and benches do that) on another data folder therefore
 * shares the folder already open, in a database of its own named after its
 * data folder, so that neither sees the other's rows. A process started by
 * `main.ts` holds one Lectern and never takes this path. Two processes
 * cannot share a folder at all (chDB locks it): several processes on one
 * machine need CLICKHOUSE_URL, or a LECTERN_DATA_DIR each.
 */
const openAnalyticsStore = (config: Config, logger: Logger): AnalyticsStore => {
  if (config.clickhouseUrl) return clickhouseStore({ url: config.clickhouseUrl });
  const path = join(config.dataDir, 'chdb');
  try {
    return chdbStore({ path });
  } catch (error) {
    // chDB prints the reason to stderr ("Cannot lock file …/status"); the error only says it failed.
    if (/Failed to create connection/.test((error as Error).message ?? ''))
      throw new Error(
        `chDB could not open ${resolve(path)} (its own lines above say why). Most often another process ` +
          'holds the folder: chDB serves one process per folder, so give each process its own ' +
          'LECTERN_DATA_DIR, or point them all at one ClickHouse server (CLICKHOUSE_URL).',
        { cause: error },
      );
    if (!(error instanceof ChdbFolderInUse)) throw error;
    const database = `lectern_${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 16)}`;
    logger.info(
      { wanted: path, open: error.openPath, database },
      'chDB opens one data folder per process: sharing the open one, in a database of its own',
    );
    return chdbStore({ path: error.openPath, database });
  }
};

/**
 * Step 1 of the composition root: one adapter per port, chosen from the
 * configuration (an unset URL means the embedded engine): PostgreSQL or
 * PGlite, claimed for this deployment's namespace; KurrentDB or the SQL
 * event store; Kafka or the SQL log; ClickHouse or chDB for the roles that
 * use it, with the `analyticsSchemas` the modules bring ensured in it. Each
 * is put on `closers` as soon as it is open, so a start that fails half-way
 * closes what it opened.
 */
export const openEngines = async (
  config: Config,
  {
    logger,
    metrics,
    closers,
    analyticsSchemas,
    publicUrl,
  }: {
    logger: Logger;
    metrics: Metrics;
    closers: (() => Promise<void>)[];
    /** Where clients reach this process: the folder blob store's URLs point there. */
    publicUrl: string;
    /** Every module's analytics tables, as DDL for the store's database (`ContextModule.analyticsSchema`). */
    analyticsSchemas: readonly ((database: string) => readonly ChSql[])[];
  },
): Promise<{
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  analytics: AnalyticsStore | null;
  blobs: OpenedBlobs;
}> => {
  const sql = config.databaseUrl
    ? postgresSql(config.databaseUrl, { max: 20 })
    : await pgliteSql(join(config.dataDir, 'pglite'));
  closers.unshift(() => sql.close());
  await claimDatabase(sql, config.namespace);
  const store = instrumentedStore(
    config.eventStoreUrl ? await kurrentEventStore(config.eventStoreUrl) : await sqlEventStore(sql),
    metrics,
  );
  closers.unshift(() => store.close());
  const log = config.kafkaBrokers
    ? kafkaLog({
        brokers: [...config.kafkaBrokers],
        clientId: `lectern-${process.pid}`,
        sessionTimeout: config.kafkaSessionTimeoutMs,
        // Kafka wants it well under a third of the session; a tenth keeps a slow beat harmless.
        heartbeatInterval: Math.max(100, Math.floor(config.kafkaSessionTimeoutMs / 10)),
        log: (entry) => logger[entry.level]({ kafka: entry.namespace, ...entry.extra }, entry.message),
        onError: (error, context) => logger.warn({ err: error, context }, 'message log'),
      })
    : await sqlLog(sql, {
        onError: (error, context) => logger.warn({ err: error, context }, 'message log'),
      });
  closers.unshift(() => log.close());
  // Reports (api), the analytics projector (projections) and the PDF reports worker (workers) use the
  // store; the relay alone does not.
  const analytics = (['api', 'projections', 'workers'] as const).some((r) => config.roles.includes(r))
    ? openAnalyticsStore(config, logger)
    : null;
  if (analytics) {
    closers.unshift(() => analytics.close());
    // One call, so the server's version is checked even when no module keeps tables there.
    await analytics.ensureSchema(analyticsSchemas.flatMap((schema) => schema(analytics.database)));
  }
  const blobs = await openBlobs(config, publicUrl);
  closers.unshift(() => blobs.store.close());
  logger.info(
    {
      eventStore: config.eventStoreUrl ? 'kurrentdb' : sql.kind,
      log: config.kafkaBrokers ? 'kafka' : sql.kind,
      readModels: sql.kind,
      analytics: analytics?.engine ?? 'none',
      blobs: config.s3 ? 's3' : 'folder',
      roles: config.roles,
    },
    'engines ready',
  );
  return { sql, store, log, analytics, blobs };
};

/** The blob store, and for the folder store the router that serves its URLs (mounted at `/blobs`). */
export type OpenedBlobs = Readonly<{ store: BlobStore; router: RequestHandler | null }>;

/**
 * MinIO (or another S3-compatible server) at `S3_ENDPOINT`, its secret read
 * from the file `S3_SECRET_KEY_FILE` names; else a folder under `dataDir`
 * whose URLs this process signs with a key kept beside it and serves at
 * `<publicUrl>/blobs`.
 */
const openBlobs = async (config: Config, publicUrl: string): Promise<OpenedBlobs> => {
  if (config.s3) {
    const secretKey = (await readFile(config.s3.secretKeyFile, 'utf8')).trim();
    const store = await openMinioStore({
      endpoint: config.s3.endpoint,
      ...(config.s3.publicEndpoint ? { publicEndpoint: config.s3.publicEndpoint } : {}),
      ...(config.s3.region ? { region: config.s3.region } : {}),
      accessKey: config.s3.accessKey,
      secretKey,
      bucket: config.s3.bucket,
    });
    return { store, router: null };
  }
  const root = join(config.dataDir, 'blobs');
  const { store, router } = await openFolderStore({
    root,
    signingKey: await ensureSigningKey(join(config.dataDir, 'blobs-signing.key')),
    baseUrl: `${publicUrl}/blobs`,
  });
  return { store, router };
};
