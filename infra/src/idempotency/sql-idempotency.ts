import { randomUUID } from 'node:crypto';
import type { IdempotencyClaim, IdempotencyStore, StoredAnswer } from '../ports/idempotency-store.ts';
import { migrate, sqlMigration, type Migration } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';

export const idempotencyMigrations: readonly Migration[] = [
  sqlMigration(
    '001_idempotency_keys',
    `create table if not exists idempotency_keys (
       scope text not null,
       key text not null,
       fingerprint text not null,
       command_id uuid not null,
       owner uuid,
       lease_until timestamptz,
       status int,
       headers jsonb,
       body text,
       created_at timestamptz not null,
       expires_at timestamptz not null,
       primary key (scope, key)
     );
     create index if not exists idempotency_keys_expires_at on idempotency_keys (expires_at);`,
    `drop table if exists idempotency_keys;`,
  ),
];

export type SqlIdempotencyOptions = Readonly<{
  /** Whether to run the migration (default true). */
  migrate?: boolean;
  /** How long a finished answer is replayed (default 24 h, the least rule 9 allows). */
  retentionMs?: number;
  /**
   * How long a running request holds its key before another process may take
   * it over (default 60 s): longer than any request runs, since a takeover
   * while the first still runs would decide twice.
   */
  leaseMs?: number;
  /** Rows deleted per sweep statement at most (default 1000). */
  sweepBatch?: number;
}>;

export type SqlIdempotencyStore = IdempotencyStore &
  Readonly<{
    /** Deletes keys whose retention ended before `now`; resolves to how many went. */
    sweep(now: Date): Promise<number>;
  }>;

/*
 * One statement claims a key: a new key is inserted; an existing row is
 * overwritten only when it expired (a fresh start, with a fresh command id)
 * or when it is the same request whose lease lapsed (a takeover, keeping the
 * command id, so the appends of the dead attempt are recognised as the same
 * events). RETURNING gives a row only when this call owns the key now;
 * otherwise the row is read to say why not. Concurrent claims of one key
 * queue on its row lock, so exactly one is started.
 *
 * $1 scope, $2 key, $3 fingerprint, $4 new command id, $5 owner, $6 now,
 * $7 lease until, $8 expires at.
 */
const CLAIM = `
  insert into idempotency_keys as k
    (scope, key, fingerprint, command_id, owner, lease_until, created_at, expires_at)
  values ($1, $2, $3, $4, $5, $7, $6, $8)
  on conflict (scope, key) do update set
    fingerprint = excluded.fingerprint,
    command_id = case when k.expires_at <= $6 then excluded.command_id else k.command_id end,
    created_at = case when k.expires_at <= $6 then excluded.created_at else k.created_at end,
    expires_at = case when k.expires_at <= $6 then excluded.expires_at else k.expires_at end,
    owner = excluded.owner,
    lease_until = excluded.lease_until,
    status = null, headers = null, body = null
  where k.expires_at <= $6
     or (k.status is null and k.lease_until <= $6 and k.fingerprint = excluded.fingerprint)
  returning command_id::text as command_id`;

const READ = `
  select fingerprint, status, headers, body from idempotency_keys where scope = $1 and key = $2`;

const SWEEP = `
  delete from idempotency_keys where (scope, key) in (
    select scope, key from idempotency_keys
    where expires_at < $1 and status is not null
    order by expires_at limit $2::int
    for update skip locked)
  returning 1 as gone`;

type Existing = {
  fingerprint: string;
  status: number | null;
  headers: Record<string, string> | null;
  body: string | null;
};

/**
 * The IdempotencyStore port on PostgreSQL or PGlite (table
 * `idempotency_keys`), shared by every process on the database. Finished
 * keys past their retention are deleted by `sweep`, which `claim` starts in
 * the background at most once a minute per process.
 *
 * @example
 *   const keys = await sqlIdempotencyStore(sql);
 *   const claim = await keys.claim({ scope, key, fingerprint, now: clock.now() });
 */
export const sqlIdempotencyStore = async (
  sql: Sql,
  opts: SqlIdempotencyOptions = {},
): Promise<SqlIdempotencyStore> => {
  if (opts.migrate ?? true) await migrate(sql, 'idempotency_keys', idempotencyMigrations);
  const retentionMs = opts.retentionMs ?? 24 * 3_600_000;
  const leaseMs = opts.leaseMs ?? 60_000;
  const batch = opts.sweepBatch ?? 1000;
  let lastSweep = 0;
  let sweeping = false;

  const sweep = async (now: Date): Promise<number> => {
    let total = 0;
    for (;;) {
      const gone = await sql.query(SWEEP, [now, batch]);
      total += gone.length;
      if (gone.length < batch) return total;
    }
  };
  const maybeSweep = (now: Date): void => {
    if (sweeping || now.getTime() - lastSweep < 60_000) return;
    lastSweep = now.getTime();
    sweeping = true;
    // Housekeeping never fails a request; a failed sweep is tried again a minute later.
    void sweep(now)
      .catch(() => 0)
      .finally(() => {
        sweeping = false;
      });
  };

  const claim = async ({ scope, key, fingerprint, now }: Parameters<IdempotencyStore['claim']>[0]) => {
    const owner = randomUUID();
    for (let attempt = 0; ; attempt++) {
      const [won] = await sql.query<{ command_id: string }>(CLAIM, [
        scope,
        key,
        fingerprint,
        randomUUID(),
        owner,
        now,
        new Date(now.getTime() + leaseMs),
        new Date(now.getTime() + retentionMs),
      ]);
      maybeSweep(now);
      if (won) return { outcome: 'started', commandId: won.command_id, owner } as const;
      const [row] = await sql.query<Existing>(READ, [scope, key]);
      // Swept between the two statements: claim again (a second miss cannot repeat for long).
      if (!row) {
        if (attempt < 3) continue;
        throw new Error('idempotency key vanished repeatedly while being claimed');
      }
      return outcomeOf(row, fingerprint);
    }
  };

  return {
    claim,
    async complete({ scope, key, owner, answer }) {
      await sql.query(
        `update idempotency_keys set status = $4, headers = $5, body = $6, owner = null, lease_until = null
         where scope = $1 and key = $2 and owner = $3`,
        [scope, key, owner, answer.status, JSON.stringify(answer.headers), answer.body],
      );
    },
    async release({ scope, key, owner }) {
      await sql.query('delete from idempotency_keys where scope = $1 and key = $2 and owner = $3', [
        scope,
        key,
        owner,
      ]);
    },
    sweep,
  };
};

const outcomeOf = (row: Existing, fingerprint: string): IdempotencyClaim => {
  if (row.fingerprint !== fingerprint) return { outcome: 'mismatch' };
  if (row.status === null) return { outcome: 'in_flight' };
  const answer: StoredAnswer = { status: row.status, headers: row.headers ?? {}, body: row.body ?? '' };
  return { outcome: 'replay', answer };
};
