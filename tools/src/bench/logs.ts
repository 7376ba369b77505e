import kafkajs from 'kafkajs';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { kafkaLog } from '@lectern/infra/message-log/kafka';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import type { Sql } from '@lectern/infra/sql/sql';

/** The embedded log in tables of `sql` (PostgreSQL or PGlite), as the server opens it. */
export const openSqlLog = (sql: Sql): Promise<MessageLog> => sqlLog(sql);

/** Apache Kafka through kafkajs; its own warnings go to stderr (the adapter's default). */
export const openKafkaLog = async (brokers: readonly string[], clientId: string): Promise<MessageLog> =>
  kafkaLog({ brokers, clientId });

const admin = async <T>(brokers: readonly string[], fn: (a: kafkajs.Admin) => Promise<T>): Promise<T> => {
  const kafka = new kafkajs.Kafka({
    brokers: [...brokers],
    clientId: 'lectern-bench-admin',
    logLevel: kafkajs.logLevel.NOTHING,
  });
  const a = kafka.admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
};

/** Deletes the topics and consumer groups whose names start with `prefix.`: a namespace the bench made up, so all of them its own. */
export const dropKafkaNamespace = (brokers: readonly string[], prefix: string): Promise<void> =>
  admin(brokers, async (a) => {
    const mine = (name: string): boolean => name.startsWith(`${prefix}.`);
    const groups = (await a.listGroups()).groups.map((g) => g.groupId).filter(mine);
    if (groups.length) await a.deleteGroups(groups).catch(() => {});
    const topics = (await a.listTopics()).filter(mine);
    if (topics.length) await a.deleteTopics({ topics, timeout: 10_000 });
  });

/** What the broker says its protocol version is (Kafka does not report its release over the wire). */
export const kafkaVersion = (brokers: readonly string[]): Promise<string> =>
  admin(brokers, async (a) => {
    const cluster = await a.describeCluster();
    const broker = cluster.brokers[0];
    if (!broker) return 'no broker';
    const r = await a.describeConfigs({
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.BROKER,
          name: String(broker.nodeId),
          configNames: ['inter.broker.protocol.version'],
        },
      ],
      includeSynonyms: false,
    });
    const v = r.resources[0]?.configEntries.find(
      (e) => e.configName === 'inter.broker.protocol.version',
    )?.configValue;
    return `inter.broker.protocol.version ${v ?? '?'} (${cluster.brokers.length} broker${cluster.brokers.length === 1 ? '' : 's'})`;
  });
