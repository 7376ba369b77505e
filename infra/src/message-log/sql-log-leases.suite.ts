import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import { GroupNotEmptyError, type Batch, type LogMessage } from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import { migrate } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';
import type { Opened } from './sql-log.suite.ts';
import { messageLogMigrations, partitionFor, sqlLog, type SqlLogOptions } from './sql-log.ts';
import { LeaseFencedError } from './sql-log-leases.ts';
import { waitUntil as waitFor } from '../testing/wait.ts';

// Lapses of members and leases, each test on its own clock: time moves only
// when the test moves it, so how slow the machine is decides nothing.
const sessionTimeoutMs = 2500;
const manualClock = () => {
  let ms = Date.parse('2026-01-01T00:00:00Z');
  const clock: Clock = { now: () => new Date(ms) };
  return { clock, now: () => ms, advance: (by: number) => void (ms += by) };
};
const optionsOn = (clock: Clock): SqlLogOptions => ({
  heartbeatIntervalMs: 1000,
  sessionTimeoutMs,
  pollIntervalMs: 500,
  clock,
  migrate: false,
  onError: (error, context) => process.stderr.write(`sql-log ${context}: ${String(error)}\n`),
});

const unique = () => randomBytes(5).toString('hex');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const waitUntil = (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 180_000) =>
  waitFor(what, predicate, timeoutMs);

/**
 * A view of `sql` whose queries can be cut off (as a crashed process's) or
 * held back (as a process that stalls, then carries on) by the test.
 */
const faulty = (sql: Sql) => {
  let dead = false;
  let held: Promise<void> | null = null;
  let letGo = () => {};
  const pass = async () => {
    while (held) await held;
    if (dead) throw Object.assign(new Error('connection severed by the test'), { code: '08006' });
  };
  const view: Sql = {
    kind: sql.kind,
    knexConfig: sql.knexConfig,
    query: async <Row>(text: string, params?: readonly unknown[]) => (
      await pass(),
      sql.query<Row>(text, params)
    ),
    copyIn: async (table, columns, lines) => (await pass(), sql.copyIn(table, columns, lines)),
    exec: async (script) => (await pass(), sql.exec(script)),
    transaction: async (fn) => (await pass(), sql.transaction(fn)),
    listen: (channel, onNotify) => sql.listen(channel, (payload) => (dead ? undefined : onNotify(payload))),
    close: async () => {},
  };
  return {
    sql: view,
    kill: () => void (dead = true),
    stall: () => void (held ??= new Promise<void>((resolve) => (letGo = resolve))),
    resume: () => ((held = null), letGo()),
  };
};

const leaseRows = (sql: Sql, groupId: string) =>
  sql.query<{ partition: number; member: string; expires: number }>(
    `select partition, member_id as member, floor(extract(epoch from expires_at) * 1000)::float8 as expires
     from message_log.leases where group_id = $1 and member_id is not null`,
    [groupId],
  );

/** The tests of lapsed members and leases, registered on `test` for one engine (see `sqlLogSuite`). */
export const sqlLogLeaseSuite = (test: TestFn, label: string, open: () => Promise<Opened>): void => {
  let shared: Promise<Opened> | undefined;
  const get = () =>
    (shared ??= (async () => {
      const opened = await open();
      await migrate(opened.sql, 'message_log', messageLogMigrations);
      return opened;
    })());
  test.after.always(async () => {
    if (shared) await (await shared).dispose();
  });

  test(`${label}: a member that dies keeps its partitions until its leases lapse, then the survivor takes them`, async (t) => {
    const { sql } = await get();
    const time = manualClock();
    const topic = `sql.${unique()}`;
    const groupId = `sql-${unique()}`;
    const line = faulty(sql);
    const doomed = await sqlLog(line.sql, { ...optionsOn(time.clock), onError: () => {} });
    const survivor = await sqlLog(sql, optionsOn(time.clock));
    await survivor.ensureTopics([{ topic, partitions: 4 }]);
    const byA: LogMessage[] = [];
    const byB: { message: LogMessage; lapsed: boolean }[] = [];
    let lapsed = false;
    try {
      const a = doomed.consume({
        groupId,
        topics: [topic],
        handleBatch: async (b) => void byA.push(...b.messages),
      });
      await a.ready;
      const b = survivor.consume({
        groupId,
        topics: [topic],
        handleBatch: async (x) => void byB.push(...x.messages.map((message) => ({ message, lapsed }))),
      });
      await b.ready;
      const before = range(40).map((i) => ({ key: `k${i % 20}`, value: `before-${i}` }));
      await survivor.produce(topic, before);
      await waitUntil('the first 40', () => new Set([...byA, ...byB.map((x) => x.message)]).size >= 40);
      t.true(byA.length > 0 && byB.length > 0, 'both members had partitions');

      // 1. A dies. Move the clock less than a session: the survivor renews its
      //    leases on the new time, the dead member's keep their old expiry.
      line.kill();
      time.advance(1000);
      const renewed = time.now() + sessionTimeoutMs;
      await waitUntil('the survivor to renew on the moved clock', async () =>
        (await leaseRows(sql, groupId)).some((l) => l.expires === renewed),
      );
      const deadLeases = (await leaseRows(sql, groupId)).filter((l) => l.expires < renewed);
      t.true(deadLeases.length > 0, 'the dead member still holds leases');
      t.is(new Set(deadLeases.map((l) => l.member)).size, 1, 'all of them one member');
      const deadPartitions = new Set(deadLeases.map((l) => l.partition));

      // 2. Until they lapse, the survivor reads only its own partitions.
      const after = range(40).map((i) => ({ key: `k${i % 20}`, value: `after-${i}` }));
      await survivor.produce(topic, after);
      const onLive = after.filter((m) => !deadPartitions.has(partitionFor(m.key, 4))).map((m) => m.value);
      const readAfter = () =>
        new Set(byB.filter((x) => x.message.value.startsWith('after-')).map((x) => x.message.value));
      await waitUntil('the survivor to read its own partitions', () =>
        onLive.every((v) => readAfter().has(v)),
      );
      t.deepEqual(
        byB.filter((x) => deadPartitions.has(x.message.partition) && x.message.value.startsWith('after-')),
        [],
        'nothing read from a partition whose lease has not lapsed',
      );

      // 3. Once they lapse, the survivor takes them over.
      lapsed = true;
      time.advance(sessionTimeoutMs);
      await waitUntil('the survivor to take over', () => readAfter().size >= 40);
      t.true(
        byB
          .filter((x) => deadPartitions.has(x.message.partition))
          .every((x) => x.lapsed || !x.message.value.startsWith('after-')),
        'the dead member’s partitions read only after its leases lapsed',
      );
      t.deepEqual(
        [...new Set([...byA, ...byB.map((x) => x.message)].map((m) => m.value))].sort(),
        [...before, ...after].map((m) => m.value).sort(),
        'nothing lost',
      );
      t.deepEqual(
        byA.filter((m) => m.value.startsWith('after-')),
        [],
        'the dead member handled nothing after it died',
      );
    } finally {
      await survivor.close();
      await doomed.close();
    }
  });

  test(`${label}: a member whose lease lapsed with a batch in hand cannot commit it, even once it holds the partition again`, async (t) => {
    const { sql } = await get();
    const time = manualClock();
    const topic = `sql.${unique()}`;
    const groupId = `sql-${unique()}`;
    const line = faulty(sql);
    const fenced: LeaseFencedError[] = [];
    const logA = await sqlLog(line.sql, {
      ...optionsOn(time.clock),
      onError: (error, context) => {
        if (error instanceof LeaseFencedError) fenced.push(error);
        else process.stderr.write(`sql-log (A) ${context}: ${String(error)}\n`);
      },
    });
    const logB = await sqlLog(sql, optionsOn(time.clock));
    const committed = async () => (await logB.lag(groupId, topic))[0]?.committed ?? null;
    const values = (from: number, n: number) => range(n).map((i) => `m-${from + i}`);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    try {
      await logB.ensureTopics([{ topic, partitions: 1 }]);
      await logB.produce(
        topic,
        values(0, 20).map((value) => ({ key: 'k', value })),
      );

      // 1. A takes the partition and holds its first batch.
      const byA: Batch[] = [];
      const a = logA.consume({
        groupId,
        topics: [topic],
        maxBatchSize: 5,
        handleBatch: async (batch) => {
          byA.push(batch);
          if (byA.length === 1) await gate;
        },
      });
      await waitUntil('A to hold its first batch', () => byA.length === 1);

      // 2. A stalls past its session: its membership and lease lapse.
      line.stall();
      time.advance(sessionTimeoutMs + 1);

      // 3. B is granted the partition, reads it all from the start and leaves.
      const byB: Batch[] = [];
      const b = logB.consume({
        groupId,
        topics: [topic],
        maxBatchSize: 5,
        handleBatch: async (batch) => void byB.push(batch),
      });
      await waitUntil('B to commit all 20', async () => (await committed()) === '20');
      await b.stop();

      // 4. A carries on and is granted the partition again (a new epoch),
      //    then its old batch resolves and tries to commit under the old one.
      line.resume();
      await waitUntil(
        'A to hold the partition again',
        async () => (await leaseRows(sql, groupId)).length === 1,
      );
      release();
      await waitUntil(
        'A’s old commit to be decided',
        async () => fenced.length > 0 || (await committed()) !== '20',
      );
      t.is(fenced.length, 1, 'the commit under the lapsed lease was refused');
      t.like(fenced[0], { code: 'lease_fenced', topic, partition: 0, epoch: '1', offset: '5' });
      t.is(await committed(), '20', 'the group’s offset did not go back');

      // 5. A goes on from the group's offset, not from its old batch.
      await logB.produce(
        topic,
        values(20, 5).map((value) => ({ key: 'k', value })),
      );
      await waitUntil('A to commit the next 5', async () => (await committed()) === '25');
      await a.stop();
      const offsets = (batch: Batch | undefined) => batch?.messages.map((m) => m.offset);
      t.deepEqual(offsets(byA[0]), ['0', '1', '2', '3', '4'], 'the batch A held');
      t.deepEqual(offsets(byB[0]), ['0', '1', '2', '3', '4'], 'delivered again to the new owner');
      t.deepEqual(
        [...byB, ...byA.slice(1)].flatMap((batch) => batch.messages.map((m) => m.value)),
        values(0, 25),
        'the committed sequence holds each message once, in order',
      );
    } finally {
      release();
      line.resume();
      await logB.close();
      await logA.close();
    }
  });

  test(`${label}: a killed member keeps its group from deletion until its session lapses; listGroups says when it was last seen`, async (t) => {
    const { sql } = await get();
    const time = manualClock();
    const topic = `sql.${unique()}`;
    const groupId = `sql-${unique()}`;
    const line = faulty(sql);
    const doomed = await sqlLog(line.sql, { ...optionsOn(time.clock), onError: () => {} });
    const admin = await sqlLog(sql, optionsOn(time.clock));
    try {
      await admin.ensureTopics([{ topic, partitions: 2 }]);
      const handled: LogMessage[] = [];
      const c = doomed.consume({
        groupId,
        topics: [topic],
        handleBatch: async (b) => void handled.push(...b.messages),
      });
      await c.ready;
      await admin.produce(topic, [{ key: 'k', value: 'v' }]);
      await waitUntil('the message', () => handled.length >= 1);
      const lastSeen = time.now();

      // 1. Killed: it never leaves. Within its session it is still a member.
      line.kill();
      time.advance(sessionTimeoutMs - 1);
      t.deepEqual(await admin.listGroups(groupId), [{ groupId, members: 1, activeAt: lastSeen }]);
      await t.throwsAsync(admin.deleteGroup(groupId), { instanceOf: GroupNotEmptyError });
      t.is(
        (await admin.lag(groupId, topic)).filter((p) => p.committed !== null).length,
        1,
        'its commit stays',
      );

      // 2. Its session lapsed: no members, last seen when it last heartbeat; now it may go.
      time.advance(2);
      t.deepEqual(await admin.listGroups(groupId), [{ groupId, members: 0, activeAt: lastSeen }]);
      t.true(await admin.deleteGroup(groupId));
      t.deepEqual(await admin.listGroups(groupId), []);
      t.deepEqual(
        await sql.query(
          `select 'members' from message_log.members where group_id = $1
           union all select 'leases' from message_log.leases where group_id = $1
           union all select 'commits' from message_log.commits where group_id = $1`,
          [groupId],
        ),
        [],
        'no row of the group is left',
      );
    } finally {
      await admin.close();
      await doomed.close();
    }
  });
};
