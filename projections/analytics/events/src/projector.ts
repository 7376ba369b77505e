import { topicOf } from '@lectern/schemas';
import { decodeIngestMessage, ingestTopic } from '@lectern/schemas/analytics/ingest';
import { isDataRefusal } from '@lectern/infra/analytics/refusal';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import type { Batch, BatchControl, Consumer, LogMessage, MessageLog } from '@lectern/infra/ports/message-log';
import { fromLogMessage } from '@lectern/infra/runtime/codec';
import { applyIsolating, deadLetterSender } from '@lectern/infra/runtime/dead-letters';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { Metrics } from '@lectern/infra/runtime/metrics';
import { progressWatch, type ConsumerProgress } from '@lectern/infra/runtime/progress';
import { domainRows, telemetryRow } from './rows.ts';
import type { EventRow } from './schema.ts';

export type AnalyticsProjectorOptions = Readonly<{
  store: AnalyticsStore;
  log: MessageLog;
  logger: Logger;
  metrics?: Metrics;
  /** Prefix of topics and consumer groups; default `lectern`. */
  namespace?: string;
  /** Contexts whose domain events are taken besides telemetry; default `['profile']`. */
  contexts?: readonly string[];
  /** Names the consumer group (`<ns>.projection.<name>`) and the metrics; default `analytics`. */
  name?: string;
  /** Rows per insert at most, and per log batch; a full buffer is inserted at once. Default 10 000. */
  maxBatchRows?: number;
  /** How long rows may wait for more before they are inserted anyway. Default 1000 ms. */
  maxBatchDelayMs?: number;
  /** Pause before the log delivers a batch again after its insert failed; the log's default otherwise. */
  retryDelayMs?: number;
  /** Tries of an insert the engine fails for its own reasons, before the log delivers it again; default 3. */
  maxAttempts?: number;
  /** First pause between those tries, doubled each time; default 100 ms. */
  retryBaseDelayMs?: number;
  /** With lag and no progress for this long, the projector counts as stalled (/readyz, metric); default 60 s. */
  stallAfterMs?: number;
  /** How often lag and progress are sampled; default 5 s. */
  progressIntervalMs?: number;
  /** Partitions of a topic the projector has to create; default 4, as the relay. */
  partitions?: number;
  /**
   * Members of the consumer group this process runs; default `partitions`.
   * The log hands one member one batch at a time and waits for it, so with
   * a single member the batches of other partitions would queue behind the
   * one waiting out its delay; members side by side fill one buffer.
   */
  members?: number;
  /** Epoch milliseconds now; the `ingested_at` of rows. */
  now?: () => number;
}>;

export type AnalyticsProjector = Readonly<{
  start(): Promise<void>;
  /** Inserts what it holds, then stops consuming (the log commits what was inserted). */
  stop(): Promise<void>;
  isRunning(): boolean;
  /** Lag and, when it has lag but has not advanced for `stallAfterMs`, for how long (see progress.ts). */
  progress(): ConsumerProgress;
}>;

/** A row with the message it came from, so that a row the engine refuses can be dead-lettered as sent. */
type Entry = Readonly<{ row: EventRow; message: LogMessage }>;

type Waiter = Readonly<{ resolve: () => void; reject: (error: unknown) => void }>;

/**
 * Feeds ClickHouse's `events` table from the log: client telemetry from
 * `<ns>.analytics.ingest` and the domain events of `contexts` from their
 * topics.
 *
 * 1. Rows are buffered and inserted in batches: at once when `maxBatchRows`
 *    are waiting or when every member of this process waits on the buffer
 *    (none can bring more until an insert frees it), otherwise
 *    `maxBatchDelayMs` after the first of them (a trickle of events makes one
 *    insert per interval, not one per event; ClickHouse wants few, large
 *    inserts).
 * 2. A log batch's handler resolves only once its rows are inserted, so the
 *    consumer group's committed offsets, the projector's checkpoint, never
 *    run ahead of ClickHouse. A crash in between redelivers the batch.
 * 3. Copies from redelivery or replay carry the same event id and collapse
 *    in `events` (see schema.ts); reports count distinct ids, so they never
 *    count a copy. Within one insert, copies are dropped before sending.
 * 4. A message that is not an event goes to `<ns>.dlq.projection.<name>`
 *    with the error, and the rest of its batch goes on. So does a row the
 *    engine refuses for its content (a lone surrogate, say): the insert is
 *    split until the row is found (infra's runtime/dead-letters.ts), the rest is inserted.
 *    A failure of the engine itself is retried, then left to the log to
 *    deliver again; nothing is dead-lettered for it.
 *
 * @example
 *   const projector = analyticsProjector({ store, log, logger, contexts: ['profile', 'identity'] });
 *   await projector.start();
 */
export const analyticsProjector = (opts: AnalyticsProjectorOptions): AnalyticsProjector => {
  const namespace = opts.namespace ?? 'lectern';
  const name = opts.name ?? 'analytics';
  const telemetry = ingestTopic(namespace);
  const topics = [telemetry, ...(opts.contexts ?? ['profile']).map((c) => topicOf(c, namespace))];
  const group = `${namespace}.projection.${name}`;
  const now = opts.now ?? Date.now;
  const dlq = deadLetterSender({
    log: opts.log,
    namespace,
    consumer: `projection.${name}`,
    label: name,
    logger: opts.logger.child({ projection: name }),
    metrics: opts.metrics,
    now,
  });
  const maxRows = opts.maxBatchRows ?? 10_000;
  const maxDelay = opts.maxBatchDelayMs ?? 1000;
  const log = opts.logger.child({ projection: name });

  let buffer: Entry[] = [];
  let waiters: Waiter[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let stopping = false;
  /** Members this process runs: when every one of them waits on the buffer, nothing more can come. */
  let members = Number.POSITIVE_INFINITY;

  const insert = async (entries: readonly Entry[], done: readonly Waiter[]): Promise<void> => {
    const byId = new Map<string, Entry>();
    for (const e of entries) byId.set(e.row.event_id, e);
    const unique = [...byId.values()];
    let dead = 0;
    try {
      // Members adding at once can overfill the buffer; no insert exceeds maxRows.
      for (let i = 0; i < unique.length; i += maxRows) {
        const set = await applyIsolating(unique.slice(i, i + maxRows), {
          apply: (part) =>
            opts.store.insert(
              'events',
              part.map((e) => e.row),
            ),
          // The engine refuses such a row however often it is sent: find it at once.
          isFinal: isDataRefusal,
          isPoison: isDataRefusal,
          deadLetter: (e, error, attempts) => dlq.send(e.message, error, attempts),
          attempts: opts.maxAttempts ?? 3,
          baseDelayMs: opts.retryBaseDelayMs ?? 100,
          onRetry: (error, attempt) => {
            opts.metrics?.consumerRetries.inc({ consumer: name });
            log.warn({ err: error, attempt, rows: byId.size }, 'analytics insert failed; retrying');
          },
        });
        dead += set.length;
      }
    } catch (error) {
      opts.metrics?.consumerRetries.inc({ consumer: name });
      log.warn({ err: error, rows: byId.size }, 'analytics insert failed; the log will deliver again');
      for (const w of done) w.reject(error);
      return;
    }
    opts.metrics?.projectionApplied.inc({ projection: name }, byId.size - dead);
    const newest = entries.reduce((m, e) => Math.max(m, e.row.occurred_at), 0);
    opts.metrics?.projectionLagMs.set({ projection: name }, Math.max(0, now() - newest));
    for (const w of done) w.resolve();
  };

  /** Hands the buffer to an insert, after the inserts already under way. */
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (buffer.length > 0) {
      const entries = buffer;
      const done = waiters;
      buffer = [];
      waiters = [];
      flushing = flushing.then(() => insert(entries, done));
    }
    return flushing;
  };

  /**
   * Resolves once `rows` are in ClickHouse; rejects if their insert failed.
   * When the log wants the batch back (`signal`: a rebalance, a stop), what
   * waits is inserted at once: the delay never holds up a group.
   */
  const add = (entries: readonly Entry[], signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (entries.length === 0) return resolve();
      buffer.push(...entries);
      waiters.push({ resolve, reject });
      // Each member holds one batch until its rows are in: once all of them
      // wait, waiting longer only idles the pipeline.
      if (buffer.length >= maxRows || stopping || signal.aborted || waiters.length >= members) void flush();
      else {
        timer ??= setTimeout(() => void flush(), maxDelay);
        signal.addEventListener('abort', () => void flush(), { once: true });
      }
    });

  const handleBatch = async (batch: Batch, { signal }: BatchControl): Promise<void> => {
    const at = now();
    const entries: Entry[] = [];
    for (const message of batch.messages) {
      try {
        const rows =
          message.topic === telemetry
            ? [telemetryRow(decodeIngestMessage(message.value), at)]
            : domainRows(fromLogMessage(message), at);
        for (const row of rows) entries.push({ row, message });
      } catch (error) {
        // Not an event: no retry can make it one.
        await dlq.send(message, error, 1);
      }
    }
    await add(entries, signal);
  };

  let consumers: Consumer[] = [];
  const watch = progressWatch({
    name,
    group,
    topics,
    log: opts.log,
    metrics: opts.metrics,
    now,
    ...(opts.stallAfterMs === undefined ? {} : { stallAfterMs: opts.stallAfterMs }),
    ...(opts.progressIntervalMs === undefined ? {} : { intervalMs: opts.progressIntervalMs }),
  });

  return {
    async start() {
      if (consumers.length > 0) return;
      stopping = false;
      const partitions = opts.partitions ?? 4;
      await opts.log.ensureTopics([
        ...topics.map((topic) => ({ topic, partitions })),
        { topic: dlq.topic, partitions: 1 },
      ]);
      members = Math.max(1, opts.members ?? partitions);
      consumers = Array.from({ length: members }, () =>
        opts.log.consume({
          groupId: group,
          topics,
          handleBatch,
          maxBatchSize: maxRows,
          ...(opts.retryDelayMs === undefined ? {} : { retryDelayMs: opts.retryDelayMs }),
        }),
      );
      await Promise.all(consumers.map((c) => c.ready));
      watch.start();
    },

    async stop() {
      watch.stop();
      // 1. Insert what waits, so the batch in hand can finish and commit;
      // 2. then stop: a batch still arriving is inserted at once (stopping).
      stopping = true;
      await flush();
      const stopped = consumers;
      consumers = [];
      await Promise.all(stopped.map((c) => c.stop()));
      await flush();
    },

    isRunning: () => consumers.length > 0 && consumers.every((c) => c.isRunning()),
    progress: watch.progress,
  };
};
