import type { TestFn } from 'ava';
import { pgliteSql, postgresSql, type Sql } from '../sql/index.ts';
import { freshDatabase, requireEngine } from './engines.ts';

/** A database of its own for one test, and how to let it go (closed, and dropped where it is a server's). */
export type TestDatabase = Readonly<{ sql: Sql; close(): Promise<void> }>;
export type SqlEngine = Readonly<{
  name: 'pglite' | 'postgres';
  /** As a test title names it. */
  title: 'PGlite' | 'PostgreSQL';
  open(): Promise<TestDatabase>;
}>;

/**
 * The SQL engines a suite runs on, the same tests on each: PGlite (in
 * process) always, PostgreSQL where `DATABASE_URL` is set, as
 * `requireEngine` rules (a failing test under `CI=true` when it is not).
 *
 * @example
 *   for (const { name, open } of sqlEngines(test, 'array literals'))
 *     test(`${name}: …`, async (t) => {
 *       const { sql, close } = await open();
 *       try { … } finally { await close(); }
 *     });
 */
export const sqlEngines = (test: TestFn, label: string): SqlEngine[] => {
  const engines: SqlEngine[] = [
    {
      name: 'pglite',
      title: 'PGlite',
      open: async () => {
        const sql = await pgliteSql(null);
        return { sql, close: () => sql.close() };
      },
    },
  ];
  const url = requireEngine(test, 'DATABASE_URL', `${label} on PostgreSQL`);
  if (url) engines.push({ name: 'postgres', title: 'PostgreSQL', open: () => postgresTestDatabase(url) });
  return engines;
};

/** A fresh database on the PostgreSQL server at `url`, dropped when closed. */
export const postgresTestDatabase = async (url: string): Promise<TestDatabase> => {
  const db = await freshDatabase(url);
  const sql = postgresSql(db.url);
  return {
    sql,
    close: async () => {
      await sql.close();
      await db.drop();
    },
  };
};
