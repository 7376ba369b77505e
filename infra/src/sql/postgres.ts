import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyStatement, sqlState, type Sql, type SqlExecutor } from './sql.ts';

/**
 * Whether a failed query left its connection unusable. The server answers an
 * SQL error (a unique violation, a RAISE, a revision conflict) with an error
 * message and then waits for the next query on the same session, so such a
 * connection goes back to the pool. Only an error without SQLSTATE (socket
 * closed, timeout in the driver), a FATAL/PANIC one, or a connection-class
 * SQLSTATE (08: connection exception, 57P: the server shutting down) means
 * the session is gone.
 */
export const connectionFailed = (error: unknown): boolean => {
  // Node's socket errors carry codes too (EPIPE); only the server's own answer counts.
  if (!(error instanceof pg.DatabaseError)) return true;
  if (error.severity === 'FATAL' || error.severity === 'PANIC') return true;
  const code = sqlState(error) ?? '';
  return code.startsWith('08') || code.startsWith('57P');
};

/** A `pg` pool behind the Sql port; LISTEN uses one dedicated connection. */
export const postgresSql = (url: string, opts: { max?: number; applicationName?: string } = {}): Sql => {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 20,
    application_name: opts.applicationName ?? 'lectern',
  });
  // An idle client that loses its server must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  let listener: Promise<pg.Client> | null = null;
  let closed = false;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  // One connection carries every LISTEN. When it drops, subscribers fall back
  // to their polls while it reconnects, with growing pauses, and listens to
  // every channel again.
  const connectListener = (): Promise<pg.Client> =>
    (listener ??= (async () => {
      const client = new pg.Client({ connectionString: url, application_name: 'lectern-listen' });
      const lost = (): void => {
        listener = null;
        client.end().catch(() => {});
        if (!closed && handlers.size) void reconnect(1);
      };
      client.on('error', lost);
      client.on('end', () => {
        if (listener) lost();
      });
      client.on('notification', (n) => handlers.get(n.channel)?.forEach((h) => h(n.payload ?? '')));
      try {
        await client.connect();
        for (const channel of handlers.keys()) await client.query(`listen ${JSON.stringify(channel)}`);
      } catch (error) {
        listener = null;
        throw error;
      }
      return client;
    })());
  const reconnect = async (attempt: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
    if (closed) return;
    await connectListener().catch(() => reconnect(attempt + 1));
  };

  const run = async <Row>(client: pg.PoolClient, text: string, params?: readonly unknown[]) =>
    (await client.query(text, params as unknown[])).rows as Row[];
  // The server's error (a duplicate key, a bad value) fails the stream; the session stays usable.
  const copy = (client: pg.PoolClient, table: string, columns: readonly string[], lines: string) =>
    pipeline([lines], client.query(copyFrom(copyStatement(table, columns))));
  const on = (client: pg.PoolClient): SqlExecutor => ({
    query: (text, params) => run(client, text, params),
    copyIn: (table, columns, lines) => copy(client, table, columns, lines),
  });

  // Not `pool.query`: pg-pool destroys the connection after any failed query,
  // so every revision conflict or unique violation would cost a new backend
  // (a fork and a login on the server) for the next query.
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (error) {
      if (connectionFailed(error)) broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.release(broken);
    }
  };

  return {
    kind: 'postgres',
    knexConfig: { client: 'pg', connection: url, pool: { min: 0, max: 1 } },
    query: (text, params) => withClient((client) => run(client, text, params)),
    copyIn: (table, columns, lines) => withClient((client) => copy(client, table, columns, lines)),
    // Without parameters, pg sends the simple query protocol, which takes several statements.
    // A failed script may have left its own `begin` open: that session is not reused.
    exec: async (script) => {
      const client = await pool.connect();
      let failed: Error | undefined;
      try {
        await client.query(script);
      } catch (error) {
        failed = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(failed);
      }
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('begin');
        const result = await fn(on(client));
        await client.query('commit');
        return result;
      } catch (error) {
        // A session whose rollback fails is in no state to serve anyone else.
        await client.query('rollback').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },
    async listen(channel, onNotify) {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        const client = await connectListener();
        await client.query(`listen ${JSON.stringify(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      closed = true;
      const client = listener;
      listener = null;
      await client?.then((c) => c.end()).catch(() => {});
      await pool.end();
    },
  };
};
