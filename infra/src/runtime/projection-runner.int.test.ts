import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { topicOf, type NewEvent, type RecordedEvent } from '@lectern/schemas';
import type { EventStore } from '../ports/event-store.ts';
import { feedShows } from '../testing/wait.ts';
import type { MessageLog } from '../ports/message-log.ts';
import { requireEngine } from '../testing/engines.ts';
import { embeddedEngines, postgresKafkaEngines, type RuntimeEngines } from '../testing/runtime-engines.ts';
import { toLogMessage } from './codec.ts';
import type { DeadLetter } from './dead-letters.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { liveTable, UndeclaredMetadata, type SqlProjection } from './projection.ts';
import {
  RebuildNotVerified,
  applyBatch,
  dlqTopic,
  liveTables,
  projectionRunner,
  type RebuildProgress,
} from './projection-runner.ts';
import { auditProjection } from './projection-audit.ts';
import { ProjectionBusy } from './rebuild-lock.ts';
import { startRelay } from './relay.ts';

type Engines = RuntimeEngines;

/** A model that sums `data.n` per stream into table `name`; events with `data.poison` make it throw. */
/** Counts `<context>.Counted` events per stream; a test that appends to a shared store names a context of its own. */
const tally = (name: string, context = 'tally'): SqlProjection => ({
  name,
  version: 1,
  contexts: [context],
  eventTypes: [`${context}.Counted`],
  tables: [name],
  ddl: (t) =>
    `create table if not exists ${t[name]} (stream_id text primary key, events int not null, total int not null)`,
  async apply(tx, events, t) {
    for (const e of events) {
      const d = e.data as { n: number; poison?: boolean };
      if (d.poison) throw new Error(`poison event ${e.id}`);
      await tx.query(
        `insert into ${t[name]} (stream_id, events, total) values ($1, 1, $2)
         on conflict (stream_id) do update set events = ${t[name]}.events + 1, total = ${t[name]}.total + $2`,
        [e.streamId, d.n],
      );
    }
  },
});

const logger = createLogger({ level: 'silent' });
const recorded = (
  streamId: string,
  revision: number,
  data: object,
  position = revision + 1,
): RecordedEvent => ({
  id: randomUUID(),
  type: 'tally.Counted',
  schemaVersion: 1,
  occurredAt: new Date().toISOString(),
  data,
  metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  streamId,
  revision,
  position,
});
const until = async (
  t: ExecutionContext,
  what: string,
  check: () => Promise<boolean>,
  ms = 180_000,
  /** What to say of the state when the wait runs out (where the consumer is, say). */
  diagnose?: () => Promise<string>,
): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      const state = diagnose ? await diagnose().catch((e: unknown) => `(no diagnosis: ${String(e)})`) : '';
      return void t.fail(`timed out waiting for: ${what}${state ? `; ${state}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
};

/** Where a runner's consumer group is: its progress, and per partition its committed offset and end. */
const whereIs =
  (log: MessageLog, group: string, topic: string, runner: { progress(): unknown; isRunning(): boolean }) =>
  async (): Promise<string> =>
    `running ${runner.isRunning()}, progress ${JSON.stringify(runner.progress())}, ` +
    `partitions ${JSON.stringify(await log.lag(group, topic))}`;

/** `many` says whether other processes (connections) can share the database: PostgreSQL, not PGlite. */
const suite = (name: string, make: () => Promise<Engines>, many = false) => {
  let engines: Promise<Engines> | null = null;
  const get = () => (engines ??= make());
  test.after.always(async () => {
    if (engines) await (await engines).cleanup();
  });

  test(`${name}: redelivered and duplicated events count once`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const p = tally(`tally_${ns}`);
    const metrics = createMetrics();
    const runner = await projectionRunner({ projection: p, sql, log, store, logger, metrics, namespace: ns });
    await runner.start();
    const topic = topicOf('tally', ns);
    const a = Array.from({ length: 5 }, (_, i) => recorded('tally-a', i, { n: i + 1 }));
    // Every event twice, and an old one again after newer ones: what a relay restart and a redelivery look like.
    await log.produce(topic, [...a, ...a, a[1]!].map(toLogMessage));
    await until(t, 'five events applied', async () => {
      const [row] = await sql.query<{ events: number }>(
        `select events from ${p.name} where stream_id = 'tally-a'`,
      );
      return row?.events === 5;
    });
    await new Promise((r) => setTimeout(r, 300));
    const [row] = await sql.query<{ events: number; total: number }>(
      `select events, total from ${p.name} where stream_id = 'tally-a'`,
    );
    t.deepEqual({ ...row }, { events: 5, total: 15 });
    t.true(await runner.waitFor('tally-a', 5, 1000));
    t.false(await runner.waitFor('tally-a', 6, 100), 'a position not reached is reported, within the bound');
    t.regex(
      await metrics.registry.metrics(),
      new RegExp(`lectern_projection_applied_events_total\\{projection="${p.name}"\\} 5`),
    );
    await runner.stop();
  });

  test(`${name}: a failing event is retried, then dead-lettered with its error; the rest apply`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const p = tally(`poison_${ns}`);
    const metrics = createMetrics();
    const runner = await projectionRunner({
      projection: p,
      sql,
      log,
      store,
      logger,
      metrics,
      namespace: ns,
      retryDelayMs: 5,
      maxAttempts: 3,
    });
    await runner.start();
    const events = [
      recorded('tally-x', 0, { n: 1 }),
      recorded('tally-x', 1, { n: 2, poison: true }),
      recorded('tally-x', 2, { n: 4 }),
      recorded('tally-y', 0, { n: 8 }),
    ];
    await log.produce(topicOf('tally', ns), events.map(toLogMessage));
    const dead: string[] = [];
    const dlq = log.consume({
      groupId: `${ns}.dlq-reader`,
      topics: [dlqTopic(p, ns)],
      handleBatch: async (b) => {
        dead.push(...b.messages.map((m) => m.value));
      },
    });
    await until(t, 'the poison event in the dead-letter topic', async () => dead.length === 1);
    await until(t, 'the other events applied', async () => {
      const rows = await sql.query<{ stream_id: string; total: number }>(
        `select stream_id, total from ${p.name} where stream_id in ('tally-x', 'tally-y') order by stream_id`,
      );
      return rows.length === 2 && rows[0]!.total === 5 && rows[1]!.total === 8;
    });
    const letter = JSON.parse(dead[0]!) as DeadLetter;
    t.is(JSON.parse(letter.value).id, events[1]!.id, 'the original message, as it was');
    t.regex(letter.error.message, /poison event/);
    t.is(letter.consumer, `projection.${p.name}`);
    t.true(await runner.waitFor('tally-x', events[2]!.position, 1000), 'the stream moved on');
    const text = await metrics.registry.metrics();
    t.regex(text, new RegExp(`lectern_dead_lettered_total\\{consumer="${p.name}"\\} 1`));
    t.regex(text, new RegExp(`lectern_consumer_retries_total\\{consumer="${p.name}"\\} [1-9]`));
    await dlq.stop();
    await runner.stop();
  });

  test(`${name}: a database that refuses every event dead-letters nothing; the stall shows until it is back`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const p = tally(`down_${ns}`);
    const metrics = createMetrics();
    let clock = Date.UTC(2026, 0, 1);
    const runner = await projectionRunner({
      projection: p,
      sql,
      log,
      store,
      logger,
      metrics,
      namespace: ns,
      retryDelayMs: 1,
      maxAttempts: 2,
      stallAfterMs: 60_000,
      progressIntervalMs: 50,
      now: () => clock,
    });
    await runner.start();
    const dead: string[] = [];
    const dlq = log.consume({
      groupId: `${ns}.dlq-reader`,
      topics: [dlqTopic(p, ns)],
      handleBatch: async (b) => void dead.push(...b.messages.map((m) => m.value)),
    });
    try {
      await dlq.ready;
      // Every event now fails (42P01, undefined table): the database's fault, not the events'.
      await sql.query(`alter table ${p.name} rename to ${p.name}_away`);
      await log.produce(
        topicOf('tally', ns),
        [recorded('tally-d', 0, { n: 1 }), recorded('tally-d', 1, { n: 2 })].map(toLogMessage),
      );
      await until(t, 'lag seen', async () => (runner.progress().lag ?? 0) > 0);
      t.false(runner.progress().stalled, 'not before the stall limit');
      clock += 60_000;
      await until(t, 'a stall', async () => runner.progress().stalled);
      const stalled = new RegExp(`lectern_consumer_stalled_seconds\\{consumer="${p.name}"\\} [1-9]`);
      await until(t, 'the stall in the metric', async () => stalled.test(await metrics.registry.metrics()));
      await sql.query(`alter table ${p.name}_away rename to ${p.name}`);
      await until(
        t,
        'both events applied',
        async () => {
          const [row] = await sql.query<{ total: number }>(
            `select total from ${p.name} where stream_id = 'tally-d'`,
          );
          return row?.total === 3;
        },
        undefined,
        async () =>
          `${await whereIs(log, `${ns}.projection.${p.name}`, topicOf('tally', ns), runner)()}, rows ` +
          JSON.stringify(await sql.query(`select * from ${p.name}`)) +
          `, checkpoints ${JSON.stringify(await sql.query(`select * from ${p.name}_checkpoints`))}` +
          `, tables ${JSON.stringify(await sql.query(`select tablename from pg_tables where tablename like $1`, [`${p.name}%`]))}`,
      );
      await until(t, 'the stall over', async () => !runner.progress().stalled);
      t.deepEqual(dead, [], 'nothing dead-lettered');
    } finally {
      await dlq.stop();
      await runner.stop();
    }
  });

  test(`${name}: rebuild from zero into shadow tables, verified at one position, swaps in while queries keep answering`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const table = `rebuilt_${ns}`;
    const projection = tally(table);
    const relay = await startRelay({ store, log, sql, logger, namespace: ns, name: ns });
    const runner = await projectionRunner({ projection, sql, log, store, logger, namespace: ns });
    await runner.start();
    const streams = Array.from({ length: 25 }, () => `tally-${randomUUID()}`);
    const append = async (round: number) => {
      for (const s of streams) {
        const e: NewEvent = { ...recorded(s, 0, { n: 1 }), id: randomUUID() };
        await store.append(s, [e], { expectedRevision: round === 0 ? 'no_stream' : round - 1 });
      }
    };
    for (let round = 0; round < 10; round++) await append(round);
    const total = async () =>
      Number(
        (await sql.query<{ n: string }>(`select coalesce(sum(events), 0)::text as n from ${table}`))[0]!.n,
      );
    await until(
      t,
      'live model caught up',
      async () => (await total()) === 250,
      undefined,
      whereIs(log, `${ns}.projection.${table}`, topicOf('tally', ns), runner),
    );

    let querying = true;
    let failures = 0;
    let queries = 0;
    const reader = (async () => {
      while (querying) {
        try {
          await total();
          queries++;
        } catch {
          failures++;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      // 1. A sound model: the rebuild matches it at one position, while
      //    events keep coming, and is swapped in.
      const rebuilding = runner.rebuild({ pageSize: 37 });
      await append(10); // written during the rebuild
      const sound = await rebuilding;
      t.true(sound.swapped);
      t.like(sound.verification, { verified: true, matches: true });
      t.is(sound.verification.tables.length, 1);
      const [checked] = sound.verification.tables;
      t.like(checked, { table, differingRows: 0, differingKeys: [] });
      t.is(checked!.liveRows, checked!.rebuiltRows);
      t.is(checked!.liveChecksum, checked!.rebuiltChecksum);
      t.true(sound.verification.position! > 0);
      t.true(sound.events >= 250);
      await until(t, 'the last round applied', async () => (await total()) === 275);

      // 2. Damage two rows by hand, as a buggy projector would have, and
      //    delete a third: the rebuild finds exactly those, by key, and the
      //    live model stays as it was.
      const [a, b, c] = streams.slice().sort();
      await sql.query(`update ${table} set events = events + 100 where stream_id = any($1)`, [[a, b]]);
      await sql.query(`delete from ${table} where stream_id = $1`, [c]);
      const damaged = await runner.rebuild({ pageSize: 37 });
      t.false(damaged.swapped, 'a rebuild that differs is not swapped in');
      t.like(damaged.verification, { verified: true, matches: false });
      const [found] = damaged.verification.tables;
      t.like(found, { table, liveRows: 24, rebuiltRows: 25, differingRows: 3 });
      t.not(found!.liveChecksum, found!.rebuiltChecksum);
      t.deepEqual(
        found!.differingKeys,
        [a, b, c].sort().map((stream_id) => ({ stream_id })),
      );
      t.is(await total(), 275 - 11 + 200, 'the live model is untouched');

      // 3. The operator accepts the differences: swapped in, the damage gone.
      const accepted = await runner.rebuild({ pageSize: 37, acceptDifferences: true });
      t.true(accepted.swapped);
      t.is(accepted.verification.tables[0]!.differingRows, 3, 'what it replaced is still reported');
      await append(11); // written after the swap, applied by the resumed consumer
      await until(t, 'rebuilt model caught up', async () => (await total()) === 300);
      const rows = await sql.query<{ events: number }>(`select events from ${table}`);
      t.deepEqual(new Set(rows.map((r) => r.events)), new Set([12]));
    } finally {
      querying = false;
      await reader;
      await runner.stop();
      await relay.stop();
    }
    t.is(failures, 0, 'no query failed during the rebuilds');
    t.true(queries > 0);
  });

  // Serial: each diff holds the live tables' lock for its comparison, and on PostgreSQL that open
  // transaction keeps the feed holding back other tests' events (rule 2), which the test of a live
  // model moved from elsewhere must see while it rebuilds.
  test.serial(
    `${name}: a diff at a position: rows moved on since are apart, a row damaged by hand is named`,
    async (t) => {
      const { sql, store, log } = await get();
      const ns = `p${randomUUID().slice(0, 8)}`;
      const table = `diffat_${ns}`;
      // A context of its own, so that no other test's events are in this model.
      const context = `diffat${ns}`;
      const projection = tally(table, context);
      const relay = await startRelay({ store, log, sql, logger, namespace: ns, name: ns });
      const runner = await projectionRunner({ projection, sql, log, store, logger, namespace: ns });
      await runner.start();
      const count = async (stream: string, revision: number) =>
        (
          await store.append(
            stream,
            [{ ...recorded(stream, revision, { n: 1 }), type: `${context}.Counted` }],
            {
              expectedRevision: revision === 0 ? 'no_stream' : revision - 1,
            },
          )
        ).position;
      const [damaged, moved, still, late] = ['a', 'b', 'c', 'd'].map((x) => `${context}-${x}`) as [
        string,
        string,
        string,
        string,
      ];
      await count(damaged, 0);
      await count(moved, 0);
      const at = await count(still, 0);
      // After the position: one stream changes, one is made.
      await count(moved, 1);
      await count(late, 0);
      const total = async () =>
        Number(
          (await sql.query<{ n: string }>(`select coalesce(sum(events), 0)::text as n from ${table}`))[0]!.n,
        );
      try {
        await until(
          t,
          'live model caught up',
          async () => (await total()) === 5,
          undefined,
          whereIs(log, `${ns}.projection.${table}`, topicOf(context, ns), runner),
        );
        const seen: RebuildProgress[] = [];
        const sound = await runner.rebuild({ compareOnly: true, at, onProgress: (p) => seen.push(p) });
        t.like(sound.verification, { verified: true, matches: true, at });
        t.is(sound.events, 3, 'the events up to the position');
        t.like(sound.verification.tables[0], {
          differingRows: 0,
          movedOnRows: 2,
          movedOnKeys: [{ stream_id: moved }, { stream_id: late }],
          liveRows: 4,
          rebuiltRows: 3,
        });
        t.deepEqual(
          [...new Set(seen.map((p) => p.phase))],
          ['replay', 'agree', 'compare'],
          'each phase is told, in order',
        );
        t.true(seen.some((p) => p.eventsRead >= 5 && p.position !== null && p.position >= at));
        t.true(seen.every((p) => p.headPosition !== null && p.headPosition >= at));

        // Damaged by hand, a row untouched since the position is named; one that moved on is not.
        await sql.query(`update ${table} set total = total + 100 where stream_id = any($1)`, [
          [damaged, moved],
        ]);
        const found = await runner.rebuild({ compareOnly: true, at });
        t.like(found.verification, { matches: false, at });
        t.like(found.verification.tables[0], {
          differingRows: 1,
          differingKeys: [{ stream_id: damaged }],
          movedOnRows: 2,
        });
        // Without the position, both are differences now.
        const now = await runner.rebuild({ compareOnly: true });
        t.deepEqual(now.verification.tables[0]!.differingKeys, [
          { stream_id: damaged },
          { stream_id: moved },
        ]);
        t.is(now.verification.at, undefined);
        t.deepEqual(
          (
            await sql.query<{ n: string }>(
              `select count(*)::text as n from pg_namespace where nspname = $1`,
              [`diffat_${table}`],
            )
          )[0]!.n,
          '0',
          'the scratch schema is dropped',
        );
      } finally {
        await runner.stop();
        await relay.stop();
      }
    },
  );

  test(`${name}: a model with loadSql rebuilds in the database: the rows and ledgers apply makes, and what came after its cut; one that disagrees with apply is refused`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const table = `insql_${ns}`;
    // A context of its own: the store is shared with other tests.
    const context = `insql${ns}`;
    const loading = (total: string): SqlProjection => ({
      ...tally(table, context),
      loadSql: (tt, events) => `insert into ${tt[table]} (stream_id, events, total)
        select e.stream_id, count(*), ${total} from ${events} e group by e.stream_id`,
    });
    const sound = loading(`sum((e.data->>'n')::int)`);
    const relay = await startRelay({ store, log, sql, logger, namespace: ns, name: ns });
    const consumer = await projectionRunner({ projection: sound, sql, log, store, logger, namespace: ns });
    await consumer.start();
    try {
      const counted = (n: number): NewEvent => ({
        ...recorded('', 0, { n }),
        id: randomUUID(),
        type: `${context}.Counted`,
      });
      const streams = Array.from({ length: 12 }, () => `${context}-${randomUUID()}`).sort();
      for (const s of streams)
        await store.append(s, [counted(1), counted(2), counted(3)], { expectedRevision: 'no_stream' });
      const rows = () => sql.query(`select stream_id, events, total from ${table} order by stream_id`);
      const expected = streams.map((stream_id, i) =>
        i === 0 ? { stream_id, events: 4, total: 16 } : { stream_id, events: 3, total: 6 },
      );
      // One more event, appended just after the rebuild reads the head it loads up to, and
      // applied by the live model before the rebuild goes on: the replay after the load
      // must bring the rebuilt one to it.
      let late = false;
      const watched: EventStore = {
        ...store,
        async headCursor() {
          const cut = await store.headCursor();
          if (!late) {
            late = true;
            await store.append(streams[0]!, [counted(10)], { expectedRevision: 2 });
            await until(t, 'the live model applied the late event', async () =>
              isDeepStrictEqual(await rows(), expected),
            );
          }
          return cut;
        },
      };
      const rebuilder = await projectionRunner({
        projection: sound,
        sql,
        log,
        store: watched,
        logger,
        namespace: ns,
      });
      const told: RebuildProgress[] = [];
      const rebuilt = await rebuilder.rebuild({ onProgress: (p) => told.push(p) });
      t.true(late, 'the load read its cut');
      // How many events the load counts depends on what the feed showed at its cut (an older
      // transaction of the store's database holds events back), so only the phases are certain.
      t.deepEqual(
        told.map((p) => p.phase).filter((phase, i, all) => phase !== all[i - 1]),
        ['replay', 'load', 'replay', 'agree', 'compare'],
        'the load in the database is a phase of its own, before the replay after its cut',
      );
      t.true(rebuilt.swapped);
      t.like(rebuilt.verification, { verified: true, matches: true });
      t.is(rebuilt.events, 37);
      t.deepEqual(await rows(), expected);
      // The ledgers made in the database count and digest each event as the store holds it.
      t.like(await auditProjection({ sql, store, projection: sound }), {
        events: 37,
        streams: 12,
        findings: 0,
        unaudited: 0,
      });

      const wrong = await projectionRunner({
        projection: loading(`sum((e.data->>'n')::int) * 2`),
        sql,
        log,
        store,
        logger,
        namespace: ns,
      });
      const refused = await wrong.rebuild();
      t.false(refused.swapped, 'a load that disagrees with apply is not swapped in');
      t.like(refused.verification, { verified: true, matches: false });
      t.like(refused.verification.tables[0], { liveRows: 12, rebuiltRows: 12, differingRows: 12 });
      t.deepEqual(await rows(), expected, 'the live model is untouched');
    } finally {
      await consumer.stop();
      await relay.stop();
    }
  });

  test(`${name}: a rebuild whose live model never reaches its position is refused, or swapped in unverified when accepted`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const table = `unagreed_${ns}`;
    // No relay and no consumer: the live model never applies what the store holds. Its
    // events are of a context of its own: other tests' relays publish the whole store.
    const context = `unagreed${ns}`;
    const runner = await projectionRunner({
      projection: tally(table, context),
      sql,
      log,
      store,
      logger,
      namespace: ns,
    });
    const stream = `${context}-${randomUUID()}`;
    const event = { ...recorded(stream, 0, { n: 5 }), type: `${context}.Counted` };
    await store.append(stream, [event], { expectedRevision: 'no_stream' });
    // A rebuild replays the feed, which holds an event back while an older transaction
    // of the store's database is still open.
    await feedShows(store, [event.id], 60_000);
    const refused = await t.throwsAsync(runner.rebuild({ agreeWithinMs: 0 }), {
      instanceOf: RebuildNotVerified,
    });
    t.regex(refused!.message, /1 streams behind/);
    t.deepEqual(await sql.query(`select * from ${table}`), [], 'the live model is untouched');
    const accepted = await runner.rebuild({ agreeWithinMs: 0, acceptDifferences: true });
    t.true(accepted.swapped);
    t.like(accepted.verification, { verified: false, matches: false, position: null, tables: [] });
    t.deepEqual(await sql.query(`select stream_id, total from ${table}`), [{ stream_id: stream, total: 5 }]);
  });

  test(`${name}: one rebuild, diff or audit of a model at a time, in any process: another is refused while it runs`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const table = `busy_${ns}`;
    const context = `busy${ns}`;
    const projection = tally(table, context);
    // A runner of its own, as another process has; on PostgreSQL its rebuilds take other sessions.
    const runner = await projectionRunner({ projection, sql, log, store, logger, namespace: ns });
    const elsewhere = await projectionRunner({ projection, sql, log, store, logger, namespace: ns });
    const stream = `${context}-${randomUUID()}`;
    const event = { ...recorded(stream, 0, { n: 5 }), type: `${context}.Counted` };
    await store.append(stream, [event], { expectedRevision: 'no_stream' });
    await feedShows(store, [event.id], 60_000);
    // No consumer: nothing is compared, and an accepted rebuild swaps in unverified.
    const unagreed = { agreeWithinMs: 0, acceptDifferences: true };
    const during: Promise<unknown>[] = [];
    const first = await runner.rebuild({
      ...unagreed,
      onProgress: () => {
        if (during.length === 0)
          during.push(
            elsewhere.rebuild(unagreed),
            elsewhere.rebuild({ compareOnly: true, agreeWithinMs: 0 }),
            runner.rebuild(unagreed),
          );
      },
    });
    t.true(first.swapped);
    t.is(during.length, 3);
    for (const refused of during)
      t.like(await t.throwsAsync(refused, { instanceOf: ProjectionBusy }), { projection: table });
    // Once it has ended, the next one runs.
    t.true((await elsewhere.rebuild(unagreed)).swapped);
    t.deepEqual(await sql.query(`select stream_id, total from ${table}`), [{ stream_id: stream, total: 5 }]);
  });

  test(`${name}: a rebuild of a model that reads metadata it does not declare fails, naming the key`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `p${randomUUID().slice(0, 8)}`;
    const table = `undeclared_${ns}`;
    const context = `undeclared${ns}`;
    const counted = tally(table, context);
    // Declares the actor and reads the correlation too: a rebuild reads only the actor from the store.
    const projection: SqlProjection = {
      ...counted,
      metadata: ['actor'],
      async apply(tx, events, t) {
        for (const e of events) if (e.metadata.actor === undefined || !e.metadata.correlationId) return;
        await counted.apply(tx, events, t);
      },
    };
    const runner = await projectionRunner({ projection, sql, log, store, logger, namespace: ns });
    const stream = `${context}-${randomUUID()}`;
    const event = { ...recorded(stream, 0, { n: 5 }), type: `${context}.Counted` };
    await store.append(stream, [event], { expectedRevision: 'no_stream' });
    await feedShows(store, [event.id], 60_000);
    const failed = await t.throwsAsync(runner.rebuild({ agreeWithinMs: 0, acceptDifferences: true }), {
      instanceOf: UndeclaredMetadata,
    });
    t.like(failed, { projection: table, key: 'correlationId' });
    t.regex(failed!.message, /does not declare/);
    t.deepEqual(await sql.query(`select * from ${table}`), [], 'the live model is untouched');
  });

  if (many)
    test(`${name}: a rebuild agrees with a live model that a consumer elsewhere moves ahead of every unlocked attempt`, async (t) => {
      const { sql, store, log } = await get();
      const ns = `p${randomUUID().slice(0, 8)}`;
      const table = `elsewhere_${ns}`;
      const context = `elsewhere${ns}`;
      const stream = `${context}-${randomUUID()}`;
      const base = tally(table, context);
      let revision = -1;
      /**
       * Appends one event and, once the store's feed shows it, applies it to the live
       * model as a consumer in another process would: a consumer only ever gets what the
       * feed has shown (through the relay), which a replay therefore finds too.
       */
      const elsewhere = async () => {
        revision++;
        const e = { ...recorded(stream, revision, { n: 1 }), type: `${context}.Counted` };
        await store.append(stream, [e], { expectedRevision: revision === 0 ? 'no_stream' : revision - 1 });
        const [shown] = await feedShows(store, [e.id]);
        await sql.transaction((tx) => applyBatch(tx, base, liveTables(base), [shown!]));
      };
      let phase: RebuildProgress['phase'] = 'replay';
      let restart: string | null = null;
      let moved = 0;
      /**
       * The store as the rebuilding runner reads it: each time the rebuild goes back to
       * bring the shadow to the live checkpoints (its first read after the first replay)
       * while the live table is not locked, the consumer elsewhere applies one more event
       * first, as steady writes make a busy deployment's consumers do.
       */
      const watched: EventStore = {
        ...store,
        async readAll(after, limit) {
          if (phase === 'compare' && (restart ??= after) === after) {
            const [locked] = await sql.query(
              `select 1 from pg_locks l where l.relation = $1::regclass
                  and l.mode = 'AccessExclusiveLock' and l.granted`,
              [liveTable(table)],
            );
            if (!locked) {
              await elsewhere();
              moved++;
            }
          }
          return store.readAll(after, limit);
        },
      };
      // Consumes nothing, as an api process that serves `lectern rebuild`.
      const runner = await projectionRunner({
        projection: base,
        sql,
        log,
        store: watched,
        logger,
        namespace: ns,
      });
      for (let i = 0; i < 5; i++) await elsewhere();
      const result = await runner.rebuild({
        pageSize: 2,
        onProgress: (p) => {
          phase = p.phase;
        },
      });
      t.is(moved, 1, 'the live model moved before the first attempt locked, and not after');
      t.true(result.swapped);
      t.like(result.verification, { verified: true, matches: true });
      t.deepEqual(await sql.query(`select stream_id, events from ${liveTable(table)}`), [
        { stream_id: stream, events: revision + 1 },
      ]);
    });
};

suite('pglite + sql log', embeddedEngines);

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'projection runtime on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'projection runtime through Kafka');
if (databaseUrl && brokers)
  suite(
    'postgres + kafka',
    () =>
      postgresKafkaEngines(databaseUrl, {
        brokers,
        clientId: 'projection-tests',
        sessionTimeout: 6000,
        heartbeatInterval: 500,
        rebalanceTimeout: 6000,
      }),
    true,
  );
