import { topicOf } from '@lectern/schemas';
import type { AnalyticsStore } from '../ports/analytics-store.ts';
import type { Batch, Consumer, LogMessage, MessageLog } from '../ports/message-log.ts';
import { fromLogMessage } from '../runtime/codec.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { decodeIngestMessage, domainRow, ingestTopic, telemetryRow } from './rows.ts';
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
}>;

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
 *    with the error, and the rest of its batch goes on.
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
  const dlq = `${namespace}.dlq.projection.${name}`;
  const maxRows = opts.maxBatchRows ?? 10_000;
  const maxDelay = opts.maxBatchDelayMs ?? 1000;
  const now = opts.now ?? Date.now;
  const log = opts.logger.child({ projection: name });

  let buffer: EventRow[] = [];
  let waiters: Waiter[] = [];
  let timer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> = Promise.resolve();
  let stopping = false;
  /** Members this process runs: when every one of them waits on the buffer, nothing more can come. */
  let members = Number.POSITIVE_INFINITY;

  const insert = async (rows: readonly EventRow[], done: readonly Waiter[]): Promise<void> => {
    const byId = new Map<string, EventRow>();
    for (const r of rows) byId.set(r.event_id, r);
    const unique = [...byId.values()];
    try {
      // Members adding at once can overfill the buffer; no insert exceeds maxRows.
      for (let i = 0; i < unique.length; i += maxRows) {
        await opts.store.insert('events', unique.slice(i, i + maxRows));
      }
    } catch (error) {
      opts.metrics?.consumerRetries.inc({ consumer: name });
      log.warn({ err: error, rows: byId.size }, 'analytics insert failed; the log will deliver again');
      for (const w of done) w.reject(error);
      return;
    }
    opts.metrics?.projectionApplied.inc({ projection: name }, byId.size);
    const newest = rows.reduce((m, r) => Math.max(m, r.occurred_at), 0);
    opts.metrics?.projectionLagMs.set({ projection: name }, Math.max(0, now() - newest));
    for (const w of done) w.resolve();
  };

  /** Hands the buffer to an insert, after the inserts already under way. */
  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (buffer.length > 0) {
      const rows = buffer;
      const done = waiters;
      buffer = [];
      waiters = [];
      flushing = flushing.then(() => insert(rows, done));
    }
    return flushing;
  };

  /** Resolves once `rows` are in ClickHouse; rejects if their insert failed. */
  const add = (rows: readonly EventRow[]): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (rows.length === 0) return resolve();
      buffer.push(...rows);
      waiters.push({ resolve, reject });
      // Each member holds one batch until its rows are in: once all of them
      // wait, waiting longer only idles the pipeline.
      if (buffer.length >= maxRows || stopping || waiters.length >= members) void flush();
      else timer ??= setTimeout(() => void flush(), maxDelay);
    });

  const deadLetter = async (message: LogMessage, error: unknown): Promise<void> => {
    await opts.log.produce(dlq, [
      {
        key: message.key,
        value: JSON.stringify({
          projection: name,
          source: { topic: message.topic, partition: message.partition, offset: message.offset },
          value: message.value,
          error: { message: (error as Error).message ?? String(error), name: (error as Error).name },
          failedAt: new Date(now()).toISOString(),
        }),
        headers: {
          ...message.headers,
          'dlq-reason': String((error as Error).message ?? error).slice(0, 500),
        },
      },
    ]);
    opts.metrics?.deadLettered.inc({ consumer: name });
    log.error({ err: error, topic: message.topic, offset: message.offset }, 'message dead-lettered');
  };

  const handleBatch = async (batch: Batch): Promise<void> => {
    const at = now();
    const rows: EventRow[] = [];
    for (const message of batch.messages) {
      try {
        rows.push(
          message.topic === telemetry
            ? telemetryRow(decodeIngestMessage(message.value), at)
            : domainRow(fromLogMessage(message), at),
        );
      } catch (error) {
        await deadLetter(message, error);
      }
    }
    await add(rows);
  };

  let consumers: Consumer[] = [];
  let lagTimer: NodeJS.Timeout | null = null;

  return {
    async start() {
      if (consumers.length > 0) return;
      stopping = false;
      const partitions = opts.partitions ?? 4;
      await opts.log.ensureTopics([
        ...topics.map((topic) => ({ topic, partitions })),
        { topic: dlq, partitions: 1 },
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
      lagTimer = setInterval(() => {
        Promise.all(topics.map((topic) => opts.log.lag(group, topic)))
          .then((all) => {
            const lag = all
              .flat()
              .reduce((n, x) => n + Number(BigInt(x.end) - BigInt(x.committed ?? '0')), 0);
            opts.metrics?.projectionLagEvents.set({ projection: name }, lag);
          })
          .catch(() => {});
      }, 5000);
      lagTimer.unref();
    },

    async stop() {
      if (lagTimer) clearInterval(lagTimer);
      lagTimer = null;
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
  };
};
