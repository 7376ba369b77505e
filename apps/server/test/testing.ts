import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestFn } from 'ava';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import type { Sql } from '@lectern/infra/sql/sql';
import { loadConfig, type Config } from '../src/config.ts';
import { PATIENT_READS } from './patient-reads.ts';
import { startLectern, type Lectern } from '../src/server.ts';

/** How a flow's backend is configured, and what to remove after it has stopped. */
export type ProfileSetup = () => Promise<{ config: Config; cleanup(lectern: Lectern): Promise<void> }>;

/**
 * One whole backend for a test file's flow, started in this process on first
 * use and stopped (then cleaned up) after the file's tests.
 *
 * @example const lectern = sharedLectern(test, setup); const { url } = await lectern();
 */
export const sharedLectern = (test: TestFn, setup: ProfileSetup): (() => Promise<Lectern>) => {
  let ready: Promise<{ lectern: Lectern; cleanup(): Promise<void> }> | null = null;
  test.after.always(async () => {
    if (ready) await (await ready).cleanup();
  });
  return async () =>
    (
      await (ready ??= (async () => {
        const c = await setup();
        const lectern = await startLectern(c.config);
        return {
          lectern,
          cleanup: async () => {
            await lectern.stop();
            await c.cleanup(lectern);
          },
        };
      })())
    ).lectern;
};

/**
 * Registers a flow on the embedded profile (PGlite, the SQL log, chDB, a
 * blob folder) and on the engines (PostgreSQL + Kafka, ClickHouse with
 * `clickhouse`, MinIO with `blobs`), each in a data folder, database,
 * namespace and ClickHouse database of its own (MinIO: one bucket for the
 * e2e runs, keys of their own). In CI a missing engine fails
 * (requireEngine); locally it skips.
 */
export const onEveryProfile = (
  test: TestFn,
  flow: (test: TestFn, name: string, setup: ProfileSetup) => void,
  opts: Readonly<{
    clickhouse?: boolean;
    blobs?: boolean;
    /** E-mail over SMTP into mailpit on the engines profile (the embedded one keeps its development mailbox). */
    mail?: boolean;
    /** Presence in Redis on the engines profile (the embedded one keeps it in process). */
    redis?: boolean;
    env?: Readonly<Record<string, string>>;
  }> = {},
): void => {
  const tempDir = () => mkdtemp(join(tmpdir(), 'lectern-e2e-'));
  const env = opts.env ?? {};
  flow(test, 'embedded', async () => {
    const dir = await tempDir();
    return {
      config: loadConfig({ PORT: '0', LECTERN_DATA_DIR: dir, LOG_LEVEL: 'warn', ...PATIENT_READS, ...env }),
      cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
    };
  });

  const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
  const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka');
  const clickhouseUrl = opts.clickhouse ? requireEngine(test, 'CLICKHOUSE_URL', 'ClickHouse') : null;
  const s3Endpoint = opts.blobs ? requireEngine(test, 'S3_ENDPOINT', 'MinIO') : null;
  const smtpUrl = opts.mail ? requireEngine(test, 'SMTP_URL', 'mailpit') : null;
  const redisUrl = opts.redis ? requireEngine(test, 'REDIS_URL', 'Redis') : null;
  if (
    !databaseUrl ||
    !brokers ||
    (opts.clickhouse && !clickhouseUrl) ||
    (opts.blobs && !s3Endpoint) ||
    (opts.mail && !smtpUrl) ||
    (opts.redis && !redisUrl)
  )
    return;
  const s3 = s3Endpoint
    ? {
        S3_ENDPOINT: s3Endpoint,
        S3_ACCESS_KEY: process.env.S3_ACCESS_KEY ?? '',
        S3_SECRET_KEY_FILE: process.env.S3_SECRET_KEY_FILE ?? '',
        S3_BUCKET: 'lectern-e2e',
      }
    : {};
  const name = [
    'postgres',
    'kafka',
    ...(opts.clickhouse ? ['clickhouse'] : []),
    ...(opts.blobs ? ['minio'] : []),
    ...(opts.mail ? ['mailpit'] : []),
    ...(opts.redis ? ['redis'] : []),
  ];
  flow(test, name.join('+'), async () => {
    const dir = await tempDir();
    const db = await freshDatabase(databaseUrl);
    // A ClickHouse database of the run's own: the URL's path names it.
    const analytics = clickhouseUrl ? new URL(clickhouseUrl) : null;
    if (analytics) analytics.pathname = `/lectern_test_${randomBytes(6).toString('hex')}`;
    return {
      config: loadConfig({
        PORT: '0',
        LECTERN_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        ...PATIENT_READS,
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers,
        LECTERN_NAMESPACE: `e2e-${db.name}`,
        ...(analytics ? { CLICKHOUSE_URL: analytics.toString() } : {}),
        ...s3,
        ...(smtpUrl ? { SMTP_URL: smtpUrl } : {}),
        ...(redisUrl
          ? { REDIS_URL: redisUrl, REDIS_PASSWORD_FILE: process.env.REDIS_PASSWORD_FILE ?? '' }
          : {}),
        ...env,
      }),
      cleanup: async (lectern) => {
        if (clickhouseUrl && lectern.analytics) {
          const admin = clickhouseStore({ url: clickhouseUrl });
          await admin.exec(ch`DROP DATABASE IF EXISTS ${ident(lectern.analytics.database)}`);
          await admin.close();
        }
        await db.drop();
        await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      },
    };
  });
};

/**
 * Takes the rebuild lock of model `name` (what a rebuild, diff or audit in
 * another process holds: a transaction-scoped advisory lock) on a session
 * of its own, and resolves once it is held, to a function that gives it up.
 *
 * @example
 *   const release = await holdRebuildLock(l.sql, 'profiles');
 *   try { … 409 projection_busy … } finally { await release(); }
 */
export const holdRebuildLock = async (sql: Sql, name: string): Promise<() => Promise<void>> => {
  const held = Promise.withResolvers<void>();
  const locked = Promise.withResolvers<void>();
  const session = sql.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`lectern.rebuild.${name}`]);
    locked.resolve();
    await held.promise;
  });
  // A session that fails before it takes the lock ends the wait with its error.
  await Promise.race([locked.promise, session]);
  return async () => {
    held.resolve();
    await session;
  };
};
