import test from 'ava';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { MessageLog } from '../ports/message-log.ts';
import { requireEngine } from '../testing/engines.ts';
import { messageLogContract } from './contract.ts';
import { kafkaLog, type KafkaLogEntry } from './kafka.ts';

const brokers = requireEngine(test, 'KAFKA_BROKERS', 'kafka log');

if (brokers) {
  // kafkajs's own lines are kept, not printed; LOG_KAFKA=1 prints them.
  const lines: KafkaLogEntry[] = [];
  const open = () =>
    kafkaLog({
      brokers,
      clientId: 'lectern-contract',
      // Small timeouts keep joins, rebalances and stop() quick on a test broker.
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      rebalanceTimeout: 6000,
      maxWaitTimeInMs: 500,
      log: (entry) => {
        lines.push(entry);
        if (process.env.LOG_KAFKA === '1') process.stderr.write(`kafkajs ${entry.level} ${entry.message}\n`);
      },
      onError: (error, context) => {
        // Rejections staged by the contract are expected; anything else is worth seeing.
        if (!context.startsWith('handleBatch'))
          process.stderr.write(`kafka log ${context}: ${String(error)}\n`);
      },
    });

  let admin: Promise<Admin> | undefined;
  const cleanupAdmin = () =>
    (admin ??= (async () => {
      const a = new Kafka({
        clientId: 'lectern-contract-cleanup',
        brokers: brokers.split(','),
        logLevel: logLevel.NOTHING,
      }).admin();
      await a.connect();
      return a;
    })());
  test.after.always(async () => {
    await (await admin)?.disconnect();
  });

  // One log (producer, admin, consumers) per test: kafkajs keeps refreshing
  // metadata of every topic a client ever used, so a topic may only be
  // deleted once the clients that touched it are closed.
  messageLogContract(test, 'kafka log', async () => {
    const log = open();
    const topics = new Set<string>();
    const groups = new Set<string>();
    const recording: MessageLog = {
      ensureTopics: async (wanted) => {
        for (const w of wanted) topics.add(w.topic);
        await log.ensureTopics(wanted);
      },
      produce: (topic, messages) => log.produce(topic, messages),
      consume: (opts) => {
        groups.add(opts.groupId);
        return log.consume(opts);
      },
      lag: (groupId, topic) => log.lag(groupId, topic),
      listGroups: (prefix) => log.listGroups(prefix),
      deleteGroup: (groupId) => log.deleteGroup(groupId),
      ping: () => log.ping(),
      close: () => log.close(),
    };
    return {
      log: recording,
      cleanup: async () => {
        await log.close();
        const a = await cleanupAdmin();
        await a.deleteGroups([...groups]).catch(() => {});
        await a.deleteTopics({ topics: [...topics] }).catch(() => {});
      },
    };
  });
}
