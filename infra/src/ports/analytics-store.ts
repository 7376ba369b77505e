import type { ChSql } from '../analytics/sql.ts';

/** A row as JSONEachRow carries it: column name → JSON value. */
export type AnalyticsRow = Readonly<Record<string, unknown>>;

/**
 * The analytics database: a ClickHouse server, or chDB (the ClickHouse engine
 * in process) in the embedded profile. Both run the same SQL, kept to what
 * ClickHouse 18.16 understands (see docs/architecture.md, "Analytics").
 *
 * Tables live in the store's own database and are named through `table()`,
 * so the same query runs against any database (tests use one per run).
 * The store knows no table of its own: whoever owns tables (a projection
 * package, through its context module) hands their DDL to `ensureSchema`.
 * Values go into SQL only through the `ch` tag of `analytics/sql.ts`.
 *
 * Duplicates: the log delivers at least once, so a row may be inserted more
 * than once. Tables collapse copies by event id in the background
 * (ReplacingMergeTree), and queries must not depend on that having happened:
 * count with `uniqExact(...)` of an id, or read `FINAL`.
 *
 * Results: 64-bit integers come back as JSON numbers (exact up to 2^53; cast
 * with `toString` in SQL where more is needed), dates as `'YYYY-MM-DD'`.
 *
 * @example
 *   await store.ensureSchema([
 *     ch`CREATE TABLE IF NOT EXISTS ${store.table('visits')} (visit_id String, user_id String, day Date)
 *        ENGINE = ReplacingMergeTree ORDER BY (day, user_id, visit_id)`,
 *   ]);
 *   await store.insert('visits', rows);
 *   const [visitors] = await store.query<{ users: number }>(
 *     ch`SELECT uniqExact(user_id) AS users FROM ${store.table('visits')} WHERE day = ${day}`,
 *   );
 *   for await (const row of store.stream(ch`SELECT * FROM ${store.table('visits')}`)) write(row);
 */
export interface AnalyticsStore {
  readonly engine: 'clickhouse' | 'chdb';
  /** The database holding the store's tables. */
  readonly database: string;
  /** `name` qualified with the store's database, for use in `ch` queries. */
  table(name: string): ChSql;
  /**
   * Creates the store's database if missing, then runs `statements` in
   * order: the DDL of the tables and views its callers own, written to
   * create only what is missing (`IF NOT EXISTS`), so it is idempotent.
   * Refuses an engine older than the SQL is written for (ClickHouse 18.16).
   * The composition root calls it once at start with every module's schema.
   */
  ensureSchema(statements: readonly ChSql[]): Promise<void>;
  /**
   * Inserts rows (JSONEachRow) into one of the store's tables, in batches.
   * Every row names every column the caller means to set; unknown columns
   * are an error. Not atomic across batches: a failed call may have written
   * some batches, which is harmless because copies collapse (see above).
   */
  insert(table: string, rows: readonly AnalyticsRow[]): Promise<void>;
  /** Runs a SELECT and returns all its rows. For large results use `stream`. */
  query<T = AnalyticsRow>(sql: ChSql): Promise<T[]>;
  /**
   * Runs a SELECT and yields its rows in constant memory. Stop early by
   * leaving the loop; the query's resources are released.
   */
  stream<T = AnalyticsRow>(sql: ChSql): AsyncIterable<T>;
  /** Runs a statement that returns no rows (DDL, `OPTIMIZE`). */
  exec(sql: ChSql): Promise<void>;
  /** Resolves when the engine answers; rejects otherwise (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What either adapter throws when the engine refuses or cannot be reached.
 * `clickhouseCode` is ClickHouse's error code when the engine sent one (60:
 * unknown table, 164: read-only, 62: syntax error, …).
 */
export class AnalyticsError extends Error {
  readonly clickhouseCode: number | undefined;
  constructor(message: string, opts: { clickhouseCode?: number | undefined; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'AnalyticsError';
    this.clickhouseCode = opts.clickhouseCode;
  }
}
