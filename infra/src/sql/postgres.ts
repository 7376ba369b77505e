import pg from 'pg';
import type { Sql, SqlExecutor } from './sql.ts';

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

  const run = async <Row>(exec: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]) =>
    (await exec.query(text, params as unknown[])).rows as Row[];

  return {
    kind: 'postgres',
    knexConfig: { client: 'pg', connection: url, pool: { min: 0, max: 1 } },
    query: (text, params) => run(pool, text, params),
    // Without parameters, pg sends the simple query protocol, which takes several statements.
    exec: async (script) => {
      await pool.query(script);
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const tx: SqlExecutor = { query: (text, params) => run(client, text, params) };
        const result = await fn(tx);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
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
