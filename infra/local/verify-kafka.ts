// Checks that the Kafka at KAFKA_BROKERS (default 127.0.0.1:19092) does what
// Lectern needs from it, end to end: metadata, topic creation, an idempotent
// producer, a consumer group that commits offsets, committed offsets read back
// through the admin API, and topic deletion. Exits non-zero on any failure.
//
//   node infra/local/verify-kafka.ts                  full check (a few seconds)
//   node infra/local/verify-kafka.ts --metadata-only  wait until metadata answers
//   add --wait=SECONDS to change how long to wait for metadata (default 60)
//
// Run by infra/local/kafka.sh after it starts a broker. A port that accepts
// connections is not enough: right after start the broker may not yet serve
// metadata or host the group coordinator, and that is exactly what the test
// suites would trip over.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';

const brokers = (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:19092').split(',');
const metadataOnly = process.argv.includes('--metadata-only');
// --wait=SECONDS: how long to wait for metadata (a just-started broker needs a moment).
const waitArg = process.argv.find((arg) => arg.startsWith('--wait='));
const metadataWaitMs = waitArg ? Number(waitArg.slice('--wait='.length)) * 1000 : 60_000;
const MESSAGES = 20;
const PARTITIONS = 2;
const OVERALL_TIMEOUT_MS = 180_000;

const started = Date.now();
const say = (msg: string): void => {
  process.stderr.write(`[verify-kafka] ${msg}\n`);
};

// The idempotent producer retries forever by design; a hard deadline turns a
// broker that never recovers into a failure instead of a hung CI job.
setTimeout(() => {
  say(`FAILED: no result within ${OVERALL_TIMEOUT_MS / 1000}s`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS).unref();

// kafkajs logs every retry at ERROR; we report failures ourselves, once.
const kafka = new Kafka({
  clientId: 'lectern-verify',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
});

async function waitForMetadata(admin: Admin, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      await admin.connect(); // a no-op once connected; may fail while the broker starts
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0 && cluster.controller !== null && cluster.controller >= 0) {
        return cluster.brokers.length;
      }
      lastError = new Error(`metadata without a controller (${JSON.stringify(cluster)})`);
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`no metadata from ${brokers.join(',')}: ${String(lastError)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function consumeAll(consumer: Consumer, topic: string, expected: Set<string>): Promise<void> {
  const seen = new Set<string>();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`consumed ${seen.size}/${expected.size} messages within 60s`)),
      60_000,
    );
    consumer
      .run({
        // Offsets are committed by hand below, so the check proves an explicit
        // commit lands, not merely that auto-commit happened to fire.
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const value = message.value?.toString() ?? '';
          if (!expected.has(value)) throw new Error(`unexpected message ${JSON.stringify(value)}`);
          seen.add(value);
          await consumer.commitOffsets([
            { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
          ]);
          if (seen.size === expected.size) {
            clearTimeout(timer);
            resolve();
          }
        },
      })
      .catch(reject);
  });
}

async function main(): Promise<void> {
  const admin = kafka.admin();
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  let topic: string | undefined;
  let groupId: string | undefined;
  let failure: unknown;
  try {
    const brokerCount = await waitForMetadata(admin, metadataWaitMs);
    if (metadataOnly) {
      say(`metadata ok (${brokerCount} broker(s) at ${brokers.join(',')})`);
      return;
    }

    const id = randomUUID().slice(0, 8);
    topic = `lectern-verify-${id}`;
    groupId = `lectern-verify-${id}`;
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    if (!created) throw new Error(`topic ${topic} already existed`);

    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const values = Array.from({ length: MESSAGES }, (_, i) => `message-${i}`);
    await producer.send({
      topic,
      acks: -1, // required by the idempotent producer
      messages: values.map((value, i) => ({ key: `key-${i}`, value })),
    });

    consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumeAll(consumer, topic, new Set(values));
    await consumer.disconnect();
    consumer = undefined;

    // The group's committed offsets must equal each partition's high watermark.
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    if (!committed) throw new Error('fetchOffsets returned nothing for the topic');
    let total = 0;
    for (const { partition, high } of ends) {
      const got = committed.partitions.find((p) => p.partition === partition)?.offset;
      if (got !== high)
        throw new Error(`partition ${partition}: committed offset ${got}, high watermark ${high}`);
      total += Number(high);
    }
    if (total !== MESSAGES) throw new Error(`high watermarks sum to ${total}, expected ${MESSAGES}`);
  } catch (error) {
    failure = error;
  } finally {
    // Clean up even after a failure; a failed deletion is itself a failure.
    try {
      await consumer?.disconnect();
      await producer?.disconnect();
      if (groupId && !metadataOnly) await admin.deleteGroups([groupId]).catch(() => undefined);
      if (topic) await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
    } catch (error) {
      failure ??= error;
    }
    await admin.disconnect();
  }
  if (failure) throw failure;
  say(
    `ok in ${((Date.now() - started) / 1000).toFixed(1)}s: metadata, topic created, ${MESSAGES} messages ` +
      `from an idempotent producer consumed by a group, offsets committed and read back, topic deleted`,
  );
}

// A broker stopped uncleanly reloads every partition's log at start and, while
// it does, answers "does not host this topic-partition" for new topics too:
// the whole check is tried again (a new topic each time) while time remains.
const checkUntilDeadline = async (attempt = 1): Promise<void> => {
  try {
    await main();
  } catch (error) {
    if (metadataOnly || Date.now() - started > OVERALL_TIMEOUT_MS - 45_000) throw error;
    say(`check ${attempt} failed (${String(error)}); the broker may still be loading its logs: again`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return checkUntilDeadline(attempt + 1);
  }
};

checkUntilDeadline().then(
  () => process.exit(0),
  (error: unknown) => {
    say(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
