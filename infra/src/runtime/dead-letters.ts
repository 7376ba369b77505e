import type { LogHeaders, LogMessage, MessageLog } from '../ports/message-log.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { clip } from './text.ts';

/**
 * The one rule every consumer of the log follows (ARCHITECTURE.md rule 10):
 * a failing message is retried with backoff, then set aside in the
 * consumer's dead-letter topic with its error, and the consumer moves on.
 * No message can stop a pipeline; an engine that is down stops it only
 * until the engine is back (nothing is dead-lettered for that).
 */

/** Every dead-letter topic of a namespace starts with this. */
export const dlqPrefix = (namespace = 'lectern'): string => `${namespace}.dlq.`;

/**
 * The dead-letter topic of a consumer: `<ns>.dlq.<consumer>`, where the
 * consumer is named as its group is (`projection.profiles`,
 * `projection.analytics`, `worker.<reaction>`).
 */
export const dlqTopicOf = (namespace: string, consumer: string): string =>
  `${dlqPrefix(namespace)}${consumer}`;

/**
 * One dead letter, the JSON value of a message on a dead-letter topic. It
 * carries the original message unchanged (`key`, `value`, `headers`), so
 * that a redrive can publish it again exactly as it was.
 */
export type DeadLetter = Readonly<{
  /** The consumer that gave up on it, as in its topic (`projection.analytics`). */
  consumer: string;
  source: Readonly<{ topic: string; partition: number; offset: string }>;
  key: string;
  value: string;
  headers: LogHeaders;
  /** The engine's or the code's error; `code` is the engine's (ClickHouse code, SQLSTATE) when it gave one. */
  error: Readonly<{ name: string; message: string; code?: string }>;
  /** Tries before it was set aside (1 when the error says retrying cannot help). */
  attempts: number;
  failedAt: string;
}>;

const errorOf = (error: unknown): DeadLetter['error'] => {
  const e = error as { name?: unknown; message?: unknown; code?: unknown; clickhouseCode?: unknown };
  const code = e?.clickhouseCode ?? e?.code;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(error),
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
  };
};

export type DeadLetterSender = Readonly<{
  topic: string;
  /** `context`: what the log line names besides the message (a reactor's causing event id and correlation id). */
  send(
    message: LogMessage,
    error: unknown,
    attempts: number,
    context?: Readonly<Record<string, unknown>>,
  ): Promise<void>;
}>;

/**
 * Sends messages to a consumer's dead-letter topic, counts them
 * (`lectern_dead_lettered_total{consumer}`) and logs each at error level.
 *
 * @example
 *   const dlq = deadLetterSender({ log, namespace, consumer: 'projection.analytics', logger, metrics });
 *   await dlq.send(message, error, 3);
 */
export const deadLetterSender = (opts: {
  log: MessageLog;
  namespace: string;
  consumer: string;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** The metric's `consumer` label; default `consumer`. */
  label?: string;
  now?: () => number;
}): DeadLetterSender => {
  const topic = dlqTopicOf(opts.namespace, opts.consumer);
  const now = opts.now ?? Date.now;
  return {
    topic,
    async send(message, error, attempts, context = {}) {
      const letter: DeadLetter = {
        consumer: opts.consumer,
        source: { topic: message.topic, partition: message.partition, offset: message.offset },
        key: message.key,
        value: message.value,
        headers: message.headers,
        error: errorOf(error),
        attempts,
        failedAt: new Date(now()).toISOString(),
      };
      await opts.log.produce(topic, [
        {
          key: message.key,
          value: JSON.stringify(letter),
          headers: { 'dlq-reason': clip(letter.error.message, 500), 'dlq-source': message.topic },
        },
      ]);
      opts.metrics?.deadLettered.inc({ consumer: opts.label ?? opts.consumer });
      opts.logger.error(
        {
          ...context,
          err: error,
          topic: message.topic,
          partition: message.partition,
          offset: message.offset,
          topicDlq: topic,
        },
        'message dead-lettered',
      );
    },
  };
};

export type IsolationOptions<T> = Readonly<{
  /** Applies items all together, or throws. Applying again what was applied must be harmless. */
  apply: (items: readonly T[]) => Promise<void>;
  /**
   * Whether `error`, met applying `item` alone, means the item itself is bad
   * (the engine refused it, the projection's code throws on it) rather than
   * the engine being unavailable. When it resolves false, nothing is
   * dead-lettered and the whole call throws, so the log delivers it all again.
   */
  isPoison: (error: unknown, item: T) => Promise<boolean> | boolean;
  /** Whether `error` says retrying the same items cannot help (skip the backoff and isolate at once). */
  isFinal?: (error: unknown) => boolean;
  /** Sets one bad item aside. */
  deadLetter: (item: T, error: unknown, attempts: number) => Promise<void>;
  /** Tries of the whole batch before isolating; default 5. */
  attempts?: number;
  /** First pause between tries, doubled each time; default 100 ms. */
  baseDelayMs?: number;
  onRetry?: (error: unknown, attempt: number) => void;
  /** Injected for tests; default a timer. */
  sleep?: (ms: number) => Promise<void>;
}>;

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Applies a batch under the rule:
 *
 * 1. Try the whole batch, retrying with exponential backoff (an error that
 *    `isFinal` says retrying cannot fix skips the waits).
 * 2. Still failing: split it in halves, recursively, applying every part
 *    that succeeds, in the batch's order, until each failing part is one
 *    item; about 2·log2(n) tries per bad item, so one bad row in 10 000 is
 *    found in some 28 inserts. A batch of one is not tried again: its
 *    tries in 1 were the item's.
 * 3. Each item that fails alone and `isPoison` is dead-lettered; the call
 *    resolves, and the log commits the batch. The first that fails alone
 *    and is not poison (the engine went away) ends the walk at once: nothing
 *    after it is applied, and the call throws. What was applied before it is
 *    applied again on redelivery, harmlessly; what follows it never went
 *    ahead of it. Of the poison items found before it, those that something
 *    later was applied after are dead-lettered first: on redelivery a
 *    consumer that drops what it has seen (a stream's checkpoint, moved by
 *    that later item) would drop them unseen. The others are left to the
 *    redelivery, which finds them again and sets each aside once.
 *
 * Returns the items dead-lettered.
 */
export const applyIsolating = async <T>(items: readonly T[], opts: IsolationOptions<T>): Promise<T[]> => {
  if (items.length === 0) return [];
  const attempts = Math.max(1, opts.attempts ?? 5);
  const baseDelay = opts.baseDelayMs ?? 100;
  const sleep = opts.sleep ?? timer;
  let tries = 0;
  let failure: { error: unknown };
  for (;;) {
    tries += 1;
    try {
      await opts.apply(items);
      return [];
    } catch (error) {
      failure = { error };
      if (tries >= attempts || opts.isFinal?.(error)) break;
      opts.onRetry?.(error, tries);
      await sleep(baseDelay * 2 ** (tries - 1));
    }
  }
  const failed: { item: T; error: unknown }[] = [];
  /** How many of `failed` have an applied item after them (the walk goes in the batch's order). */
  let passed = 0;
  /** `known`: how this part already failed, so it is split without being tried again. */
  const walk = async (part: readonly T[], known?: { error: unknown }): Promise<void> => {
    if (!known) {
      try {
        await opts.apply(part);
        passed = failed.length;
        return;
      } catch (error) {
        known = { error };
      }
    }
    if (part.length === 1) {
      // The engine failed, not the item: stop here. Applying what follows it
      // would put a later item of the batch before this one, which a consumer
      // that drops what it has seen (a stream's checkpoint) then loses.
      if (!(await opts.isPoison(known.error, part[0]!))) throw known.error;
      return void failed.push({ item: part[0]!, error: known.error });
    }
    const mid = Math.ceil(part.length / 2);
    await walk(part.slice(0, mid));
    await walk(part.slice(mid));
  };
  const setAside = async (letters: typeof failed) => {
    for (const { item, error } of letters) await opts.deadLetter(item, error, tries);
  };
  try {
    await walk(items, failure);
  } catch (error) {
    await setAside(failed.slice(0, passed));
    throw error;
  }
  await setAside(failed);
  return failed.map((f) => f.item);
};
