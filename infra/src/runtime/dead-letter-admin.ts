import { randomUUID } from 'node:crypto';
import type { LogMessage, MessageLog } from '../ports/message-log.ts';
import type { DeadLetter } from './dead-letters.ts';

/** The header a redriven message carries: the consumer it is redriven for (see below). */
export const REDRIVE_FOR = 'lectern-redrive-for';
/** The header naming the dead letter a redriven message came from (`<topic>@<offset>`). */
export const REDRIVEN_FROM = 'lectern-redriven-from';

/** The consumer group that redrives a dead-letter topic: its committed offset is how far it was redriven. */
export const redriveGroup = (topic: string): string => `${topic}.redrive`;

export type DeadLetterTopicSummary = Readonly<{
  topic: string;
  /** Dead letters ever written to it. */
  total: number;
  /** Of those, how many were redriven (the oldest ones: redrive goes in order). */
  redriven: number;
  /** Not redriven yet. */
  waiting: number;
}>;

export type ShownDeadLetter = Readonly<{
  offset: string;
  redriven: boolean;
  /** The dead letter; `null` when the message is not one (written by something else). */
  letter: DeadLetter | null;
}>;

/** Thrown for a topic that is not one of the dead-letter topics the admin was given. */
export class UnknownDeadLetterTopic extends Error {
  constructor(topic: string) {
    super(`${topic} is not a dead-letter topic of this deployment`);
    this.name = 'UnknownDeadLetterTopic';
  }
}

const parse = (m: LogMessage): DeadLetter | null => {
  try {
    const v = JSON.parse(m.value) as Partial<DeadLetter> | null;
    return v && typeof v.value === 'string' && typeof v.source?.topic === 'string' ? (v as DeadLetter) : null;
  } catch {
    return null;
  }
};

/**
 * Handed back by a redrive for a batch wholly past the letters it set out to
 * redrive: those came while it ran (a redriven message that failed again, at
 * once) and wait for the next redrive.
 */
export class PastRedriveEnd extends Error {
  constructor(topic: string, end: bigint) {
    super(`letters of ${topic} from offset ${end} came during this redrive; the next one takes them`);
    this.name = 'PastRedriveEnd';
  }
}

/** Resolves once `done()` holds, checking every 50 ms; rejects after `timeoutMs`. */
const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/**
 * Operating the dead-letter topics of a deployment (`lectern dlq …`) through
 * the message log alone, so it works in any process and topology:
 *
 * - `list`: each topic with its letters, how many were redriven, how many wait.
 * - `show`: the letters of a topic, oldest first, up to `limit`, read by a
 *   throwaway consumer group that commits nothing (the batch is handed back).
 * - `redrive`: publishes each waiting letter's original message again to the
 *   topic it came from, with `lectern-redrive-for: <consumer>`, under the
 *   group `<topic>.redrive`, whose commits mark what was redriven: each
 *   letter is redriven once (at least once, if the process dies mid-way).
 *   A redrive takes the letters there when it starts: one that fails again
 *   at once is filed anew and waits for the next redrive, rather than going
 *   round within this one.
 *   Every consumer of that topic gets it again and drops it as a copy (by
 *   event id or stream revision), except the one named, which applies it.
 *
 * Only the topics given are served: an admin reads dead letters, not any topic.
 *
 * @example
 *   const admin = deadLetterAdmin(log, [dlqTopicOf('lectern', 'projection.analytics')]);
 *   await admin.redrive('lectern.dlq.projection.analytics');
 */
export const deadLetterAdmin = (
  log: MessageLog,
  topics: readonly string[],
  opts: Readonly<{ timeoutMs?: number }> = {},
) => {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const known = (topic: string): void => {
    if (!topics.includes(topic)) throw new UnknownDeadLetterTopic(topic);
  };
  // A consumer creates its topic when it starts; one that never ran has no letters yet.
  let ensured: Promise<void> | null = null;
  const ensure = () =>
    (ensured ??= log.ensureTopics(topics.map((topic) => ({ topic, partitions: 1 }))).catch((error) => {
      ensured = null;
      throw error;
    }));
  const count = async (group: string, topic: string) => {
    const parts = await log.lag(group, topic);
    const total = parts.reduce((n, p) => n + Number(p.end), 0);
    const committed = parts.reduce((n, p) => n + Number(p.committed ?? 0), 0);
    const ends = new Map(parts.map((p) => [p.partition, BigInt(p.end)]));
    return { total, committed, ends };
  };

  return {
    topics,

    async list(): Promise<DeadLetterTopicSummary[]> {
      await ensure();
      return Promise.all(
        topics.map(async (topic) => {
          const { total, committed } = await count(redriveGroup(topic), topic);
          return { topic, total, redriven: committed, waiting: total - committed };
        }),
      );
    },

    async show(topic: string, limit = 100): Promise<ShownDeadLetter[]> {
      known(topic);
      await ensure();
      const { total, committed } = await count(redriveGroup(topic), topic);
      if (total === 0) return [];
      const seen: LogMessage[] = [];
      const consumer = log.consume({
        groupId: `${topic}.show.${randomUUID()}`,
        topics: [topic],
        maxBatchSize: limit,
        handleBatch: async (batch) => {
          if (seen.length === 0) seen.push(...batch.messages.slice(0, limit));
          // Handed back, so this throwaway group commits nothing.
          throw new Error('dead letters read for display, not taken');
        },
      });
      try {
        await until(`the letters of ${topic}`, async () => seen.length > 0, timeoutMs);
      } finally {
        await consumer.stop();
      }
      return seen.map((m) => ({
        offset: m.offset,
        redriven: Number(m.offset) < committed,
        letter: parse(m),
      }));
    },

    async redrive(topic: string): Promise<{ redriven: number; skipped: number }> {
      known(topic);
      await ensure();
      const group = redriveGroup(topic);
      const { total, committed, ends } = await count(group, topic);
      if (total === committed) return { redriven: 0, skipped: 0 };
      // Letters by offset, not deliveries: a batch whose commit was lost (a
      // session that lapsed on a busy machine) comes again and is produced
      // again (consumers drop the copies by event id), but counts once.
      const redriven = new Set<string>();
      const skipped = new Set<string>();
      const consumer = log.consume({
        groupId: group,
        topics: [topic],
        handleBatch: async (batch) => {
          // A batch is committed whole: one that starts before the end is
          // redriven whole (what came since rides along, once); one wholly
          // past it is handed back, uncommitted, for the next redrive.
          const end = ends.get(batch.partition) ?? 0n;
          if (BigInt(batch.messages[0]!.offset) >= end) throw new PastRedriveEnd(topic, end);
          const bySource = new Map<
            string,
            { key: string; value: string; headers: Record<string, string> }[]
          >();
          for (const m of batch.messages) {
            const letter = parse(m);
            if (!letter) {
              skipped.add(`${batch.partition}@${m.offset}`);
              continue;
            }
            const out = bySource.get(letter.source.topic) ?? [];
            out.push({
              key: letter.key,
              value: letter.value,
              headers: {
                ...letter.headers,
                [REDRIVE_FOR]: letter.consumer,
                [REDRIVEN_FROM]: `${topic}@${m.offset}`,
              },
            });
            bySource.set(letter.source.topic, out);
          }
          for (const [source, messages] of bySource) await log.produce(source, messages);
          for (const m of batch.messages) {
            const at = `${batch.partition}@${m.offset}`;
            if (!skipped.has(at)) redriven.add(at);
          }
        },
      });
      try {
        await until(
          `the redrive of ${topic}`,
          async () => (await count(group, topic)).committed >= total,
          timeoutMs,
        );
      } finally {
        await consumer.stop();
      }
      return { redriven: redriven.size, skipped: skipped.size };
    },
  };
};

export type DeadLetterAdmin = ReturnType<typeof deadLetterAdmin>;
