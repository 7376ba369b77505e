import knex, { type Knex } from 'knex';
import { sqlState, type Sql, type SqlExecutor } from './sql.ts';

/** One schema change with its inverse; both idempotent. */
export type Migration = Readonly<{
  name: string;
  up: (k: Knex) => Promise<unknown>;
  down: (k: Knex) => Promise<unknown>;
}>;

/** Migrations written as SQL text: the form most of ours take. */
export const sqlMigration = (name: string, up: string, down: string): Migration => ({
  name,
  up: (k) => k.raw(up),
  down: (k) => k.raw(down),
});

const source = (migrations: readonly Migration[]): Knex.MigrationSource<Migration> => ({
  getMigrations: async () => [...migrations],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => ({ up: m.up, down: m.down }),
});

/** How long `migrate` waits, by default, for another process migrating the same module. */
export const DEFAULT_MIGRATION_LOCK_WAIT_MS = 120_000;

export type MigrateOptions = Readonly<{
  /**
   * How long to wait for another process that is migrating the same module
   * (default 2 minutes): on a loaded machine a migration may take long, and
   * waiting costs nothing while the other process works.
   */
  lockWaitMs?: number;
}>;

/** Thrown when another process held a module's migration lock for longer than `lockWaitMs`. */
export class MigrationLockTimeout extends Error {
  readonly code = 'migration_lock_timeout';
  constructor(module: string, waitedMs: number, options?: { cause: unknown }) {
    super(
      `gave up after ${waitedMs} ms waiting for another process migrating ${module} ` +
        '(is one stuck? see pg_stat_activity for a session waiting on or holding an advisory lock)',
      options,
    );
    this.name = 'MigrationLockTimeout';
  }
}

const LOCK_NOT_AVAILABLE = '55P03';

// One migration at a time per handle: PGlite serves knex and the handle on
// one connection, and one process's modules need not race each other.
const queues = new WeakMap<Sql, Promise<unknown>>();
const oneAtATime = <T>(sql: Sql, fn: () => Promise<T>): Promise<T> => {
  const run = (queues.get(sql) ?? Promise.resolve()).then(fn, fn);
  queues.set(
    sql,
    run.catch(() => {}),
  );
  return run;
};

/**
 * Runs `fn` (a knex migration of `module`) while holding the module's lock
 * against every other process on the same database.
 *
 * knex's own lock cannot serve alone: before taking it, knex creates its
 * bookkeeping tables and inserts the lock row with a check-then-insert, so
 * two processes starting together can both insert one. With two lock rows
 * knex's `update … where is_locked = 0` changes two rows, which it reads as
 * "already locked", and every later migration of that module fails. A
 * transaction-scoped advisory lock makes the processes take turns instead;
 * it is released when the holder commits, rolls back or dies.
 */
const withModuleLock = <T>(sql: Sql, module: string, lockWaitMs: number, fn: () => Promise<T>): Promise<T> =>
  oneAtATime(sql, async () => {
    // Quoted as knex quotes it (the module name is ours, not a user's).
    const lockTable = `"${`knex_migrations_${module}_lock`.replaceAll('"', '""')}"`;
    const heal = async (q: SqlExecutor) => {
      // A database migrated before this lock existed may hold the second row
      // of such a race; under the lock, keeping the first is safe.
      const [row] = await q.query<{ t: string | null }>('select to_regclass($1)::text as t', [lockTable]);
      if (row?.t)
        await q.query(`delete from ${lockTable} where index > (select min(index) from ${lockTable})`);
    };
    // PGlite is one process's database: the queue above is lock enough.
    if (sql.kind === 'pglite') {
      await heal(sql);
      return fn();
    }
    return sql
      .transaction(async (tx) => {
        await tx.query("select set_config('lock_timeout', $1, true)", [`${lockWaitMs}ms`]);
        await tx.query("select pg_advisory_xact_lock(hashtextextended('lectern.migrate.' || $1, 0))", [
          module,
        ]);
        await heal(tx);
        return fn();
      })
      .catch((error: unknown) => {
        if (sqlState(error) === LOCK_NOT_AVAILABLE)
          throw new MigrationLockTimeout(module, lockWaitMs, { cause: error });
        throw error;
      });
  });

const tableName = (module: string) => `knex_migrations_${module}`;

// knex gives up on a connection after 60 s by default, and its pool (tarn)
// gives up on opening one after 30 s and fails the waiting query at once,
// whatever `acquireConnectionTimeout` says. Beside stress-ng a new backend on
// a freshly created database took longer than that. A server that is busy
// enough to be slow is no reason for a process not to start: both waits get
// the same generous bound as the lock.
const knexFor = (sql: Sql) =>
  knex({
    ...sql.knexConfig,
    acquireConnectionTimeout: DEFAULT_MIGRATION_LOCK_WAIT_MS,
    // PGlite lends knex its one connection and refuses a pool setting.
    ...(sql.knexConfig.pool && {
      pool: { ...sql.knexConfig.pool, createTimeoutMillis: DEFAULT_MIGRATION_LOCK_WAIT_MS },
    }),
  });

/**
 * Brings one module's schema up to date. Each module keeps its own knex
 * bookkeeping table, so modules migrate independently and in any order;
 * processes migrating the same module take turns (see `withModuleLock`).
 *
 * @example
 *   await migrate(sql, 'event_store', eventStoreMigrations);
 */
export const migrate = (
  sql: Sql,
  module: string,
  migrations: readonly Migration[],
  options: MigrateOptions = {},
): Promise<void> =>
  withModuleLock(sql, module, options.lockWaitMs ?? DEFAULT_MIGRATION_LOCK_WAIT_MS, async () => {
    const k = knexFor(sql);
    try {
      await k.migrate.latest({
        migrationSource: source(migrations),
        tableName: tableName(module),
        disableMigrationsListValidation: true,
      });
    } finally {
      await k.destroy();
    }
  });

/** Rolls one module's schema all the way down (tests; the CLI has no such command). */
export const migrateDown = (
  sql: Sql,
  module: string,
  migrations: readonly Migration[],
  options: MigrateOptions = {},
): Promise<void> =>
  withModuleLock(sql, module, options.lockWaitMs ?? DEFAULT_MIGRATION_LOCK_WAIT_MS, async () => {
    const k = knexFor(sql);
    try {
      await k.migrate.rollback(
        {
          migrationSource: source(migrations),
          tableName: tableName(module),
          disableMigrationsListValidation: true,
        },
        true,
      );
    } finally {
      await k.destroy();
    }
  });
