/**
 * A partitioned, ordered, replayable message log (Apache Kafka, or tables in
 * PostgreSQL/PGlite for the embedded profile). Messages with the same key land
 * in the same partition, in the order produced.
 */

export type LogHeaders = Readonly<Record<string, string>>;

export type OutgoingMessage = Readonly<{ key: string; value: string; headers?: LogHeaders }>;

export type LogMessage = Readonly<{
  topic: string;
  partition: number;
  /** Decimal string: Kafka offsets are 64-bit. */
  offset: string;
  key: string;
  value: string;
  headers: LogHeaders;
  /** Epoch milliseconds at which the log accepted the message. */
  timestamp: number;
}>;

export type Batch = Readonly<{ topic: string; partition: number; messages: readonly LogMessage[] }>;

/** What the log tells the handler of a batch while it runs. */
export type BatchControl = Readonly<{
  /**
   * Aborted when the log needs this batch finished soon: its partition is to
   * move to another member (a rebalance), or the consumer is stopping. A
   * handler that holds a batch back to gather more (a buffer waiting out a
   * delay) finishes it at once; the partition, and every member waiting for
   * it, waits for the handler. When the handler then resolves the batch is
   * committed, unless the partition was already taken from this member, in
   * which case its next owner delivers it again.
   */
  signal: AbortSignal;
}>;

export type ConsumerOptions = Readonly<{
  groupId: string;
  topics: readonly string[];
  /** Where a group with no committed offset starts; default `'earliest'`. */
  startFrom?: 'earliest' | 'latest';
  /**
   * Handles one batch of one partition, in offset order. When it resolves the
   * batch's offsets are committed; when it rejects nothing is committed and
   * the same messages are delivered again (after `retryDelayMs`).
   */
  handleBatch: (batch: Batch, control: BatchControl) => Promise<void>;
  maxBatchSize?: number;
  retryDelayMs?: number;
}>;

export type Consumer = Readonly<{
  /** Resolves once the consumer has joined its group and been assigned partitions. */
  ready: Promise<void>;
  /** Stops fetching, lets the batch in hand finish and commit, leaves the group. */
  stop(): Promise<void>;
  /** True while the consumer is running (for /readyz). */
  isRunning(): boolean;
}>;

/** A consumer group as the log knows it (`MessageLog.listGroups`). */
export type GroupSummary = Readonly<{
  groupId: string;
  /** Members alive now; one whose session lapsed (killed, cut off) no longer counts. */
  members: number;
  /**
   * Epoch milliseconds of the group's last sign of life the log records (a
   * member's heartbeat, a commit), by the log's clock; null where the log
   * keeps no such time (Kafka tells none of a group).
   */
  activeAt: number | null;
}>;

/** `deleteGroup` refused: the group has members, and a group in use is never deleted. */
export class GroupNotEmptyError extends Error {
  readonly code = 'group_not_empty';
  readonly groupId: string;
  constructor(groupId: string) {
    super(`consumer group ${groupId} has members; it is not deleted`);
    this.name = 'GroupNotEmptyError';
    this.groupId = groupId;
  }
}

/**
 * @example
 *   await log.ensureTopics([{ topic: 'lectern.profile.events', partitions: 4 }]);
 *   await log.produce('lectern.profile.events', [{ key: 'profile-42', value: json, headers }]);
 *   const c = log.consume({ groupId: 'projection-profiles', topics: ['lectern.profile.events'],
 *     handleBatch: async (b) => apply(b.messages) });
 */
export interface MessageLog {
  ensureTopics(topics: readonly { topic: string; partitions: number }[]): Promise<void>;
  /**
   * Appends messages, in order per key. Retried sends never duplicate a
   * message within one producer session (Kafka's idempotent producer).
   * A call may be of any total size (Kafka's adapter sends it in requests
   * the broker takes); on Kafka it is not atomic, so a failed call may have
   * appended part of the messages, and the caller's retry must be
   * idempotent (the same event ids).
   */
  produce(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  consume(opts: ConsumerOptions): Consumer;
  /** Committed offset (next to read) per partition of a group, and the log end per partition. */
  lag(
    groupId: string,
    topic: string,
  ): Promise<{ partition: number; committed: string | null; end: string }[]>;
  /**
   * The consumer groups whose id starts with `prefix` (every group for
   * `''`), in id order, with their members now.
   *
   * @example
   *   const stale = (await log.listGroups('lectern.realtime.')).filter((g) => g.members === 0);
   */
  listGroups(prefix: string): Promise<GroupSummary[]>;
  /**
   * Deletes a group with no members, and its committed offsets with it: a
   * consumer that joins that id afterwards starts where `startFrom` says.
   * Resolves true when it deleted the group, false when there was none.
   * A group with a member is left as it is: rejects with
   * {@link GroupNotEmptyError}.
   *
   * @example
   *   await consumer.stop();
   *   await log.deleteGroup('lectern.realtime.gw-7');
   */
  deleteGroup(groupId: string): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
