import { GroupNotEmptyError, type Consumer, type MessageLog } from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import { migrate } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';
import { sqlConsumer } from './sql-log-consumer.ts';
import { messageLogMigrations } from './sql-log-migrations.ts';
import { notifications } from './sql-log-notifications.ts';
import { sqlProducer } from './sql-log-producer.ts';

export { LeaseFencedError } from './sql-log-leases.ts';
export { messageLogMigrations } from './sql-log-migrations.ts';
export { murmur2, partitionFor } from './partitioner.ts';

/**
 * The embedded message log: topics, partitions, messages and consumer groups
 * in tables of PostgreSQL or PGlite, written once against the `Sql` port.
 *
 * Design, in short (docs/architecture.md has the long form):
 * - Partition = Kafka's default partitioner, `murmur2(utf8(key)) & 0x7fffffff
 *   % partitions`, so a key lands on the same partition number here and on
 *   Kafka (partitioner.ts).
 * - Offsets are reserved under the partition row's lock (`select … for update`
 *   in ascending partition order, then `update … set next_offset =
 *   next_offset + n`) in the transaction that inserts the messages. A later
 *   producer waits for the lock, so offsets are gap-free, strictly increasing,
 *   and commit (become visible) in offset order. One `produce` call is one
 *   transaction: all its messages or none (sql-log-producer.ts).
 * - Consumer groups: members heartbeat a row in `members`; every member
 *   computes the same round-robin assignment over the live members, releases
 *   what is no longer its own (after the batch in hand has committed) and
 *   takes the rest through `leases` rows, which expire when not renewed
 *   (sql-log-membership.ts). Every grant of a lease increments its epoch, and
 *   a commit is written only under the epoch its batch was fetched under
 *   (sql-log-leases.ts), so a member whose lease lapsed cannot move the
 *   group's offset, forward or back.
 * - A group is deleted (`deleteGroup`) only with no live member: the check
 *   and the delete hold `members` locked against heartbeats, so no member
 *   joins in between. Its leases go too, so a lease granted afterwards starts
 *   its epochs again; that is safe because a commit is fenced by the member
 *   id as well as the epoch, so no other member's stale batch lands under it.
 * - Each consumer fetches, hands batches to its handler and retries a
 *   rejected batch (sql-log-consumer.ts).
 * - `pg_notify` on produce and on membership changes wakes consumers; a
 *   modest poll covers a lost listener connection (sql-log-notifications.ts).
 */

export type SqlLogOptions = Readonly<{
  /**
   * How often a consumer renews its membership and leases and rebalances; default by engine
   * (`SQL_LOG_TIMINGS`), and at most a third of `sessionTimeoutMs` when only that is given.
   */
  heartbeatIntervalMs?: number;
  /** A member, and its leases, not renewed for this long is presumed dead; default by engine. */
  sessionTimeoutMs?: number;
  /** Fallback poll for new messages when no NOTIFY arrives; default by engine. */
  pollIntervalMs?: number;
  /**
   * Where lease and membership time comes from; default the database's
   * clock, which every process of a deployment shares. Tests inject one so
   * that a lease lapses when they say, not when the machine is slow.
   */
  clock?: Clock;
  /** Run this module's migrations on start (default true). */
  migrate?: boolean;
  /** Where failures go that the log survives (database errors, rejected batches); default stderr. */
  onError?: (error: unknown, context: string) => void;
}>;

/**
 * The log's timings when not given, by engine. On PostgreSQL members are
 * processes that may die without leaving, and a listener's connection may
 * drop, after which the poll alone wakes a consumer. A PGlite database
 * lives in one process, whose NOTIFY is a call within it and whose every
 * query waits for its one thread: there the poll only costs, and so do
 * beats beyond what keeps leases renewed. At PostgreSQL's timings they took
 * 11% of a core of an idle embedded server, 4-5% at these. The session stays
 * 10 s on both: after a kill -9 the next process on the same folder waits
 * for the dead one's leases to lapse.
 */
export const SQL_LOG_TIMINGS: Readonly<
  Record<
    Sql['kind'],
    Readonly<{ heartbeatIntervalMs: number; sessionTimeoutMs: number; pollIntervalMs: number }>
  >
> = {
  postgres: { heartbeatIntervalMs: 1000, sessionTimeoutMs: 10_000, pollIntervalMs: 1000 },
  pglite: { heartbeatIntervalMs: 3000, sessionTimeoutMs: 10_000, pollIntervalMs: 10_000 },
};

const positiveInt = (value: number, what: string) => {
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${what} must be a positive integer, got ${value}`);
  return value;
};

/**
 * Opens the embedded log on `sql` (migrating it unless told not to). The
 * `Sql` stays the caller's: `close()` stops this log's consumers, not the
 * database.
 *
 * @example
 *   const sql = await pgliteSql('./data');
 *   const log = await sqlLog(sql);
 *   await log.ensureTopics([{ topic: 'lectern.profile.events', partitions: 4 }]);
 */
export const sqlLog = async (sql: Sql, options: SqlLogOptions = {}): Promise<MessageLog> => {
  const defaults = SQL_LOG_TIMINGS[sql.kind];
  const sessionTimeoutMs = positiveInt(
    options.sessionTimeoutMs ?? defaults.sessionTimeoutMs,
    'sessionTimeoutMs',
  );
  // A session given without a beat gets one that fits it: a third of it at most, as Kafka advises.
  const heartbeatIntervalMs = positiveInt(
    options.heartbeatIntervalMs ??
      Math.max(1, Math.min(defaults.heartbeatIntervalMs, Math.floor(sessionTimeoutMs / 3))),
    'heartbeatIntervalMs',
  );
  const pollIntervalMs = positiveInt(options.pollIntervalMs ?? defaults.pollIntervalMs, 'pollIntervalMs');
  if (sessionTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new Error(
      'sessionTimeoutMs must be at least twice heartbeatIntervalMs, or live members lose their leases',
    );
  }
  const report =
    options.onError ??
    ((error: unknown, context: string) =>
      process.stderr.write(
        `message-log(sql) ${context}: ${error instanceof Error ? error.message : String(error)}\n`,
      ));
  if (options.migrate !== false) await migrate(sql, 'message_log', messageLogMigrations);

  /** Group time: the injected clock's, else the database's (`null` lets `now()` decide). */
  const at = () => (options.clock ? options.clock.now().toISOString() : null);
  const produce = sqlProducer(sql);
  const wakeups = notifications(sql, report);
  const consumers = new Set<Consumer>();

  return {
    async ensureTopics(wanted) {
      if (wanted.length === 0) return;
      for (const { topic, partitions } of wanted) {
        if (topic === '') throw new Error('message log: empty topic name');
        positiveInt(partitions, `partitions of ${topic}`);
      }
      // Existing topics keep their partition count, as on Kafka.
      await sql.transaction(async (tx) => {
        await tx.query(
          `insert into message_log.topics (topic, partitions)
           select r.topic, r.partitions from jsonb_to_recordset($1::jsonb) as r(topic text, partitions int)
           on conflict (topic) do nothing`,
          [JSON.stringify(wanted)],
        );
        await tx.query(
          `insert into message_log.partitions (topic, partition)
           select t.topic, g.p from message_log.topics t, generate_series(0, t.partitions - 1) as g(p)
           where t.topic = any($1::text[])
           on conflict do nothing`,
          [wanted.map((w) => w.topic)],
        );
      });
    },

    produce,

    consume(opts) {
      const consumer = sqlConsumer(
        sql,
        { ...opts, maxBatchSize: positiveInt(opts.maxBatchSize ?? 100, 'maxBatchSize') },
        {
          heartbeatIntervalMs,
          sessionTimeoutMs,
          pollIntervalMs,
          clock: options.clock,
          report,
          notifications: wakeups,
          onStopped: () => consumers.delete(consumer),
        },
      );
      consumers.add(consumer);
      return consumer;
    },

    async lag(groupId, topic) {
      return sql.query<{ partition: number; committed: string | null; end: string }>(
        `select lp.partition, c.committed_offset::text as committed, lp.next_offset::text as "end"
         from message_log.partitions lp
         left join message_log.commits c on c.group_id = $1 and c.topic = lp.topic and c.partition = lp.partition
         where lp.topic = $2
         order by lp.partition`,
        [groupId, topic],
      );
    },

    async listGroups(prefix) {
      // A group is whatever rows carry its id; its last sign of life is the latest heartbeat (a
      // member's or a lease's expiry less the session) or commit.
      const rows = await sql.query<{ group_id: string; active_at: Date | string | null; members: number }>(
        `with seen as (
           select group_id, expires_at - $2 * interval '1 millisecond' as at
             from message_log.members where starts_with(group_id, $1)
           union all
           select group_id, expires_at - $2 * interval '1 millisecond'
             from message_log.leases where starts_with(group_id, $1)
           union all
           select group_id, committed_at from message_log.commits where starts_with(group_id, $1)
         )
         select s.group_id, max(s.at) as active_at,
                (select count(*)::int from message_log.members m
                  where m.group_id = s.group_id and m.expires_at >= coalesce($3::timestamptz, now())) as members
         from seen s group by s.group_id`,
        [prefix, sessionTimeoutMs, at()],
      );
      return rows
        .map((r) => ({
          groupId: r.group_id,
          members: Number(r.members),
          activeAt: r.active_at === null ? null : new Date(r.active_at).getTime(),
        }))
        .sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
    },

    deleteGroup: (groupId) =>
      sql.transaction(async (tx) => {
        // Every heartbeat writes `members`: this lock waits for those in flight and holds new ones
        // off until the group is gone, so no member joins between the check and the delete.
        await tx.query('lock table message_log.members in share row exclusive mode');
        const live = await tx.query(
          `select 1 from message_log.members
           where group_id = $1 and expires_at >= coalesce($2::timestamptz, now()) limit 1`,
          [groupId, at()],
        );
        if (live.length > 0) throw new GroupNotEmptyError(groupId);
        const [gone] = await tx.query<{ n: number }>(
          `with m as (delete from message_log.members where group_id = $1 returning 1),
                l as (delete from message_log.leases where group_id = $1 returning 1),
                c as (delete from message_log.commits where group_id = $1 returning 1)
           select ((select count(*) from m) + (select count(*) from l) + (select count(*) from c))::int as n`,
          [groupId],
        );
        return Number(gone?.n ?? 0) > 0;
      }),

    async ping() {
      await sql.query('select 1');
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      await wakeups.close();
    },
  };
};
