import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import knexPglite from 'knex-pglite';
import { copyStatement, type Sql, type SqlExecutor } from './sql.ts';

/**
 * PGlite behind the Sql port. PGlite is a single session that runs one query
 * or transaction at a time (it queues the rest), which is exactly the
 * serialization its one-session engine needs.
 */
export const pgliteSql = async (dataDir: string | null): Promise<Sql & { readonly db: PGlite }> => {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // The contrib modules PostgreSQL installations carry and read models use
  // (search folds accents and matches misspellings), so the embedded profile
  // searches as PostgreSQL does. Each loads only when a migration creates it.
  const db = await PGlite.create(dataDir ?? undefined, { extensions: { pg_trgm, unaccent } });
  const exec = (q: Pick<PGlite, 'query'>): SqlExecutor => ({
    async query<Row>(text: string, params?: readonly unknown[]) {
      return (await q.query<Row>(text, params as unknown[])).rows;
    },
    // PGlite reads COPY's input from the blob it is given, by this name.
    async copyIn(table, columns, lines) {
      await q.query(copyStatement(table, columns, `'/dev/blob'`), [], {
        blob: new Blob([lines]),
      });
    },
  });
  // knex closes its connection when destroyed; the database outlives it.
  const borrowed = {
    // Migrations send several statements at once, which only the simple
    // query protocol (`exec`) accepts; knex's other queries carry bindings.
    query: async (text: string, params?: unknown[], options?: object) => {
      if (params && params.length > 0) return db.query(text, params, options);
      const results = await db.exec(text);
      return results[results.length - 1] ?? { rows: [], fields: [] };
    },
    close: async () => {},
  };
  return {
    kind: 'pglite',
    knexConfig: {
      client: knexPglite as never,
      dialect: 'postgres',
      connection: { pglite: borrowed } as never,
    },
    db,
    ...exec(db),
    exec: async (script) => {
      await db.exec(script);
    },
    transaction: (fn) => db.transaction((tx) => fn(exec(tx))),
    async listen(channel, onNotify) {
      return db.listen(channel, onNotify);
    },
    close: () => db.close(),
  };
};
