import type { RateDecision, RateLimit, RateLimiter } from '../ports/rate-limiter.ts';
import { migrate, sqlMigration, type Migration } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';

/**
 * A sliding-window log: each key's row holds the times (epoch ms) of the
 * hits that were allowed and still fall in the window, at most `limit` of
 * them. "At most N in any window of W" is what identity's limits say (5 code
 * sends per hour per IP, one per phone per 30 s), and a log enforces it
 * exactly: GCRA or a token bucket would let a burst of N be followed by
 * another hit after W/N, i.e. N+1 in one window. The price is O(limit)
 * storage per key, which is small for security limits (single or double
 * digits); a throttle with limits in the thousands would want GCRA instead.
 *
 * `expires_at` is when the row stops mattering (its newest hit leaves the
 * window); the sweep deletes rows past it.
 */
export const rateLimitMigrations: readonly Migration[] = [
  sqlMigration(
    '001_rate_limits',
    `create table if not exists rate_limits (
       key text primary key,
       hits bigint[] not null,
       last_allowed boolean not null,
       expires_at timestamptz not null
     );
     create index if not exists rate_limits_expires_at on rate_limits (expires_at);`,
    `drop table if exists rate_limits;`,
  ),
];

export type SqlRateLimiterOptions = Readonly<{
  /** Whether to run the migration (default true). */
  migrate?: boolean;
  /** At most one background sweep per this many ms of wall-clock time per process (default 60 s). */
  sweepIntervalMs?: number;
  /**
   * Rows are swept this long after they expired by the database's clock
   * (default 60 s), so that a process whose clock runs behind the database's
   * never loses a row that is still live by its own time.
   */
  sweepGraceMs?: number;
  /** Rows deleted per sweep statement at most (default 1000), so a sweep never holds many locks. */
  sweepBatch?: number;
}>;

export type SqlRateLimiter = RateLimiter &
  Readonly<{
    /** Deletes expired rows now (batch by batch); resolves to how many went. */
    sweep(): Promise<number>;
  }>;

const check = (key: string, { limit, windowMs }: RateLimit): void => {
  if (key.length === 0) throw new TypeError('rate limit key must not be empty');
  if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError(`rate limit must be ≥ 1 (got ${limit})`);
  if (!Number.isSafeInteger(windowMs) || windowMs < 1)
    throw new TypeError(`rate limit window must be ≥ 1 ms (got ${windowMs})`);
};

type Row = { allowed: boolean; count: number; retry_ms: number };

/**
 * The decision of one hit, from what the statement returned: `count` live
 * hits after it, and when denied the ms until enough of them leave the window.
 */
const decision = (row: Row, limit: number): RateDecision =>
  row.allowed
    ? { allowed: true, remaining: Math.max(0, limit - Number(row.count)), retryAfterSeconds: 0 }
    : {
        allowed: false,
        remaining: 0,
        retryAfterSeconds: Math.max(1, Math.ceil(Number(row.retry_ms) / 1000)),
      };

/*
 * One statement per hit, an upsert: a new key gets a row with this hit; an
 * existing row is locked by ON CONFLICT, its hits still in the window are
 * kept (`live`), and this hit is appended only when fewer than `limit` are
 * live. Concurrent hits on one key, from any process, queue on that row lock
 * and each sees the row as the previous one left it, so exactly `limit` get
 * through. `last_allowed` carries the verdict out through RETURNING
 * (PostgreSQL 15 cannot return the old row).
 *
 * When denied with `count` live hits, the next hit is allowed once
 * `count - limit + 1` of them have left the window, i.e. at the expiry of
 * the hit at that (1-based) index of the sorted array; `count` exceeds
 * `limit` only when a caller lowered the limit of a key.
 *
 * $1 key, $2 now (epoch ms), $3 limit, $4 window (ms).
 */
const HIT = `
  insert into rate_limits as r (key, hits, last_allowed, expires_at)
  values ($1, array[$2::bigint], true, to_timestamp(($2::bigint + $4::bigint) / 1000.0))
  on conflict (key) do update set (hits, last_allowed, expires_at) = (
    select case when cardinality(s.live) < $3::int then s.live || $2::bigint else s.live end,
           cardinality(s.live) < $3::int,
           to_timestamp((greatest(coalesce(s.live[cardinality(s.live)], 0), $2::bigint) + $4::bigint) / 1000.0)
    from (select array(select h from unnest(r.hits) h where h > $2::bigint - $4::bigint order by h) as live) s
  )
  returning last_allowed as allowed,
            cardinality(hits) as count,
            (case when last_allowed then 0
                  else hits[cardinality(hits) - $3::int + 1] + $4::bigint - $2::bigint end)::float8 as retry_ms`;

/* The same arithmetic as HIT, reading only; a missing row is an empty log. */
const PEEK = `
  select cardinality(s.live) < $3::int as allowed,
         cardinality(s.live) + 1 as count,
         (case when cardinality(s.live) < $3::int then 0
               else s.live[cardinality(s.live) - $3::int + 1] + $4::bigint - $2::bigint end)::float8 as retry_ms
  from (select array(select h from rate_limits r, unnest(r.hits) h
                     where r.key = $1 and h > $2::bigint - $4::bigint order by h) as live) s`;

/*
 * SKIP LOCKED: a row a hit holds right now is live by definition; it is left
 * for a later sweep instead of making either side wait.
 */
const SWEEP = `
  delete from rate_limits where key in (
    select key from rate_limits
    where expires_at < now() - $1::float8 * interval '1 millisecond'
    order by expires_at limit $2::int
    for update skip locked)
  returning 1 as gone`;

/**
 * The RateLimiter port on PostgreSQL or PGlite (table `rate_limits`).
 *
 * Cleanup: every hit prunes its own row's expired hits, so no row grows past
 * its limit. Rows of keys that are never hit again are deleted by a sweep
 * that a hit starts in the background at most once per `sweepIntervalMs` in
 * each process (by the database's clock, with `sweepGraceMs` of grace),
 * in batches over the `expires_at` index.
 *
 * @example
 *   const limiter = await sqlRateLimiter(sql);
 *   const d = await limiter.hit(`login:ip:${ip}`, { limit: 20, windowMs: 60_000 }, clock.now());
 */
export const sqlRateLimiter = async (sql: Sql, opts: SqlRateLimiterOptions = {}): Promise<SqlRateLimiter> => {
  if (opts.migrate ?? true) await migrate(sql, 'rate_limits', rateLimitMigrations);
  const sweepIntervalMs = opts.sweepIntervalMs ?? 60_000;
  const graceMs = opts.sweepGraceMs ?? 60_000;
  const batch = opts.sweepBatch ?? 1000;
  let lastSweep = Date.now();
  let sweeping: Promise<number> | null = null;

  const sweep = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const gone = await sql.query(SWEEP, [graceMs, batch]);
      total += gone.length;
      if (gone.length < batch) return total;
    }
  };

  const maybeSweep = (): void => {
    if (sweeping || Date.now() - lastSweep < sweepIntervalMs) return;
    lastSweep = Date.now();
    // Housekeeping must never fail a hit; a failed sweep is retried next interval.
    sweeping = sweep()
      .catch(() => 0)
      .finally(() => {
        sweeping = null;
      });
  };

  return {
    async hit(key, limit, now) {
      check(key, limit);
      const [row] = await sql.query<Row>(HIT, [key, now.getTime(), limit.limit, limit.windowMs]);
      maybeSweep();
      return decision(row!, limit.limit);
    },
    async peek(key, limit, now) {
      check(key, limit);
      const [row] = await sql.query<Row>(PEEK, [key, now.getTime(), limit.limit, limit.windowMs]);
      return decision(row!, limit.limit);
    },
    async reset(key) {
      await sql.query('delete from rate_limits where key = $1', [key]);
    },
    sweep,
  };
};
