import { migrate, sqlMigration } from '@lectern/infra/sql/migrate';
import type { Sql } from '@lectern/infra/sql/sql';

/**
 * Another deployment (another `LECTERN_NAMESPACE`) already owns this
 * database. The namespace prefixes topics and consumer groups only; the
 * event store, the relay's checkpoint, the read models and their
 * checkpoints, the signing keys and the rate limits are the database's, so
 * two deployments on one database would read and write each other's state.
 */
export class DatabaseOwnedElsewhere extends Error {
  readonly wanted: string;
  readonly owner: string;
  constructor(wanted: string, owner: string) {
    super(
      `This database belongs to the deployment '${owner}', and this process was started with ` +
        `LECTERN_NAMESPACE='${wanted}'. One database serves one deployment: start with ` +
        `LECTERN_NAMESPACE=${owner}, or give this deployment a database of its own (DATABASE_URL, ` +
        'or LECTERN_DATA_DIR when embedded).',
    );
    this.name = 'DatabaseOwnedElsewhere';
    this.wanted = wanted;
    this.owner = owner;
  }
}

const migrations = [
  sqlMigration(
    '001_lectern_deployment',
    `create table if not exists lectern_deployment (
       singleton boolean primary key default true check (singleton),
       namespace text not null,
       claimed_at timestamptz not null default now()
     )`,
    'drop table if exists lectern_deployment',
  ),
];

/**
 * Records the namespace in the database at its first start (the first of
 * concurrent starters wins, by the primary key), and refuses to go on with
 * another one.
 *
 * @example await claimDatabase(sql, config.namespace); // throws DatabaseOwnedElsewhere
 */
export const claimDatabase = async (sql: Sql, namespace: string): Promise<void> => {
  await migrate(sql, 'lectern_deployment', migrations);
  await sql.query(
    'insert into lectern_deployment (namespace) values ($1) on conflict (singleton) do nothing',
    [namespace],
  );
  const [row] = await sql.query<{ namespace: string }>('select namespace from lectern_deployment');
  if (row && row.namespace !== namespace) throw new DatabaseOwnedElsewhere(namespace, row.namespace);
};
