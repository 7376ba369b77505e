export * from './sql.ts';
export { postgresSql } from './postgres.ts';
export { pgliteSql } from './pglite.ts';
export * from './migrate.ts';
