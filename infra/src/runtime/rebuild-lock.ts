import type { Sql } from '../sql/sql.ts';
import type { Logger } from './logger.ts';

/**
 * A rebuild, diff or audit of the model is running already, here or in
 * another process on the database: they make and drop the same scratch
 * tables, so one waits for none of the others.
 */
export class ProjectionBusy extends Error {
  override readonly name = 'ProjectionBusy';
  readonly projection: string;
  constructor(projection: string) {
    super(`a rebuild, diff or audit of ${projection} is running already; try again once it has finished`);
    this.projection = projection;
  }
}

/** The models being rebuilt through each PGlite database, which serves one process: its lock. */
const rebuildingIn = new WeakMap<Sql, Set<string>>();

/**
 * Runs `work` (a rebuild, diff or audit of `name`) while no other runs, in
 * any process on the database, or throws `ProjectionBusy` at once. The
 * SQL read models' runner takes it for each; a consumer that rebuilds what
 * it feeds elsewhere (the ClickHouse analytics) takes it too, under its
 * own name, since its replicas share one set of shadow tables. On
 * PostgreSQL the lock is a transaction-scoped advisory lock on a connection
 * that does nothing else: idle in a transaction that never writes (so has
 * no id), it holds back neither the feed, which waits only for
 * transactions with ids, nor vacuum; it goes with the process if that dies.
 */
export const exclusively = async <T>(
  sql: Sql,
  name: string,
  log: Logger,
  work: () => Promise<T>,
): Promise<T> => {
  if (sql.kind === 'pglite') {
    const busy = rebuildingIn.get(sql) ?? new Set<string>();
    rebuildingIn.set(sql, busy);
    if (busy.has(name)) throw new ProjectionBusy(name);
    busy.add(name);
    try {
      return await work();
    } finally {
      busy.delete(name);
    }
  }
  // Kept outside the transaction: its end failing after the work changes nothing the work did.
  const settled: ({ ok: true; value: T } | { ok: false; error: unknown })[] = [];
  await sql
    .transaction(async (tx) => {
      const [lock] = await tx.query<{ got: boolean }>(
        'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as got',
        [`lectern.rebuild.${name}`],
      );
      if (!lock?.got) throw new ProjectionBusy(name);
      settled.push(
        await work().then(
          (value) => ({ ok: true, value }) as const,
          (error: unknown) => ({ ok: false, error }) as const,
        ),
      );
    })
    .catch((error: unknown) => {
      if (settled.length === 0) throw error;
      log.warn({ err: error }, 'the session holding the rebuild lock failed after the rebuild ended');
    });
  const [outcome] = settled;
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.value;
};
