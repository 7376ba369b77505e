import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { AnalyticsError, type AnalyticsRow, type AnalyticsStore } from '../ports/analytics-store.ts';
import { ch, ident, isIdentifier, type ChSql } from './sql.ts';

/** The oldest server the analytics SQL is written for (Debian bookworm's package). */
export const MINIMUM_SERVER_VERSION = '18.16';

export type ClickHouseStoreOptions = Readonly<{
  /** `http(s)://user[:password]@host:port/database`; the path names the database (default `lectern`). */
  url: string;
  /** Overrides the URL's database (tests use a fresh one per run). */
  database?: string;
  /** Rows per INSERT request; default 100 000. */
  batchRows?: number;
  /** Socket inactivity limit per request; default 120 s (a long GROUP BY sends nothing until done). */
  requestTimeoutMs?: number;
}>;

/**
 * The ClickHouse code in an error: `@clickhouse/client` parses newer servers'
 * messages, and 18.16's (`Code: 60, e.displayText() = …`) we parse here.
 */
const codeOf = (error: unknown): number | undefined => {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const m = /\bCode: (\d+)/.exec(String((error as Error)?.message ?? error));
  return m ? Number(m[1]) : undefined;
};

const wrap = (what: string, error: unknown): AnalyticsError =>
  error instanceof AnalyticsError
    ? error
    : new AnalyticsError(`ClickHouse ${what} failed: ${(error as Error)?.message ?? String(error)}`, {
        clickhouseCode: codeOf(error),
        cause: error,
      });

/**
 * A request that died on a kept-alive socket the server had just closed (its
 * keep_alive_timeout, 3 s on 18.16 by default, races the client's idle
 * timer), before any answer: sent again once.
 */
const isStaleSocket = (error: unknown): boolean => {
  const code = (error as { code?: unknown })?.code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    /socket hang up/i.test(String((error as Error)?.message ?? ''))
  );
};

const once = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (error) {
    if (!isStaleSocket(error)) throw error;
    return fn();
  }
};

const versionAtLeast = (version: string, minimum: string): boolean => {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
};

/**
 * The AnalyticsStore on a ClickHouse server, over HTTP with
 * `@clickhouse/client`. The client is opened without a database, so that
 * `ensureSchema` can create it; every query names its tables through
 * `table()`.
 *
 * @example
 *   const store = clickhouseStore({ url: process.env.CLICKHOUSE_URL! });
 *   await store.ensureSchema(schema(store.database));
 */
export const clickhouseStore = (opts: ClickHouseStoreOptions): AnalyticsStore => {
  const url = new URL(opts.url);
  const database = opts.database ?? (decodeURIComponent(url.pathname.slice(1)) || 'lectern');
  if (!isIdentifier(database))
    throw new RangeError(`not a usable database name: ${JSON.stringify(database)}`);
  const batchRows = opts.batchRows ?? 100_000;
  const client: ClickHouseClient = createClient({
    url: url.origin,
    username: decodeURIComponent(url.username) || 'default',
    password: decodeURIComponent(url.password),
    application: 'lectern',
    request_timeout: opts.requestTimeoutMs ?? 120_000,
    // Every failure is thrown to the caller, who logs it with its context;
    // the client's own stderr lines would only repeat it.
    log: { level: ClickHouseLogLevel.OFF },
    // Both adapters answer with plain JSON numbers (chDB's default); see the port.
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });

  const table = (name: string): ChSql => ident(database, name);

  const exec = async (sql: ChSql): Promise<void> => {
    try {
      await once(() => client.command({ query: sql.text }));
    } catch (error) {
      throw wrap('statement', error);
    }
  };

  const query = async <T>(sql: ChSql): Promise<T[]> => {
    try {
      return await once(async () => {
        const rs = await client.query({ query: sql.text, format: 'JSONEachRow' });
        return rs.json<T>();
      });
    } catch (error) {
      throw wrap('query', error);
    }
  };

  return {
    engine: 'clickhouse',
    database,
    table,

    async ensureSchema(statements) {
      // 1. The server first: DDL written for 18.16 may mean something else, or nothing, on an older one.
      const [row] = await query<{ v: string }>(ch`SELECT version() AS v`);
      const version = row?.v ?? '0';
      if (!versionAtLeast(version, MINIMUM_SERVER_VERSION)) {
        throw new AnalyticsError(
          `ClickHouse ${version} is older than ${MINIMUM_SERVER_VERSION}, the oldest server Lectern's analytics SQL supports`,
        );
      }
      // 2. The database, then what the callers' statements create in it.
      await exec(ch`CREATE DATABASE IF NOT EXISTS ${ident(database)}`);
      for (const statement of statements) await exec(statement);
    },

    async insert(name, rows) {
      const target = table(name).text;
      for (let i = 0; i < rows.length; i += batchRows) {
        try {
          // Sent again after a stale socket even if the first one arrived:
          // a second copy collapses like any other (see the port).
          await once(() =>
            client.insert<AnalyticsRow>({
              table: target,
              values: rows.slice(i, i + batchRows) as AnalyticsRow[],
              format: 'JSONEachRow',
            }),
          );
        } catch (error) {
          throw wrap(`insert into ${name}`, error);
        }
      }
    },

    query,

    stream<T>(sql: ChSql): AsyncIterable<T> {
      return {
        async *[Symbol.asyncIterator]() {
          let rs;
          try {
            rs = await once(() => client.query({ query: sql.text, format: 'JSONEachRow' }));
          } catch (error) {
            throw wrap('query', error);
          }
          try {
            // The response is read as it arrives, a few rows at a time;
            // leaving early closes the socket, which cancels the query.
            for await (const rows of rs.stream<T>()) {
              for (const row of rows) yield row.json<T>();
            }
          } catch (error) {
            // A server error after the first rows arrives inside the body.
            throw wrap('streamed query', error);
          } finally {
            rs.close();
          }
        },
      };
    },

    exec,

    async ping() {
      let result = await client.ping();
      if (!result.success && isStaleSocket(result.error)) result = await client.ping();
      if (!result.success) throw wrap('ping', result.error);
    },

    close: () => client.close(),
  };
};
