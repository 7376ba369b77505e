import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clickhouseStore } from '@lectern/infra/analytics/clickhouse-store';
import { ch, ident } from '@lectern/infra/analytics/sql';
import { startServerProcess, type ServerProcess } from '@lectern/server/process';
import { benchId, throwawayDatabase, type ThrowawayDatabase } from '../src/bench/engines.ts';
import { dropKafkaNamespace } from '../src/bench/logs.ts';
import { progress } from './measure.ts';

export const PROFILES = ['embedded', 'distributed'] as const;
export type Profile = (typeof PROFILES)[number];

/** A server under load, in a process of its own, and what it takes to leave nothing behind. */
export type Deployment = Readonly<{ url: string; server: ServerProcess; stop(): Promise<void> }>;

/** What the distributed profile is missing from `env`, empty when it can run. */
export const missingEngines = (env: Readonly<Record<string, string | undefined>>): string[] =>
  ['DATABASE_URL', 'KAFKA_BROKERS'].filter((name) => !env[name]?.trim());

/** Runs every cleanup step, each on its own, so one that fails does not leave the others undone. */
const cleanup = async (steps: readonly (readonly [string, () => Promise<unknown>])[]): Promise<void> => {
  for (const [what, step] of steps)
    await step().catch((error: unknown) => progress(`could not ${what}: ${String(error)}`));
};

/**
 * Starts the whole backend, every role in one process, for a load run.
 *
 * - `embedded`: no engine URL, a temporary LECTERN_DATA_DIR (PGlite, the
 *   table log, chDB, the folder store), as `./dev start` runs it.
 * - `distributed`: a fresh PostgreSQL database, a Kafka namespace and a
 *   ClickHouse database of its own, and the shared Redis and S3 the
 *   environment names; what is its own is dropped or deleted by `stop()`.
 *   Mail stays in the development mailbox (no SMTP_URL), which is where the
 *   auth scenario reads its verification tokens.
 *
 * @example const d = await deploy('embedded', process.env); … await d.stop();
 */
export const deploy = async (
  profile: Profile,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Deployment> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-load-'));
  const steps: [string, () => Promise<unknown>][] = [
    [
      `remove ${dataDir}`,
      () => rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }),
    ],
  ];
  try {
    const serverEnv: Record<string, string> = { LECTERN_DATA_DIR: dataDir };
    if (profile === 'distributed') {
      const missing = missingEngines(env);
      if (missing.length) throw new Error(`the distributed profile needs ${missing.join(' and ')}`);
      const namespace = benchId();
      const brokers = env.KAFKA_BROKERS!.split(',').map((b) => b.trim());
      const db: ThrowawayDatabase = await throwawayDatabase(env.DATABASE_URL!.trim());
      steps.unshift([`drop ${db.name}`, () => db.drop()]);
      steps.unshift([`delete kafka namespace ${namespace}`, () => dropKafkaNamespace(brokers, namespace)]);
      Object.assign(serverEnv, {
        DATABASE_URL: db.url,
        KAFKA_BROKERS: brokers.join(','),
        LECTERN_NAMESPACE: namespace,
      });
      const clickhouse = env.CLICKHOUSE_URL?.trim();
      if (clickhouse) {
        // The server creates the database its URL names; the shared one belongs to whoever else runs.
        const url = new URL(clickhouse);
        url.pathname = `/${namespace}`;
        serverEnv.CLICKHOUSE_URL = url.toString();
        steps.unshift([
          `drop ClickHouse database ${namespace}`,
          async () => {
            const store = clickhouseStore({ url: url.toString() });
            try {
              await store.exec(ch`DROP DATABASE IF EXISTS ${ident(namespace)}`);
            } finally {
              await store.close();
            }
          },
        ]);
      }
      // Redis keys are scoped by the namespace, S3 objects by this run's own ids. SMTP_URL is left
      // out on purpose: the auth scenario reads verification mail from the development mailbox.
      for (const name of [
        'REDIS_URL',
        'REDIS_PASSWORD_FILE',
        'S3_ENDPOINT',
        'S3_ACCESS_KEY',
        'S3_SECRET_KEY_FILE',
      ]) {
        const value = env[name]?.trim();
        if (value) serverEnv[name] = value;
      }
    }
    const server = await startServerProcess(serverEnv);
    steps.unshift(['stop the server', () => server.stop()]);
    return { url: server.url, server, stop: () => cleanup(steps) };
  } catch (error) {
    await cleanup(steps);
    throw error;
  }
};
