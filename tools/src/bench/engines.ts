import { freshDatabase, type ThrowawayDatabase } from '@lectern/infra/testing/engines';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '@lectern/infra/runtime/logger';
import { pgliteSql } from '@lectern/infra/sql/pglite';
import { postgresSql } from '@lectern/infra/sql/postgres';

/** Engines the bench may use, from the environment; null = not set, the sections that need it are skipped. */
export type Engines = Readonly<{ databaseUrl: string | null; kafkaBrokers: readonly string[] | null }>;

export const enginesFromEnv = (env: Readonly<Record<string, string | undefined>>): Engines => ({
  databaseUrl: env.DATABASE_URL?.trim() || null,
  kafkaBrokers: env.KAFKA_BROKERS?.trim() ? env.KAFKA_BROKERS.split(',').map((b) => b.trim()) : null,
});

/** A name nobody else uses, for databases, topics and consumer groups the bench creates. */
export const benchId = (): string => `bench_${randomBytes(5).toString('hex')}`;

/**
 * The infra logs JSON lines on stdout, where the bench's one JSON document
 * goes, so the parts the bench starts log nothing; failures reach the bench
 * as rejected promises and timeouts instead.
 */
export const quietLogger = (): Logger => createLogger({ level: 'silent' });

export type { ThrowawayDatabase };

/** `create database bench_<random>` on the server `url` points at; `drop()` removes it, connections or not. */
export const throwawayDatabase = (url: string): Promise<ThrowawayDatabase> => freshDatabase(url, benchId());

/** Runs `fn` against a fresh database and drops it afterwards, whatever happens. */
export const withDatabase = async <T>(url: string, fn: (db: ThrowawayDatabase) => Promise<T>): Promise<T> => {
  const db = await throwawayDatabase(url);
  try {
    return await fn(db);
  } finally {
    await db
      .drop()
      .catch((error: unknown) =>
        process.stderr.write(`[bench] could not drop ${db.name}: ${String(error)}\n`),
      );
  }
};

/** The version field of an installed package's package.json (found by walking up from its entry point). */
export const packageVersion = async (name: string): Promise<string | null> => {
  try {
    const require = createRequire(import.meta.url);
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 6; i++) {
      try {
        const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
          name?: string;
          version?: string;
        };
        if (pkg.name === name) return pkg.version ?? null;
      } catch {
        // Not here: go up.
      }
      dir = dirname(dir);
    }
    return (require(`${name}/package.json`) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
};

export const postgresVersion = async (url: string): Promise<string> => {
  const sql = postgresSql(url, { max: 1, applicationName: 'lectern-bench' });
  try {
    const [row] = await sql.query<{ v: string }>("select current_setting('server_version') as v");
    return row!.v;
  } finally {
    await sql.close();
  }
};

export const pgliteVersion = async (): Promise<string> => {
  const sql = await pgliteSql(null);
  try {
    const [row] = await sql.query<{ v: string }>("select current_setting('server_version') as v");
    return row!.v;
  } finally {
    await sql.close();
  }
};
