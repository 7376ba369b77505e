import type { Knex } from 'knex';

/**
 * The slice of PostgreSQL every Postgres-backed adapter needs, implemented by
 * the `pg` driver (a server) and by PGlite (in process). Adapters are written
 * once against it, so the embedded profile runs the same SQL as production.
 *
 * @example
 *   const rows = await sql.query<{ n: number }>('select $1::int as n', [1]);
 *   await sql.transaction(async (tx) => { await tx.query('insert …'); });
 */
export interface SqlExecutor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Loads `lines` (COPY's text format, each made by `copyLine`) into
   * `columns` of `table` with COPY: what a bulk load writes with, at half
   * the server's cost of an insert from arrays. No `on conflict`: a
   * duplicate key fails the whole load.
   */
  copyIn(table: string, columns: readonly string[], lines: string): Promise<void>;
}

export interface Sql extends SqlExecutor {
  readonly kind: 'postgres' | 'pglite';
  /** How knex reaches the same database, for migrations. */
  readonly knexConfig: Knex.Config;
  /** Runs a script of several statements (DDL), without parameters. */
  exec(script: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Calls `onNotify` for each NOTIFY on `channel`; resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** SQLSTATE of a failed query, when the engine gave one. */
export const sqlState = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;

export const UNIQUE_VIOLATION = '23505';

/** Quotes an identifier for interpolation into SQL (table names of shadow tables and the like). */
export const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
};

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;

/**
 * A one-dimensional array parameter as PostgreSQL's array literal
 * (`{"a","b c",NULL,3}`), for `$n::text[]` and the like. The same text the
 * driver would send, made in one pass: `pg` escapes every element with two
 * replaces and walks it again, which costs a bulk load (a rebuild's page of
 * column arrays for `unnest`) more than the insert itself. Strings are
 * quoted, and escaped only when they hold a quote or a backslash; numbers
 * and bigints go as they print; null is NULL.
 *
 * @example
 *   await sql.query('select * from unnest($1::text[])', [sqlArray(['a', null])]);
 */
export const sqlArray = (values: readonly (string | number | bigint | null)[]): string => {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v !== 'string') out += String(v);
    else out += NEEDS_ESCAPE.test(v) ? `"${v.replace(ESCAPED, '\\$&')}"` : `"${v}"`;
  }
  return `${out}}`;
};

/** A value COPY's text format needs escaped: a backslash, or what separates fields and rows. */
const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIALS = /[\\\n\r\t]/g;
const COPY_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * One row in COPY's text format, for `copyIn`: fields separated by tabs,
 * null as `\N`, a backslash, newline, carriage return or tab in a string
 * escaped; numbers and bigints as they print. Ends with its newline.
 *
 * @example
 *   await tx.copyIn(table, ['id', 'note'], copyLine(['a', null]) + copyLine(['b', 'x\ty']));
 */
export const copyLine = (values: readonly (string | number | bigint | null)[]): string => {
  let out = '';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += '\t';
    if (v === null || v === undefined) out += '\\N';
    else if (typeof v !== 'string') out += String(v);
    else out += COPY_SPECIAL.test(v) ? v.replace(COPY_SPECIALS, (c) => COPY_ESCAPES[c]!) : v;
  }
  return `${out}\n`;
};

/** The COPY statement that loads `columns` of `table` from the client (`stdin`), or from where an engine says. */
export const copyStatement = (table: string, columns: readonly string[], source = 'stdin'): string =>
  `copy ${table} (${columns.map(ident).join(', ')}) from ${source}`;

/**
 * Runs statements side by side (on PostgreSQL, each on a connection of its
 * own; PGlite's one connection takes them in turn) and waits for every one
 * before it throws the first failure, so none is left running behind it.
 *
 * @example
 *   await sideBySide(indexes.map((definition) => sql.exec(definition)));
 */
export const sideBySide = async (works: readonly (Promise<unknown> | undefined)[]): Promise<void> => {
  const failed = (await Promise.allSettled(works)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
};
