import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { topicOf } from '@lectern/schemas';
import { kafkaLog } from '@lectern/infra/message-log/kafka';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import type { Consumer, MessageLog } from '@lectern/infra/ports/message-log';
import { createLogger } from '@lectern/infra/runtime/logger';
import type { Clock } from '@lectern/infra/runtime/ids';
import { pgliteSql } from '@lectern/infra/sql/index';
import { requireEngine } from '@lectern/infra/testing/engines';
import { waitUntil } from '@lectern/infra/testing/wait';
import { groupSweeper, realtimeGroup, realtimeGroupPrefix } from './feed-groups.ts';
import { realtimeGateway } from './gateway.ts';

/**
 * The gateways' consumer groups: a gateway deletes its own as it stops, and
 * sweeps those of gateways that died. On the embedded log (PGlite) always,
 * on Kafka when `KAFKA_BROKERS` is set.
 *
 * Time is the test's: the embedded log's member and commit times and the
 * sweeper's clock move only when the test moves them, so a slow machine
 * makes nothing stale.
 */

const BOUND = 10 * 60_000;
const logger = createLogger({ level: 'silent' });

/** A clock the test moves; `log` is the same time for the embedded log's rows. */
const manualClock = () => {
  let ms = Date.parse('2026-06-01T00:00:00Z');
  const clock: Clock = { now: () => new Date(ms) };
  return { clock, now: () => ms, advance: (by: number) => void (ms += by) };
};

type Variant = Readonly<{
  name: string;
  open(clock: Clock): Promise<Readonly<{ log: MessageLog; close(): Promise<void> }>>;
}>;

const variants: Variant[] = [
  {
    name: 'embedded log (PGlite)',
    async open(clock) {
      const sql = await pgliteSql(null);
      const log = await sqlLog(sql, { pollIntervalMs: 50, sessionTimeoutMs: 2500, clock });
      return {
        log,
        async close() {
          await log.close();
          await sql.close();
        },
      };
    },
  },
];
// In CI an unset KAFKA_BROKERS fails (requireEngine); elsewhere the Kafka variant is skipped.
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'feed groups on kafka');
if (brokers) {
  variants.push({
    name: 'kafka',
    async open() {
      const log = kafkaLog({
        brokers,
        clientId: 'lectern-feed-groups-test',
        sessionTimeout: 6000,
        heartbeatInterval: 500,
        rebalanceTimeout: 6000,
        maxWaitTimeInMs: 500,
        logLevel: 'error',
      });
      const topics = new Set<string>();
      const recording: MessageLog = {
        ...log,
        ensureTopics: async (wanted) => {
          for (const w of wanted) topics.add(w.topic);
          await log.ensureTopics(wanted);
        },
      };
      return {
        log: recording,
        async close() {
          await log.close();
          // Topics go once every client that used them is closed (kafka.int.test.ts).
          const admin = new Kafka({
            clientId: 'lectern-feed-groups-cleanup',
            brokers: brokers.split(','),
            logLevel: logLevel.NOTHING,
          }).admin();
          await admin.connect();
          await admin.deleteTopics({ topics: [...topics] }).catch(() => {});
          await admin.disconnect();
        },
      };
    },
  });
}

const namespace = () => `rt${randomUUID().slice(0, 8)}`;
const ids = (groups: readonly { groupId: string }[]) => groups.map((g) => g.groupId);

for (const v of variants) {
  test(`${v.name}: a gateway that stops deletes its own group, and only its own`, async (t) => {
    const time = manualClock();
    const { log, close } = await v.open(time.clock);
    const ns = namespace();
    const gateway = (nodeId: string) =>
      realtimeGateway({
        verify: () => Promise.reject(new Error('no connection in this test')),
        channels: [{ kind: 'note', contexts: ['demo'], authorize: async () => true, route: () => [] }],
        actions: [],
        log,
        namespace: ns,
        nodeId,
        waitFor: async () => true,
        presence: null,
        logger,
        now: time.now,
      });
    try {
      const a = gateway('gw-a');
      const b = gateway('gw-b');
      await a.start();
      await b.start();
      const listed = async () =>
        (await log.listGroups(realtimeGroupPrefix(ns))).map((g) => [g.groupId, g.members]);
      // One member each. On a busy machine a session can lapse and its member
      // rejoin, so the count is waited for; which groups exist is not.
      const both = [
        [realtimeGroup(ns, 'gw-a'), 1],
        [realtimeGroup(ns, 'gw-b'), 1],
      ];
      await waitUntil('both gateways in their groups', async () => isDeepStrictEqual(await listed(), both));
      await a.stop();
      t.deepEqual(
        (await listed()).map(([id]) => id),
        [realtimeGroup(ns, 'gw-b')],
        "a's group is gone, b's is not",
      );
      await b.stop();
      t.deepEqual(await listed(), []);
    } finally {
      await close();
    }
  });

  test(`${v.name}: the sweep deletes a gone gateway's group once it has had no member for the bound; never a group with a member, its own, a younger one or another namespace's`, async (t) => {
    const time = manualClock();
    const { log, close } = await v.open(time.clock);
    const ns = namespace();
    const otherNs = namespace();
    const topic = topicOf('demo', ns);
    const running: Consumer[] = [];
    /** A member of `groupId` that has read the message there and committed it, still running. */
    const join = async (groupId: string) => {
      let read = 0;
      const c = log.consume({
        groupId,
        topics: [topic],
        handleBatch: async (b) => void (read += b.messages.length),
      });
      running.push(c);
      await c.ready;
      await waitUntil(`${groupId} to read`, () => read >= 1);
      // Kafka forgets a group with no member and no committed offset: the
      // commit must have landed before the member stops, which on a busy
      // machine can come well after the read.
      await waitUntil(`${groupId} to commit`, async () =>
        (await log.lag(groupId, topic)).some((p) => p.committed !== null),
      );
      return c;
    };
    const group = (nodeId: string) => realtimeGroup(ns, nodeId);
    const self = group('self');
    const sweeper = groupSweeper({ log, namespace: ns, self, staleAfterMs: BOUND, now: time.now, logger });
    const present = async () => ids(await log.listGroups(realtimeGroupPrefix(ns)));
    /** Moves time on, then waits until the live member has heartbeat since (where the log keeps the time). */
    const advance = async (by: number) => {
      time.advance(by);
      await waitUntil('the live member to heartbeat on the moved clock', async () =>
        (await log.listGroups(group('live'))).every(
          (g) => g.members === 1 && (g.activeAt === null || g.activeAt === time.now()),
        ),
      );
    };
    try {
      await log.ensureTopics([{ topic, partitions: 2 }]);
      await log.produce(topic, [{ key: 'k', value: 'v' }]);
      // 1. A gateway that died (its group left with no member), one alive, this gateway's own
      //    (found empty only to show it is never swept), another namespace's dead one.
      await (await join(group('dead'))).stop();
      await join(group('live'));
      await (await join(self)).stop();
      await (await join(realtimeGroup(otherNs, 'dead'))).stop();
      t.deepEqual(await present(), [group('dead'), group('live'), self].sort());

      // 2. Not stale yet: nothing goes, however often it looks.
      t.deepEqual(await sweeper.sweep(), []);
      await advance(BOUND - 1);
      t.deepEqual(await sweeper.sweep(), []);

      // 3. A younger gone gateway appears just before the dead one turns stale.
      await (await join(group('young'))).stop();
      t.deepEqual(await sweeper.sweep(), []);
      await advance(2);
      t.deepEqual(await sweeper.sweep(), [group('dead')], 'the dead gateway’s group is stale');
      t.deepEqual(await present(), [group('live'), self, group('young')].sort());

      // 4. The younger one goes once it is stale too; the live one and its own never do.
      await advance(BOUND);
      t.deepEqual(await sweeper.sweep(), [group('young')]);
      await advance(BOUND);
      t.deepEqual(await sweeper.sweep(), []);
      t.deepEqual(await present(), [group('live'), self].sort());
      t.deepEqual(
        ids(await log.listGroups(realtimeGroupPrefix(otherNs))),
        [realtimeGroup(otherNs, 'dead')],
        'another namespace’s group is not this sweep’s',
      );
    } finally {
      await Promise.allSettled(running.map((c) => c.stop()));
      for (const g of [group('live'), self, realtimeGroup(otherNs, 'dead')])
        await log.deleteGroup(g).catch(() => false);
      await close();
    }
  });
}
