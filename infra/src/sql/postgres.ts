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
  let listener: pg.Client | null = null;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  const connectListener = async (): Promise<pg.Client> => {
    if (listener) return listener;
    const client = new pg.Client({ connectionString: url, application_name: 'lectern-listen' });
    await client.connect();
    client.on('notification', (n) => handlers.get(n.channel)?.forEach((h) => h(n.payload ?? '')));
    client.on('error', () => {
      // Subscribers fall back to polling until the next listen() reconnects.
      listener = null;
    });
    listener = client;
    return client;
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
      const client = await connectListener();
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await client.query(`listen ${JSON.stringify(channel)}`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      await listener?.end().catch(() => {});
      listener = null;
      await pool.end();
    },
  };
};
