import knex, { type Knex } from 'knex';
import { sqlState, UNIQUE_VIOLATION, type Sql } from './sql.ts';

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

/**
 * Brings one module's schema up to date. Each module keeps its own knex
 * bookkeeping table, so modules migrate independently and in any order.
 *
 * @example
 *   await migrate(sql, 'event_store', eventStoreMigrations);
 */
export const migrate = async (sql: Sql, module: string, migrations: readonly Migration[]): Promise<void> => {
  // knex creates its bookkeeping tables before taking its migration lock, so
  // two processes starting together can race there; the loser tries again
  // and finds the work done or the lock held.
  for (let attempt = 1; ; attempt++) {
    const k = knex(sql.knexConfig);
    try {
      await k.migrate.latest({
        migrationSource: source(migrations),
        tableName: `knex_migrations_${module}`,
        disableMigrationsListValidation: true,
      });
      return;
    } catch (error) {
      const code = sqlState(error);
      // 23505 and 42710: the same row or type created twice; 42P07: the same table.
      const raced =
        code === UNIQUE_VIOLATION ||
        code === '42710' ||
        code === '42P07' ||
        /already locked/i.test(String(error));
      if (!raced || attempt >= 10) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.random() * 50));
    } finally {
      await k.destroy();
    }
  }
};

/** Rolls one module's schema all the way down (tests and `lectern migrate down`). */
export const migrateDown = async (
  sql: Sql,
  module: string,
  migrations: readonly Migration[],
): Promise<void> => {
  const k = knex(sql.knexConfig);
  try {
    await k.migrate.rollback(
      {
        migrationSource: source(migrations),
        tableName: `knex_migrations_${module}`,
        disableMigrationsListValidation: true,
      },
      true,
    );
  } finally {
    await k.destroy();
  }
};
