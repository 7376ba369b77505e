import { randomUUID } from 'node:crypto';
import test from 'ava';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import { sqlLog } from '../message-log/sql-log.ts';
import type { MessageLog } from '../ports/message-log.ts';
import { pgliteSql } from '../sql/pglite.ts';
import type { Sql } from '../sql/sql.ts';
import { eventFeed } from '../testing/projection-spec.ts';
import { waitUntil } from '../testing/wait.ts';
import { toLogMessage } from './codec.ts';
import { REDRIVE_FOR, REDRIVEN_FROM } from './dead-letter-admin.ts';
import { dlqTopicOf } from './dead-letters.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import {
  migrateReactorWork,
  PermanentFailure,
  startReactor,
  workOf,
  type Reaction,
  type ReactionResult,
} from './reactor.ts';

/**
 * The worker tier's rule on PGlite and the SQL log (in this process): each
 * event acted on once, however often delivered; transient failures retried
 * with backoff, permanent ones and exhausted ones dead-lettered; a dead
 * worker's claim taken over after its lease; a redriven event tried afresh.
 * Time is injected: no test waits out a backoff or a lease.
 */

const logger = createLogger({ level: 'silent' });

const feed = eventFeed({ startsAt: '2026-12-02T00:00:00.000Z' });
/** A fresh event of its own stream, stamped as the store would. */
const event = (type = 'demo.Happened'): RecordedEvent =>
  feed.append(`demo-${randomUUID()}`, [{ type, data: { n: 1 } }])[0]!;

type Fixture = {
  sql: Sql;
  log: MessageLog;
  namespace: string;
  calls: Map<string, number>;
  /** How long each pause's claim still had to run when the pause began (ms past the clock). */
  heldFor: number[];
  /** What each call was told of a redrive (the dead letter it came from, or null). */
  letters: (string | null)[];
  pauses: number[];
  clock: { t: number };
  metrics: ReturnType<typeof createMetrics>;
  /** A reaction that runs `behave(event, attempt)` and counts its calls. */
  run(
    behave: (e: RecordedEvent, attempt: number) => ReactionResult,
    opts?: { attempts?: number; owner?: string },
  ): Promise<{ stop(): Promise<void> }>;
  publish(...events: RecordedEvent[]): Promise<void>;
  dlqCount(): Promise<number>;
};

const fixture = async (): Promise<Fixture> => {
  const sql = await pgliteSql(null);
  const log = await sqlLog(sql);
  const namespace = `t${randomUUID().slice(0, 8)}`;
  const calls = new Map<string, number>();
  const letters: (string | null)[] = [];
  const heldFor: number[] = [];
  const pauses: number[] = [];
  const clock = { t: Date.UTC(2026, 11, 2, 12) };
  const metrics = createMetrics();
  return {
    sql,
    log,
    namespace,
    calls,
    letters,
    heldFor,
    pauses,
    clock,
    metrics,
    async run(behave, opts = {}) {
      const reaction: Reaction = {
        name: 'demo',
        contexts: ['demo'],
        eventTypes: ['demo.Happened'],
        async handle(e, attempt) {
          calls.set(e.id, (calls.get(e.id) ?? 0) + 1);
          letters.push(attempt.redriven);
          return behave(e, attempt.number);
        },
      };
      const reactor = await startReactor({
        reaction,
        sql,
        log,
        logger,
        metrics,
        namespace,
        attempts: opts.attempts ?? 4,
        baseDelayMs: 100,
        leaseMs: 60_000,
        ...(opts.owner ? { owner: opts.owner } : {}),
        now: () => clock.t,
        sleep: async (ms) => {
          pauses.push(ms);
          const [row] = await sql.query<{ lease_until: Date | string }>(
            `select max(lease_until) as lease_until from reactor_work where reactor = 'demo' and state = 'claimed'`,
          );
          heldFor.push(new Date(row!.lease_until).getTime() - clock.t);
        },
        random: () => 0.5,
      });
      await reactor.start();
      return reactor;
    },
    async publish(...events) {
      await log.ensureTopics([{ topic: topicOf('demo', namespace), partitions: 4 }]);
      await log.produce(topicOf('demo', namespace), events.map(toLogMessage));
    },
    async dlqCount() {
      const lag = await log.lag(`${namespace}.nobody`, dlqTopicOf(namespace, 'worker.demo'));
      return lag.reduce((n, p) => n + Number(p.end), 0);
    },
  };
};

test('an event delivered twice is acted on once, and its row says what was done', async (t) => {
  const f = await fixture();
  const r = await f.run((e) => ({ outcome: 'sent', ref: `ref-${e.id.slice(0, 4)}` }));
  try {
    const e = event();
    const other = event('demo.Ignored');
    await f.publish(e, other, e);
    await waitUntil('both copies consumed', async () =>
      (await f.log.lag(`${f.namespace}.worker.demo`, topicOf('demo', f.namespace))).every(
        (p) => (p.committed ?? '0') === p.end,
      ),
    );
    t.is(f.calls.get(e.id), 1);
    t.false(f.calls.has(other.id), 'types it does not act on are only acknowledged');
    t.like(await workOf(f.sql, 'demo', e.id), {
      state: 'done',
      attempts: 1,
      outcome: 'sent',
      ref: `ref-${e.id.slice(0, 4)}`,
    });
    t.is(await workOf(f.sql, 'demo', other.id), null);
    const lag = await f.metrics.reactorLagMs.get();
    t.deepEqual(
      lag.values.map((v) => [v.labels, v.value]),
      [[{ reactor: 'demo' }, f.clock.t - Date.parse(e.occurredAt)]],
      "the event's age by the worker's clock when it took it up",
    );
  } finally {
    await r.stop();
    await f.sql.close();
  }
});

test('a transient failure is retried with growing, jittered pauses, then succeeds once', async (t) => {
  const f = await fixture();
  const r = await f.run((_e, attempt) => {
    if (attempt < 3) throw new Error(`provider answered 503 (attempt ${attempt})`);
    return { outcome: 'sent' };
  });
  try {
    const e = event();
    await f.publish(e);
    await waitUntil('the event is done', async () => (await workOf(f.sql, 'demo', e.id))?.state === 'done');
    t.is(f.calls.get(e.id), 3);
    // 100 ms then 200 ms, each with half as much again of jitter (random = 0.5).
    t.deepEqual(f.pauses, [150, 300]);
    t.like(await workOf(f.sql, 'demo', e.id), { attempts: 3, lastError: null });
    t.is(await f.dlqCount(), 0);
    const attempts = await f.metrics.reactorAttempts.get();
    t.is(attempts.values.find((v) => v.labels.reactor === 'demo')?.value, 3);
  } finally {
    await r.stop();
    await f.sql.close();
  }
});

test("a provider's Retry-After holds the next try back (up to a cap), and the claim with it", async (t) => {
  const f = await fixture();
  const later = (ms: number) => Object.assign(new Error(`429, come back in ${ms} ms`), { retryAfterMs: ms });
  const r = await f.run((_e, attempt) => {
    if (attempt === 1) throw later(30_000);
    if (attempt === 2) throw later(3_600_000);
    return { outcome: 'sent' };
  });
  try {
    const e = event();
    await f.publish(e);
    await waitUntil('the event is done', async () => (await workOf(f.sql, 'demo', e.id))?.state === 'done');
    // Asked for 30 s (more than the 150 ms backoff); then an hour, held to the 5-minute cap.
    t.deepEqual(f.pauses, [30_000, 300_000]);
    // Through each pause the claim outlives it by a whole lease (60 s): no one takes the event over.
    t.deepEqual(f.heldFor, [90_000, 360_000]);
    t.like(await workOf(f.sql, 'demo', e.id), { state: 'done', attempts: 3 });
    t.is(f.calls.get(e.id), 3);
  } finally {
    await r.stop();
    await f.sql.close();
  }
});

test('a permanent failure is dead-lettered at once; an exhausted transient one after the last try', async (t) => {
  const f = await fixture();
  const [refused, flaky] = [event(), event()];
  const r = await f.run(
    (e) => {
      if (e.id === refused.id) throw new PermanentFailure('provider answered 400: no such recipient');
      throw new Error('provider answered 503');
    },
    { attempts: 3 },
  );
  try {
    await f.publish(refused, flaky);
    await waitUntil('both are dead', async () => (await workOf(f.sql, 'demo', flaky.id))?.state === 'dead');
    t.like(await workOf(f.sql, 'demo', refused.id), {
      state: 'dead',
      attempts: 1,
      lastError: 'provider answered 400: no such recipient',
    });
    t.like(await workOf(f.sql, 'demo', flaky.id), { state: 'dead', attempts: 3 });
    t.is(f.calls.get(refused.id), 1);
    t.is(f.calls.get(flaky.id), 3);
    t.is(await f.dlqCount(), 2);
    const dead = await f.metrics.deadLettered.get();
    t.is(
      dead.values.find((v) => v.labels.consumer === 'demo')?.value,
      2,
      'the dead-letter counter, per reactor',
    );
  } finally {
    await r.stop();
    await f.sql.close();
  }
});

test("a dead worker's claim is taken over once its lease has run out, not before", async (t) => {
  const f = await fixture();
  const e = event();
  // A worker claimed it and died: its lease runs for another minute.
  await migrateReactorWork(f.sql);
  await f.sql.query(
    `insert into reactor_work (reactor, event_id, event_type, state, owner, lease_until, first_seen, updated_at, attempts)
     values ('demo', $1::uuid, 'demo.Happened', 'claimed', 'ghost', $2::timestamptz, $3::timestamptz, $3::timestamptz, 1)`,
    [e.id, new Date(f.clock.t + 60_000).toISOString(), new Date(f.clock.t).toISOString()],
  );
  const r = await f.run(() => ({ outcome: 'sent' }), { owner: 'heir' });
  try {
    await f.publish(e);
    // Delivered (and given back) while the lease holds: nothing is done.
    await waitUntil('a delivery met the live claim', async () => {
      const retries = await f.metrics.consumerRetries.get();
      return (retries.values.find((v) => v.labels.consumer === 'demo')?.value ?? 0) >= 1;
    });
    t.false(f.calls.has(e.id));
    t.like(await workOf(f.sql, 'demo', e.id), { state: 'claimed' });
    // The oldest pending work, as the gauge shows it: claimed 30 s ago by the clock.
    f.clock.t += 30_000;
    await waitUntil('the oldest-pending gauge', async () => {
      const g = await f.metrics.reactorOldestPendingSeconds.get();
      return g.values.find((v) => v.labels.reactor === 'demo')?.value === 30;
    });
    f.clock.t += 30_001;
    await waitUntil('the heir did it', async () => (await workOf(f.sql, 'demo', e.id))?.state === 'done');
    t.is(f.calls.get(e.id), 1);
    t.like(await workOf(f.sql, 'demo', e.id), { attempts: 2 });
  } finally {
    await r.stop();
    await f.sql.close();
  }
});

test('a redriven dead event is tried afresh; a plain redelivery of it is not', async (t) => {
  const f = await fixture();
  let healthy = false;
  const r = await f.run(() => {
    if (!healthy) throw new PermanentFailure('template missing');
    return { outcome: 'sent' };
  });
  try {
    const e = event();
    await f.publish(e);
    await waitUntil('dead', async () => (await workOf(f.sql, 'demo', e.id))?.state === 'dead');
    healthy = true;
    await f.publish(e);
    const plain = toLogMessage(e);
    await f.log.produce(topicOf('demo', f.namespace), [
      {
        ...plain,
        headers: { ...plain.headers, [REDRIVE_FOR]: 'worker.demo', [REDRIVEN_FROM]: 'demo.dlq@7' },
      },
    ]);
    await waitUntil(
      'done after the redrive',
      async () => (await workOf(f.sql, 'demo', e.id))?.state === 'done',
    );
    t.is(f.calls.get(e.id), 2, 'once dead, once redriven; the plain redelivery did nothing');
    t.deepEqual(f.letters, [null, 'demo.dlq@7'], 'the reaction is told which letter came back');
    t.like(await workOf(f.sql, 'demo', e.id), { attempts: 1, outcome: 'sent' });
  } finally {
    await r.stop();
    await f.sql.close();
  }
});
