import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Session } from 'chdb';
import { AnalyticsError, type AnalyticsStore } from '../ports/analytics-store.ts';
import { ch, ident, isIdentifier, quoteString, raw, type ChSql } from './sql.ts';

export type ChdbStoreOptions = Readonly<{
  /** The data folder. chDB opens one per process (see `chdbStore`). */
  path: string;
  /** Database for the store's tables; default `lectern`. */
  database?: string;
  /** Rows per INSERT; default 100 000. */
  batchRows?: number;
  /** Where `stream` spools results; default `<path>/lectern_spool`. */
  spoolDir?: string;
}>;

/** Thrown when a second data folder is opened in a process that has one open. */
export class ChdbFolderInUse extends Error {
  readonly openPath: string;
  constructor(openPath: string, wanted: string) {
    super(
      `chDB opens one data folder per process: ${openPath} is open, so ${wanted} cannot be. ` +
        `Give every process one analytics folder (LECTERN_DATA_DIR), or close the stores on ${openPath} first.`,
    );
    this.name = 'ChdbFolderInUse';
    this.openPath = openPath;
  }
}

// The engine inside chDB is per process: the library keeps one connection,
// for one data folder, which every Session on that folder shares. This
// records which folder that is and how many of our stores use it, so that a
// second folder fails with an error naming both, before any native call.
//
// `queue` serialises every call into the engine. The engine runs one query at
// a time anyway, but each waiting `queryAsync` would hold a libuv worker
// thread (there are four), and with four reports waiting the whole process's
// file system, DNS and crypto calls would stall behind them.
//
// `sweep` removes spooled results a crashed process left behind, once, when
// the folder is first opened; every stream waits for it.
const folder: { path: string | null; stores: number; queue: Promise<unknown>; sweep: Promise<void> } = {
  path: null,
  stores: 0,
  queue: Promise.resolve(),
  sweep: Promise.resolve(),
};

/** Runs `fn` after every engine call queued before it. */
const serially = <T>(fn: () => Promise<T>): Promise<T> => {
  const result = folder.queue.then(fn, fn);
  folder.queue = result.catch(() => {});
  return result;
};

const codeOf = (error: unknown): number | undefined => {
  const code = (error as { clickhouseCode?: unknown })?.clickhouseCode;
  if (typeof code === 'number') return code;
  const m = /\bCode: (\d+)/.exec(String((error as Error)?.message ?? error));
  return m ? Number(m[1]) : undefined;
};

const wrap = (what: string, error: unknown): AnalyticsError =>
  error instanceof AnalyticsError
    ? error
    : new AnalyticsError(`chDB ${what} failed: ${(error as Error)?.message ?? String(error)}`, {
        clickhouseCode: codeOf(error),
        cause: error,
      });

/** Drops trailing semicolons and blanks, so a clause can follow the query. */
const bare = (sql: string): string => sql.replace(/[\s;]+$/, '');

/**
 * The AnalyticsStore on chDB: the ClickHouse engine in this process, on a
 * data folder (the embedded profile's analytics). Queries are non-blocking
 * (`queryAsync` runs them on a libuv thread), and the engine runs them one
 * at a time.
 *
 * One data folder per process: stores on the same folder share its engine;
 * opening another folder while one is open throws `ChdbFolderInUse`.
 *
 * `stream` spools the result to a file in `spoolDir` (`INTO OUTFILE`) and
 * reads it back line by line. chDB's own streaming cursor cannot be used:
 * only one may be open per process, and any other query ends it, so an
 * export would either block every report for as long as its client takes
 * to download, or break. The spool costs disk the size of the result and
 * gives up time-to-first-row; memory stays constant.
 *
 * @example
 *   const store = chdbStore({ path: join(dataDir, 'chdb') });
 *   await store.ensureSchema(schema(store.database));
 */
export const chdbStore = (opts: ChdbStoreOptions): AnalyticsStore => {
  const path = resolve(opts.path);
  const database = opts.database ?? 'lectern';
  if (!isIdentifier(database))
    throw new RangeError(`not a usable database name: ${JSON.stringify(database)}`);
  const batchRows = opts.batchRows ?? 100_000;
  const spoolDir = resolve(opts.spoolDir ?? join(path, 'lectern_spool'));
  if (folder.path !== null && folder.path !== path) throw new ChdbFolderInUse(folder.path, path);

  let session: Session;
  try {
    session = new Session(path, {
      // Applied when the folder is first opened in the process. UTC as the
      // ClickHouse server is configured; plain JSON numbers as the port says.
      // Unknown JSON fields are refused, as ClickHouse 18.16 always does.
      connectionArgs: [
        '--session_timezone=UTC',
        '--output_format_json_quote_64bit_integers=0',
        '--input_format_skip_unknown_fields=0',
      ],
    });
  } catch (error) {
    throw wrap(`open ${path}`, error);
  }
  if (folder.stores === 0) folder.sweep = rm(spoolDir, { recursive: true, force: true }).catch(() => {});
  folder.path = path;
  folder.stores += 1;
  let closed = false;

  const table = (name: string): ChSql => ident(database, name);

  const run = async (what: string, sql: string, format?: string) => {
    if (closed) throw new AnalyticsError('chDB store is closed');
    try {
      return await serially(() => session.queryAsync(sql, format ? { format } : {}));
    } catch (error) {
      throw wrap(what, error);
    }
  };

  const exec = async (sql: ChSql): Promise<void> => {
    await run('statement', sql.text);
  };

  const query = async <T>(sql: ChSql): Promise<T[]> => {
    const result = await run('query', sql.text, 'JSONEachRow');
    const rows: T[] = [];
    for (const line of result.text().split('\n')) if (line) rows.push(JSON.parse(line) as T);
    return rows;
  };

  return {
    engine: 'chdb',
    database,
    table,

    async ensureSchema(statements) {
      await exec(ch`CREATE DATABASE IF NOT EXISTS ${ident(database)}`);
      for (const statement of statements) await exec(statement);
    },

    async insert(name, rows) {
      // chDB's insert takes `db.table` unquoted and checks it against a whitelist.
      if (!isIdentifier(name)) throw new RangeError(`not a plain identifier: ${JSON.stringify(name)}`);
      if (closed) throw new AnalyticsError('chDB store is closed');
      for (let i = 0; i < rows.length; i += batchRows) {
        const payload = rows
          .slice(i, i + batchRows)
          .map((row) => JSON.stringify(row))
          .join('\n');
        try {
          await serially(() =>
            session.insert({
              table: `${database}.${name}`,
              values: Buffer.from(payload),
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
          await folder.sweep;
          await mkdir(spoolDir, { recursive: true });
          const file = join(spoolDir, `${randomUUID()}.jsonl`);
          let input: ReturnType<typeof createReadStream> | undefined;
          try {
            // On a line of its own: a trailing `-- comment` must not swallow it.
            await run('query', `${bare(sql.text)}\nINTO OUTFILE ${quoteString(file)} FORMAT JSONEachRow`);
            input = createReadStream(file, { highWaterMark: 64 * 1024 });
            // JSONEachRow escapes line breaks inside values: one line, one row.
            for await (const line of createInterface({ input, crlfDelay: Infinity })) {
              if (line) yield JSON.parse(line) as T;
            }
          } finally {
            input?.destroy();
            await rm(file, { force: true });
          }
        },
      };
    },

    exec,

    async ping() {
      await run('ping', raw('SELECT 1').text);
    },

    async close() {
      if (closed) return;
      closed = true;
      session.close();
      folder.stores -= 1;
      if (folder.stores === 0) folder.path = null;
    },
  };
};
