import type { Clock } from '../runtime/ids.ts';
import type { Sql } from '../sql/sql.ts';

/**
 * A commit refused because the lease it was made under is no longer current:
 * since this member was granted the partition (at `epoch`), the lease lapsed
 * and was granted again, to another member or to this one afresh. The batch
 * is not committed by this member; the lease's current holder delivers it
 * again from the group's committed offset.
 */
export class LeaseFencedError extends Error {
  readonly code = 'lease_fenced';
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /** The epoch the refused commit carried. */
  readonly epoch: string;
  /** The offset it would have committed (next to read). */
  readonly offset: string;
  constructor(groupId: string, topic: string, partition: number, epoch: string, offset: string) {
    super(
      `commit of ${groupId} on ${topic}/${partition} at ${offset} refused: lease epoch ${epoch} is no longer current`,
    );
    this.name = 'LeaseFencedError';
    this.groupId = groupId;
    this.topic = topic;
    this.partition = partition;
    this.epoch = epoch;
    this.offset = offset;
  }
}

/** A partition held under one grant of its lease. */
export type Lease = Readonly<{ topic: string; partition: number; epoch: string }>;

/** A lease just granted, with where the group stands on that partition. */
export type Grant = Lease & Readonly<{ committed: string | null; end: string }>;

export type Membership = Readonly<{
  groupId: string;
  memberId: string;
  sessionTimeoutMs: number;
  /** Where lease and membership time comes from; the database's clock (`now()`) when absent. */
  clock: Clock | undefined;
}>;

/**
 * The SQL of one member of one consumer group: its heartbeat, the leases on
 * its partitions and its fenced commits.
 *
 * Every grant of a partition's lease increments the lease's `epoch` (the row
 * is kept, with no holder, when released, so the count never starts over).
 * A commit carries the epoch of the grant its batch was fetched under and is
 * written only while that grant is current, so a member whose lease lapsed
 * and was granted to another (even if it came back to this member later)
 * can neither overwrite the new holder's progress nor move the offset back.
 *
 * @example
 *   const m = groupMember(sql, { groupId, memberId, sessionTimeoutMs: 10_000, clock: undefined });
 *   const [lease] = await m.grant([['lectern.profile.events', 0]]);
 *   await m.commit(lease, 42n); // throws LeaseFencedError once the lease was granted again
 */
export const groupMember = (sql: Sql, { groupId, memberId, sessionTimeoutMs, clock }: Membership) => {
  // `null` lets the database's `now()` decide; tests inject a clock so that
  // nothing lapses unless they move it, however slow the machine is.
  const at = () => (clock ? clock.now().toISOString() : null);

  return {
    /** Says this member is alive, forgets members that stopped saying so, and lists who is left. */
    async heartbeat(topics: readonly string[]) {
      await sql.query(
        `insert into message_log.members (group_id, member_id, topics, expires_at)
         values ($1, $2, $3::jsonb, coalesce($5::timestamptz, now()) + $4 * interval '1 millisecond')
         on conflict (group_id, member_id) do update set topics = excluded.topics, expires_at = excluded.expires_at`,
        [groupId, memberId, JSON.stringify(topics), sessionTimeoutMs, at()],
      );
      await sql.query(
        'delete from message_log.members where group_id = $1 and expires_at < coalesce($2::timestamptz, now())',
        [groupId, at()],
      );
      const members = await sql.query<{ member_id: string; topics: string[] }>(
        'select member_id, topics from message_log.members where group_id = $1',
        [groupId],
      );
      const allTopics = [...new Set(members.flatMap((m) => m.topics))];
      const partitions = await sql.query<{ topic: string; partition: number }>(
        'select topic, partition from message_log.partitions where topic = any($1::text[])',
        [allTopics],
      );
      return { members, partitions };
    },

    /**
     * Extends every lease this member holds. A lease that lapsed but was not
     * granted again is still this member's, under the same epoch: nobody
     * else read that partition in between.
     */
    renew: () =>
      sql.query<Lease>(
        `update message_log.leases set expires_at = coalesce($3::timestamptz, now()) + $4 * interval '1 millisecond'
         where group_id = $1 and member_id = $2
         returning topic, partition, epoch::text as epoch`,
        [groupId, memberId, at(), sessionTimeoutMs],
      ),

    /** Takes the leases of `wanted` that nobody holds or whose holder let them lapse, each under a new epoch. */
    async grant(wanted: readonly (readonly [string, number])[]): Promise<Grant[]> {
      if (wanted.length === 0) return [];
      const taken = await sql.query<Lease>(
        `insert into message_log.leases as l (group_id, topic, partition, member_id, expires_at, epoch)
         select $1, r.t, r.p, $2, coalesce($4::timestamptz, now()) + $3 * interval '1 millisecond', 1
         from jsonb_to_recordset($5::jsonb) as r(t text, p int)
         on conflict (group_id, topic, partition) do update
           set member_id = excluded.member_id, expires_at = excluded.expires_at, epoch = l.epoch + 1
           where l.member_id is null or l.member_id = excluded.member_id
              or l.expires_at < coalesce($4::timestamptz, now())
         returning topic, partition, epoch::text as epoch`,
        [groupId, memberId, sessionTimeoutMs, at(), JSON.stringify(wanted.map(([t, p]) => ({ t, p })))],
      );
      if (taken.length === 0) return [];
      // Read where to start only now, in a statement after the one that took
      // the lease: a commit under the previous grant either finished before
      // (and is seen here) or is refused.
      const where = await sql.query<{
        topic: string;
        partition: number;
        committed: string | null;
        end: string;
      }>(
        `select r.t as topic, r.p as partition, c.committed_offset::text as committed,
                lp.next_offset::text as "end"
         from jsonb_to_recordset($2::jsonb) as r(t text, p int)
         join message_log.partitions lp on lp.topic = r.t and lp.partition = r.p
         left join message_log.commits c on c.group_id = $1 and c.topic = r.t and c.partition = r.p`,
        [groupId, JSON.stringify(taken.map((x) => ({ t: x.topic, p: x.partition })))],
      );
      const epochs = new Map(taken.map((x) => [JSON.stringify([x.topic, x.partition]), x.epoch]));
      return where.map((w) => ({ ...w, epoch: epochs.get(JSON.stringify([w.topic, w.partition]))! }));
    },

    /** Gives one lease up (if still held under `lease.epoch`), keeping its row so epochs never restart. */
    async release(lease: Lease): Promise<void> {
      await sql.query(
        `update message_log.leases set member_id = null
         where group_id = $1 and topic = $2 and partition = $3 and member_id = $4 and epoch = $5::bigint`,
        [groupId, lease.topic, lease.partition, memberId, lease.epoch],
      );
    },

    /** Leaves the group: every lease given up at once, the membership removed. */
    async leave(): Promise<void> {
      await sql.query(
        'update message_log.leases set member_id = null where group_id = $1 and member_id = $2',
        [groupId, memberId],
      );
      await sql.query('delete from message_log.members where group_id = $1 and member_id = $2', [
        groupId,
        memberId,
      ]);
    },

    /**
     * Writes the group's offset on `lease`'s partition, only while `lease` is
     * the current grant (the row lock orders it against a concurrent grant);
     * otherwise throws `LeaseFencedError`.
     */
    async commit(lease: Lease, next: bigint): Promise<void> {
      const rows = await sql.query(
        `insert into message_log.commits (group_id, topic, partition, committed_offset, committed_at)
         select l.group_id, l.topic, l.partition, $6::bigint, coalesce($7::timestamptz, now())
         from message_log.leases l
         where l.group_id = $1 and l.topic = $2 and l.partition = $3 and l.member_id = $4 and l.epoch = $5::bigint
         for share of l
         on conflict (group_id, topic, partition) do update
           set committed_offset = excluded.committed_offset, committed_at = excluded.committed_at
         returning 1 as ok`,
        [groupId, lease.topic, lease.partition, memberId, lease.epoch, next.toString(), at()],
      );
      if (rows.length !== 1) {
        throw new LeaseFencedError(groupId, lease.topic, lease.partition, lease.epoch, next.toString());
      }
    },
  };
};
