import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import {
  GroupNotEmptyError,
  type Consumer,
  type ConsumerOptions,
  type LogHeaders,
  type LogMessage,
  type MessageLog,
  type OutgoingMessage,
} from '../ports/message-log.ts';
import { consumeSpans } from '../runtime/tracing.ts';

/** One line of kafkajs's own logging, handed to the caller instead of stdout. */
export type KafkaLogEntry = Readonly<{
  level: 'error' | 'warn' | 'info' | 'debug';
  namespace: string;
  message: string;
  extra: Readonly<Record<string, unknown>>;
}>;

export type KafkaLogOptions = Readonly<{
  /** `host:port` list, or one comma-separated string (the form of `KAFKA_BROKERS`). */
  brokers: string | readonly string[];
  clientId: string;
  /** Replication factor of topics `ensureTopics` creates; default 1 (a single broker). */
  replicationFactor?: number;
  /** Receives kafkajs's log lines at `logLevel` and above; default one line each on stderr. */
  log?: (entry: KafkaLogEntry) => void;
  /** Default `'warn'`. */
  logLevel?: KafkaLogEntry['level'];
  /**
   * Consumer group session timeout; default 10 000 ms (brokers accept 6 000
   * to 1 800 000 by default). A member that dies without leaving (kill -9,
   * a lost machine) holds its partitions this long: its group, and a
   * restarted process joining it, wait that out. Static membership
   * (`group.instance.id`), which would let a restart take its place at once,
   * is not offered by kafkajs's consumer, so a short session is the lever.
   */
  sessionTimeout?: number;
  /** Default 1000 ms; keep it well under a third of `sessionTimeout`. */
  heartbeatInterval?: number;
  /** How long the group waits for members to rejoin on a rebalance; default 60 000 ms. */
  rebalanceTimeout?: number;
  /** Longest fetch long-poll; bounds how long `stop()` and `ready` wait on an idle topic. Default 1000 ms. */
  maxWaitTimeInMs?: number;
  /** Failures the log survives (rejected batches, commits lost to a rebalance); default stderr. */
  onError?: (error: unknown, context: string) => void;
}>;

const levelNames: Readonly<Record<number, KafkaLogEntry['level']>> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};
const levelValues: Readonly<Record<KafkaLogEntry['level'], logLevel>> = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

const headersOf = (headers: IHeaders | undefined): LogHeaders => {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    // Kafka allows a header name twice; we never write it so, and the last one wins.
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = typeof last === 'string' ? last : last.toString('utf8');
  }
  return out;
};

const toLogMessage = (topic: string, partition: number, m: KafkaMessage): LogMessage => ({
  topic,
  partition,
  offset: m.offset,
  key: m.key?.toString('utf8') ?? '',
  value: m.value?.toString('utf8') ?? '',
  headers: headersOf(m.headers),
  timestamp: Number(m.timestamp),
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * kafkajs 2.2.4's `admin.fetchTopicOffsets` throws this TypeError when a
 * broker's ListOffsets answer lacks a partition it asked for (a topic just
 * made, its leaders still moving): `Cannot destructure property 'partitions'
 * of 'low.pop(...)' as it is undefined`. Asked again, it answers.
 */
const isOffsetsRace = (error: unknown) =>
  error instanceof TypeError && /of '(low|high)\.pop\(\.\.\.\)' as it is undefined/.test(error.message);

const isRetriable = (error: unknown) =>
  isOffsetsRace(error) ||
  (typeof error === 'object' && error !== null && 'retriable' in error && error.retriable === true);

/** The client's metadata cache lacks a topic the broker has: worth another try. */
class MetadataGap extends Error {
  readonly retriable = true;
  constructor(topic: string) {
    super(`kafkajs knows no partition of ${topic} yet`);
    this.name = 'MetadataGap';
  }
}

/** Retries what kafkajs itself gives up on although Kafka calls it retriable (e.g. NOT_LEADER_FOR_PARTITION). */
const retrying = async <T>(fn: () => Promise<T>, attempts = 5): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isRetriable(error)) throw error;
      await sleep(200 * attempt);
    }
  }
};

/**
 * Until every partition of `topics` has a leader that answers ListOffsets, or
 * `timeoutMs` passed: a broker reports a new topic as unknown, then
 * leaderless, then "not the leader" for a moment after creating it.
 */
const waitForLeaders = async (kafka: Kafka, admin: Admin, topics: readonly string[], timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  // Asked through a client of its own. kafkajs's fetchTopicMetadata replaces
  // its client's whole metadata cache with the topics it names, and the shared
  // admin answers offsets (`lag`) only for partitions its cache knows: every
  // other topic's commits read as none until the cache was next refreshed.
  const probe = kafka.admin();
  await probe.connect();
  try {
    for (;;) {
      try {
        const { topics: found } = await probe.fetchTopicMetadata({ topics: [...topics] });
        const led = found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
        if (found.length === topics.length && led) break;
      } catch (error) {
        if (!isRetriable(error) || Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for leaders of ${topics.join(', ')}`);
      await sleep(100);
    }
  } finally {
    await probe.disconnect().catch(() => {});
  }
  // kafkajs's fetchTopicOffsets can also fail with a TypeError of its own while
  // its metadata cache lags the new topic, so here any error is worth another
  // try until the deadline.
  for (const topic of topics)
    for (;;) {
      try {
        await admin.fetchTopicOffsets(topic);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
};

/** Kafka's error codes for a group DeleteGroups cannot delete. */
const NON_EMPTY_GROUP = 68;
const GROUP_ID_NOT_FOUND = 69;

/** What kafkajs's `deleteGroups` rejects with: the groups it could not delete, each with Kafka's code. */
const failedGroups = (error: unknown): readonly { groupId: string; errorCode: number }[] | null => {
  const groups = (error as { name?: unknown; groups?: unknown } | null)?.groups;
  return (error as { name?: unknown } | null)?.name === 'KafkaJSDeleteGroupsError' && Array.isArray(groups)
    ? (groups as { groupId: string; errorCode: number }[])
    : null;
};

const lazily = <T>(open: () => Promise<T>) => {
  let opened: Promise<T> | null = null;
  return {
    get: () =>
      (opened ??= open().catch((error: unknown) => {
        opened = null;
        throw error;
      })),
    peek: () => opened,
  };
};

/** Bytes of messages per send: half a broker's default `message.max.bytes`, leaving room for framing. */
const MAX_SEND_BYTES = 512 * 1024;

/** Consecutive runs of messages of at most `limit` bytes each (a larger message alone). */
const bySize = (messages: readonly OutgoingMessage[], limit: number): OutgoingMessage[][] => {
  const chunks: OutgoingMessage[][] = [];
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    let size = Buffer.byteLength(m.key) + Buffer.byteLength(m.value) + 32;
    for (const [k, v] of Object.entries(m.headers ?? {}))
      size += Buffer.byteLength(k) + Buffer.byteLength(v) + 8;
    if (chunk.length > 0 && bytes + size > limit) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
};

/**
 * The message log on Apache Kafka, through kafkajs: an idempotent producer
 * keyed by the message key (Kafka's murmur2 default partitioner), and
 * consumer groups that commit a batch's offsets only after `handleBatch`
 * resolved.
 *
 * Redelivery: when `handleBatch` rejects, nothing is committed, the
 * partition is rewound (`seek`) to the batch's first offset and paused; after
 * `retryDelayMs` it resumes, and the next fetch hands out the same messages
 * again. Other partitions keep flowing meanwhile.
 *
 * @example
 *   const log = kafkaLog({ brokers: process.env.KAFKA_BROKERS!, clientId: 'lectern-relay' });
 *   await log.ensureTopics([{ topic: 'lectern.content.events', partitions: 6 }]);
 *   await log.produce('lectern.content.events', [{ key: streamId, value: JSON.stringify(event), headers }]);
 */
export const kafkaLog = (options: KafkaLogOptions): MessageLog => {
  const brokers =
    typeof options.brokers === 'string'
      ? options.brokers
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean)
      : [...options.brokers];
  if (brokers.length === 0) throw new Error('kafkaLog: no brokers given');
  const replicationFactor = options.replicationFactor ?? 1;
  const sink =
    options.log ??
    ((e: KafkaLogEntry) => process.stderr.write(`kafkajs ${e.level} [${e.namespace}] ${e.message}\n`));
  const report =
    options.onError ??
    ((error: unknown, context: string) =>
      process.stderr.write(
        `message-log(kafka) ${context}: ${error instanceof Error ? error.message : String(error)}\n`,
      ));

  const kafka = new Kafka({
    clientId: options.clientId,
    brokers,
    logLevel: levelValues[options.logLevel ?? 'warn'],
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, timestamp: _timestamp, ...extra } = log;
        sink({ level: levelNames[level] ?? 'info', namespace, message, extra });
      },
  });

  const producer = lazily<Producer>(async () => {
    const p = kafka.producer({
      idempotent: true,
      // kafkajs keeps ordering with idempotence only at one request in flight.
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await p.connect();
    return p;
  });
  const admin = lazily<Admin>(async () => {
    const a = kafka.admin();
    await a.connect();
    return a;
  });

  const consumers = new Set<Consumer>();

  const consume = (opts: ConsumerOptions): Consumer => {
    const { groupId, handleBatch } = opts;
    const maxBatchSize = opts.maxBatchSize ?? 100;
    const retryDelayMs = opts.retryDelayMs ?? 1000;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize <= 0)
      throw new Error('maxBatchSize must be a positive integer');
    const heartbeatInterval = options.heartbeatInterval ?? 1000;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: options.sessionTimeout ?? 10_000,
      heartbeatInterval,
      rebalanceTimeout: options.rebalanceTimeout ?? 60_000,
      maxWaitTimeInMs: options.maxWaitTimeInMs ?? 1000,
      allowAutoTopicCreation: false,
    });
    const retryTimers = new Set<NodeJS.Timeout>();
    /** The batches in hand, to hurry when the consumer stops. */
    const inHand = new Set<AbortController>();
    let running = true;

    let resolveReady!: () => void;
    let rejectReady!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    ready.catch(() => {});
    // GROUP_JOIN says the assignment is known; the first fetch after it is when
    // kafkajs has also resolved each partition's position (the committed
    // offset, or the log end for `startFrom: 'latest'`), so anything produced
    // after `ready` is delivered.
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    consumer.on(consumer.events.FETCH, () => {
      if (joined) resolveReady();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      report(payload.error, `consumer of ${groupId} crashed${payload.restart ? ', restarting' : ''}`);
      if (!payload.restart) {
        running = false;
        rejectReady(payload.error);
      }
    });

    const eachBatch = async ({
      batch,
      resolveOffset,
      heartbeat,
      commitOffsetsIfNecessary,
      isRunning,
      isStale,
      pause,
    }: EachBatchPayload) => {
      const { topic, partition } = batch;
      const all = batch.messages.map((m) => toLogMessage(topic, partition, m));
      for (let i = 0; i < all.length; i += maxBatchSize) {
        // A stopping consumer starts no new batch; a stale one (rewound) must not skip ahead.
        if (!isRunning() || isStale()) return;
        const messages = all.slice(i, i + maxBatchSize);
        const first = messages[0]!;
        const last = messages[messages.length - 1]!;
        const control = new AbortController();
        inHand.add(control);
        if (!running) control.abort(new Error(`consumer of ${groupId} stopping`));
        // Heartbeats go on while the handler holds the batch: the member keeps
        // its session, and hears of a rebalance, which hurries the handler so
        // the group is not held up (nor this member dropped from it) by a batch
        // waiting for company.
        const beat = setInterval(() => {
          heartbeat().catch((error: unknown) => control.abort(error));
        }, heartbeatInterval);
        try {
          const batch = { topic, partition, messages };
          await consumeSpans('kafka', groupId, batch).run(() =>
            handleBatch(batch, { signal: control.signal }),
          );
        } catch (error) {
          report(
            error,
            `handleBatch of ${groupId} on ${topic}/${partition} (retrying in ${retryDelayMs} ms)`,
          );
          // 1. Commit nothing; 2. rewind to the batch's first offset; 3. hold the
          // partition back for retryDelayMs, then let the fetcher deliver it again.
          consumer.seek({ topic, partition, offset: first.offset });
          const resume = pause();
          const timer = setTimeout(() => {
            retryTimers.delete(timer);
            resume();
          }, retryDelayMs);
          retryTimers.add(timer);
          return;
        } finally {
          clearInterval(beat);
          inHand.delete(control);
        }
        if (isStale()) return;
        // Committed with this member's generation: if a rebalance took the
        // partition meanwhile the broker refuses it, the error sends kafkajs
        // back through join/sync, and the new owner redelivers the batch.
        await commitOffsetsIfNecessary({
          topics: [{ topic, partitions: [{ partition, offset: (BigInt(last.offset) + 1n).toString() }] }],
        });
        resolveOffset(last.offset);
        if (isRunning()) await heartbeat();
      }
    };

    const started = (async () => {
      await consumer.connect();
      await consumer.subscribe({
        topics: [...opts.topics],
        fromBeginning: (opts.startFrom ?? 'earliest') === 'earliest',
      });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
    })();
    started.catch((error: unknown) => {
      running = false;
      rejectReady(error);
      report(error, `starting consumer of ${groupId}`);
    });

    let stopping: Promise<void> | null = null;
    const handle: Consumer = {
      ready,
      isRunning: () => running,
      stop() {
        stopping ??= (async () => {
          running = false;
          for (const timer of retryTimers) clearTimeout(timer);
          retryTimers.clear();
          for (const control of inHand) control.abort(new Error(`consumer of ${groupId} stopping`));
          await started.catch(() => {});
          // Waits for the batch in hand (which commits), leaves the group, closes the sockets.
          await consumer.disconnect();
          rejectReady(new Error(`consumer of ${groupId} stopped before it was ready`));
          consumers.delete(handle);
        })();
        return stopping;
      },
    };
    consumers.add(handle);
    return handle;
  };

  return {
    async ensureTopics(wanted) {
      if (wanted.length === 0) return;
      const a = await admin.get();
      const existing = new Set(await a.listTopics());
      const missing = wanted.filter((w) => !existing.has(w.topic));
      if (missing.length === 0) return;
      // Existing topics are left as they are; one created concurrently elsewhere is fine too.
      await a.createTopics({
        topics: missing.map((w) => ({ topic: w.topic, numPartitions: w.partitions, replicationFactor })),
        // kafkajs's own wait gives up on UNKNOWN_TOPIC_OR_PARTITION, which a
        // broker answers for a moment after creating a topic; wait here instead.
        waitForLeaders: false,
      });
      await waitForLeaders(
        kafka,
        a,
        missing.map((w) => w.topic),
      );
    },

    async produce(topic, messages) {
      if (messages.length === 0) return;
      const p = await producer.get();
      // kafkajs sends a partition's messages of one `send` as one record
      // batch, which the broker refuses above `message.max.bytes` (1 MiB by
      // default): larger calls go out as several sends, one after another,
      // so per-key order holds.
      for (const chunk of bySize(messages, MAX_SEND_BYTES)) {
        await p.send({
          topic,
          acks: -1,
          messages: chunk.map((m) => ({
            key: m.key,
            value: m.value,
            headers: m.headers ? { ...m.headers } : undefined,
          })),
        });
      }
    },

    consume,

    async lag(groupId, topic) {
      const a = await admin.get();
      const [offsets, ends] = await Promise.all([
        // All of the group's commits: asking for the topic's would send only
        // the partitions the client's metadata cache knows of it.
        retrying(() => a.fetchOffsets({ groupId })),
        retrying(async () => {
          const found = await a.fetchTopicOffsets(topic);
          // A topic has a partition at least: none is the cache not knowing it yet.
          if (found.length === 0) throw new MetadataGap(topic);
          return found;
        }),
      ]);
      const committed = new Map(
        (offsets.find((o) => o.topic === topic)?.partitions ?? []).map(
          (p) => [p.partition, p.offset] as const,
        ),
      );
      return ends
        .map((e) => {
          const c = committed.get(e.partition);
          return { partition: e.partition, committed: c === undefined || c === '-1' ? null : c, end: e.high };
        })
        .sort((x, y) => x.partition - y.partition);
    },

    async listGroups(prefix) {
      const a = await admin.get();
      const ids = (await retrying(() => a.listGroups())).groups
        .filter((g) => g.protocolType === 'consumer' && g.groupId.startsWith(prefix))
        .map((g) => g.groupId);
      if (ids.length === 0) return [];
      const { groups } = await retrying(() => a.describeGroups(ids));
      return groups
        .filter((g) => g.state !== 'Dead')
        .map((g) => ({ groupId: g.groupId, members: g.members.length, activeAt: null }))
        .sort((x, y) => (x.groupId < y.groupId ? -1 : x.groupId > y.groupId ? 1 : 0));
    },

    async deleteGroup(groupId) {
      const a = await admin.get();
      try {
        // The coordinator refuses a group with members (NON_EMPTY_GROUP), atomically with joins.
        await a.deleteGroups([groupId]);
        return true;
      } catch (error) {
        const failed = failedGroups(error)?.find((g) => g.groupId === groupId);
        if (failed?.errorCode === GROUP_ID_NOT_FOUND) return false;
        if (failed?.errorCode === NON_EMPTY_GROUP) throw new GroupNotEmptyError(groupId);
        throw error;
      }
    },

    async ping() {
      await (await admin.get()).describeCluster();
    },

    async close() {
      await Promise.all([...consumers].map((c) => c.stop()));
      const p = producer.peek();
      const a = admin.peek();
      await Promise.all([
        p?.then((x) => x.disconnect()).catch(() => {}),
        a?.then((x) => x.disconnect()).catch(() => {}),
      ]);
    },
  };
};
