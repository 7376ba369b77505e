import { randomUUID } from 'node:crypto';
import type { LogMessage, MessageLog } from '@lectern/infra/ports/message-log';

/**
 * Every record of `topic` up to where the log ends now, read by a consumer
 * group of its own from the start, as any consumer would (bounded wait).
 */
export const recordsOf = async (
  log: MessageLog,
  topic: string,
  timeoutMs = 120_000,
): Promise<LogMessage[]> => {
  const groupId = `records-${randomUUID()}`;
  const left = new Map(
    (await log.lag(groupId, topic))
      .filter((p) => BigInt(p.end) > 0n)
      .map((p) => [p.partition, BigInt(p.end)]),
  );
  const records: LogMessage[] = [];
  if (left.size === 0) return records;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const consumer = log.consume({
    groupId,
    topics: [topic],
    startFrom: 'earliest',
    handleBatch: async (batch) => {
      for (const m of batch.messages) {
        const end = left.get(m.partition);
        if (end === undefined || BigInt(m.offset) >= end) continue;
        records.push(m);
        if (BigInt(m.offset) + 1n >= end) left.delete(m.partition);
      }
      if (left.size === 0) done();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      all,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`${topic}: ${left.size} partitions not read to their end in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await consumer.stop();
  }
  return records;
};
