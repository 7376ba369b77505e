import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import type { MessageLog } from '../ports/message-log.ts';
import { requireEngine } from '../testing/engines.ts';
import { embeddedEngines, postgresKafkaEngines, type RuntimeEngines } from '../testing/runtime-engines.ts';
import { toLogMessage } from './codec.ts';
import { deadLetterAdmin, UnknownDeadLetterTopic } from './dead-letter-admin.ts';
import { dlqTopicOf, type DeadLetter } from './dead-letters.ts';
import { createLogger } from './logger.ts';
import type { SqlProjection } from './projection.ts';
import { dlqTopic, projectionRunner } from './projection-runner.ts';

type Engines = RuntimeEngines;

/** Sums `data.n` per stream; throws on `data.odd` while `broken.now` (a bug, later fixed). */
const summing = (name: string, broken: { now: boolean }): SqlProjection => ({
  name,
  version: 1,
  contexts: ['sums'],
  eventTypes: ['sums.Added'],
  tables: [name],
  ddl: (t) => `create table if not exists ${t[name]} (stream_id text primary key, total int not null)`,
  async apply(tx, events, t) {
    for (const e of events) {
      const d = e.data as { n: number; odd?: boolean };
      if (d.odd && broken.now) throw new Error(`cannot sum ${e.id} (a bug, staged by the test)`);
      await tx.query(
        `insert into ${t[name]} (stream_id, total) values ($1, $2)
         on conflict (stream_id) do update set total = ${t[name]}.total + $2`,
        [e.streamId, d.n],
      );
    }
  },
});

const added = (streamId: string, revision: number, data: object): RecordedEvent => ({
  id: randomUUID(),
  type: 'sums.Added',
  schemaVersion: 1,
  occurredAt: new Date().toISOString(),
  data,
  metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  streamId,
  revision,
  position: revision + 1,
});

const until = async (t: ExecutionContext, what: string, check: () => Promise<boolean>, ms = 300_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return void t.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const suite = (name: string, make: () => Promise<Engines>) => {
  let engines: Promise<Engines> | null = null;
  test.after.always(async () => {
    if (engines) await (await engines).cleanup();
  });

  test(`${name}: dlq list, show and redrive: a dead letter applies once its bug is fixed`, async (t) => {
    const { sql, store, log } = await (engines ??= make());
    const ns = `d${randomUUID().slice(0, 8)}`;
    const broken = { now: true };
    const p = summing(`sums_${ns}`, broken);
    const runner = await projectionRunner({
      projection: p,
      sql,
      log,
      store,
      logger: createLogger({ level: 'silent' }),
      namespace: ns,
      retryDelayMs: 1,
      maxAttempts: 2,
    });
    const topic = dlqTopic(p, ns);
    const admin = deadLetterAdmin(log, [topic]);
    const total = async () =>
      (await sql.query<{ total: number }>(`select total from ${p.name} where stream_id = 's-1'`))[0]?.total;
    try {
      await runner.start();
      const events = [
        added('s-1', 0, { n: 1 }),
        added('s-1', 1, { n: 2, odd: true }),
        added('s-1', 2, { n: 4 }),
      ];
      await log.produce(topicOf('sums', ns), events.map(toLogMessage));
      await until(t, 'the others applied', async () => (await total()) === 5);
      await until(t, 'one dead letter', async () => (await admin.list())[0]!.total === 1);
      t.deepEqual(await admin.list(), [{ topic, total: 1, redriven: 0, waiting: 1 }]);

      const [shown] = await admin.show(topic);
      t.is(shown!.redriven, false);
      t.is(shown!.letter!.consumer, `projection.${p.name}`);
      t.is(JSON.parse(shown!.letter!.value).id, events[1]!.id);
      t.regex(shown!.letter!.error.message, /a bug/);
      t.is((await admin.show(topic)).length, 1, 'showing takes nothing');

      broken.now = false;
      t.deepEqual(await admin.redrive(topic), { redriven: 1, skipped: 0 });
      // The stream was past it (revision 2): applied all the same, since it was redriven for this model.
      await until(t, 'the redriven event applied', async () => (await total()) === 7);
      t.deepEqual(await admin.list(), [{ topic, total: 1, redriven: 1, waiting: 0 }]);
      t.deepEqual(await admin.redrive(topic), { redriven: 0, skipped: 0 }, 'each letter is redriven once');
      t.true((await admin.show(topic))[0]!.redriven);
      await t.throwsAsync(admin.show(topicOf('sums', ns)), { instanceOf: UnknownDeadLetterTopic });
    } finally {
      await runner.stop();
    }
  });

  test(`${name}: a letter that fails again at once is filed anew and waits for the next redrive`, async (t) => {
    const { log } = await (engines ??= make());
    const ns = `d${randomUUID().slice(0, 8)}`;
    const source = `${ns}.echo`;
    const topic = dlqTopicOf(ns, 'worker.echo');
    await log.ensureTopics([
      { topic: source, partitions: 1 },
      { topic, partitions: 1 },
    ]);
    let filed = 0;
    const letter = (value: string): DeadLetter => ({
      consumer: 'worker.echo',
      source: { topic: source, partition: 0, offset: String(filed++) },
      key: 'k',
      value,
      headers: {},
      error: { name: 'Error', message: 'fails every time (staged by the test)' },
      attempts: 1,
      failedAt: new Date().toISOString(),
    });
    const file = (values: readonly string[]) =>
      log.produce(
        topic,
        values.map((v) => ({ key: 'k', value: JSON.stringify(letter(v)) })),
      );
    await file(['a', 'b']);
    // A consumer that fails whatever is redriven to it, at once: its new
    // letter is filed before the redrive's produce returns, so the redrive
    // could read it next (before this change it went round until stopped).
    const failing: MessageLog = {
      ...log,
      async produce(to, messages) {
        await log.produce(to, messages);
        if (to === source) await file(messages.map((m) => m.value));
      },
    };
    const admin = deadLetterAdmin(failing, [topic]);
    t.deepEqual(
      await admin.redrive(topic),
      { redriven: 2, skipped: 0 },
      'the two letters there at the start',
    );
    t.deepEqual(await admin.list(), [{ topic, total: 4, redriven: 2, waiting: 2 }]);
    t.deepEqual(
      await admin.redrive(topic),
      { redriven: 2, skipped: 0 },
      'the next redrive takes the new ones',
    );
    t.deepEqual(await admin.list(), [{ topic, total: 6, redriven: 4, waiting: 2 }]);
    const shown = await admin.show(topic);
    t.deepEqual(
      shown.map((s) => [s.letter!.value, s.redriven]),
      [
        ['a', true],
        ['b', true],
        ['a', true],
        ['b', true],
        ['a', false],
        ['b', false],
      ],
    );
  });
};

suite('pglite + sql log', embeddedEngines);

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'dead-letter admin on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'dead-letter admin through Kafka');
if (databaseUrl && brokers)
  suite('postgres + kafka', () =>
    postgresKafkaEngines(databaseUrl, {
      brokers,
      clientId: 'dlq-admin-tests',
      // Long: a session that lapses on a starved machine redelivers the redrive's batch,
      // and the test's failing consumer then files its letters again (counted below exactly).
      sessionTimeout: 30_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 30_000,
      onError: () => {},
    }),
  );
