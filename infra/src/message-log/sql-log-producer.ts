import type { OutgoingMessage } from '../ports/message-log.ts';
import type { Sql } from '../sql/sql.ts';
import { partitionFor } from './partitioner.ts';
import { CHANNEL, notifyData } from './sql-log-notifications.ts';

/**
 * The SQL log's `produce`: one call is one transaction, all its messages or
 * none, with offsets reserved under each partition row's lock, so they are
 * gap-free and become visible in offset order (sql-log.ts has the design).
 *
 * @example
 *   const produce = sqlProducer(sql);
 *   await produce('lectern.profile.events', [{ key: 'profile-42', value: json }]);
 */
export const sqlProducer = (sql: Sql) => {
  // A topic keeps its partition count once created, so it is read once.
  const partitionCounts = new Map<string, number>();
  const partitionsOf = async (topic: string): Promise<number> => {
    const known = partitionCounts.get(topic);
    if (known !== undefined) return known;
    const [row] = await sql.query<{ partitions: number }>(
      'select partitions from message_log.topics where topic = $1',
      [topic],
    );
    if (!row) throw new Error(`message log: unknown topic ${topic} (call ensureTopics first)`);
    partitionCounts.set(topic, row.partitions);
    return row.partitions;
  };

  return async (topic: string, messages: readonly OutgoingMessage[]): Promise<void> => {
    if (messages.length === 0) return;
    const count = await partitionsOf(topic);
    const byPartition = new Map<number, OutgoingMessage[]>();
    for (const m of messages) {
      if (typeof m.key !== 'string' || typeof m.value !== 'string') {
        throw new TypeError('message log: key and value must be strings');
      }
      const p = partitionFor(m.key, count);
      const list = byPartition.get(p);
      if (list) list.push(m);
      else byPartition.set(p, [m]);
    }
    const parts = [...byPartition.keys()].sort((a, b) => a - b);
    await sql.transaction(async (tx) => {
      // 1. Lock the partitions in ascending order, so concurrent producers never deadlock.
      await tx.query(
        `select partition from message_log.partitions
         where topic = $1 and partition = any($2::int[]) order by partition for update`,
        [topic, parts],
      );
      // 2. Reserve offsets; the lock is held until commit, so the next producer's come after ours.
      const reserved = await tx.query<{ partition: number; first: string }>(
        `update message_log.partitions lp set next_offset = lp.next_offset + c.n
         from unnest($2::int[], $3::int[]) as c(partition, n)
         where lp.topic = $1 and lp.partition = c.partition
         returning lp.partition, (lp.next_offset - c.n)::text as first`,
        [topic, parts, parts.map((p) => byPartition.get(p)!.length)],
      );
      if (reserved.length !== parts.length)
        throw new Error(`message log: partitions of ${topic} are missing`);
      // 3. Insert, in the order given per partition.
      const records = reserved.flatMap(({ partition, first }) => {
        let offset = BigInt(first);
        return byPartition.get(partition)!.map((m) => ({
          p: partition,
          o: (offset++).toString(),
          k: m.key,
          v: m.value,
          h: m.headers ?? {},
        }));
      });
      await tx.query(
        `insert into message_log.messages (topic, partition, "offset", key, value, headers)
         select $1, r.p, r.o::bigint, r.k, r.v, r.h
         from jsonb_to_recordset($2::jsonb) as r(p int, o text, k text, v text, h jsonb)`,
        [topic, JSON.stringify(records)],
      );
      // 4. Delivered on commit only.
      await tx.query('select pg_notify($1, $2)', [CHANNEL, notifyData(topic)]);
    });
  };
};
