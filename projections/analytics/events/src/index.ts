/**
 * The analytics read models in ClickHouse (chDB when embedded): the
 * `events` table with its rollups, how log messages become its rows, and
 * the projector that feeds it from the log, and its verified rebuild.
 */
export * from './schema.ts';
export * from './rows.ts';
export * from './projector.ts';
export * from './rebuild.ts';
