import { randomBytes } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import {
  GroupNotEmptyError,
  type Batch,
  type Consumer,
  type ConsumerOptions,
  type LogMessage,
  type MessageLog,
  type OutgoingMessage,
} from '../ports/message-log.ts';
import { partitionFor } from './sql-log.ts';
import { waitUntil as waitFor } from '../testing/wait.ts';

/** What a contract run needs from an adapter: a log, and a way to tidy up after one test. */
export type LogUnderTest = Readonly<{ log: MessageLog; cleanup(): Promise<void> }>;

type Ctx = Readonly<{
  log: MessageLog;
  /** A new topic with a unique name (tests run concurrently on shared engines). */
  topic(partitions: number): Promise<string>;
  /** A unique consumer group id. */
  group(): string;
  /** `log.consume`, stopped when the test ends however it ends. */
  consume(opts: ConsumerOptions): Consumer;
}>;

const WAIT_MS = 180_000;
/** After the expected messages arrived, how long to keep watching for extras. */
const SETTLE_MS = 500;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const unique = () => randomBytes(5).toString('hex');

const waitUntil = (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS) =>
  waitFor(what, predicate, timeoutMs);

/** Resolves when the signal aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

type Delivery = Readonly<{ batch: Batch; at: number; ok: boolean }>;

/** A `handleBatch` that records every delivery; `fail` picks the deliveries that reject. */
const recorder = (fail: (batch: Batch) => boolean = () => false, delayMs = 0) => {
  const deliveries: Delivery[] = [];
  return {
    deliveries,
    handleBatch: async (batch: Batch) => {
      const reject = fail(batch);
      deliveries.push({ batch, at: Date.now(), ok: !reject });
      if (delayMs > 0) await sleep(delayMs);
      if (reject) throw new Error('handler failure staged by the contract test');
    },
    /** Messages of the deliveries that resolved, in delivery order. */
    handled: (): LogMessage[] => deliveries.filter((d) => d.ok).flatMap((d) => d.batch.messages),
  };
};

/** A 4-partition topic and two members of one group on it, both joined. */
const twoMembers = async (ctx: Ctx) => {
  const tp = await ctx.topic(4);
  const g = ctx.group();
  const ra = recorder();
  const rb = recorder();
  const a = ctx.consume({ groupId: g, topics: [tp], handleBatch: ra.handleBatch });
  await a.ready;
  const b = ctx.consume({ groupId: g, topics: [tp], handleBatch: rb.handleBatch });
  await b.ready;
  return { tp, g, ra, rb, a, b };
};

const valuesOf = (ms: readonly { value: string }[]) => ms.map((m) => m.value);
const sorted = (xs: readonly string[]) => [...xs].sort();
const partitionsOf = (ms: readonly LogMessage[]) =>
  [...new Set(ms.map((m) => m.partition))].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const messages = (prefix: string, count: number, keys: number): OutgoingMessage[] =>
  range(count).map((i) => ({ key: `${prefix}-key-${i % keys}`, value: `${prefix}-${i}` }));

/**
 * The behaviour every MessageLog adapter must show, registered as ava tests
 * titled `<name>: …`. `make` is called once per test; every test uses its own
 * topics and groups, so tests run concurrently and on shared engines.
 *
 * @example
 *   messageLogContract(test, 'sql-log on PGlite', async () => ({ log, cleanup: async () => {} }));
 */
export const messageLogContract = (test: TestFn, name: string, make: () => Promise<LogUnderTest>): void => {
  const it = (title: string, body: (ctx: Ctx, t: ExecutionContext) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const { log, cleanup } = await make();
      const consumers: Consumer[] = [];
      const ctx: Ctx = {
        log,
        async topic(partitions) {
          const topic = `contract.${unique()}`;
          await log.ensureTopics([{ topic, partitions }]);
          return topic;
        },
        group: () => `contract-${unique()}`,
        consume(opts) {
          const c = log.consume(opts);
          consumers.push(c);
          return c;
        },
      };
      try {
        await body(ctx, t);
      } finally {
        await Promise.allSettled(consumers.map((c) => c.stop()));
        await cleanup();
      }
    });

  it('keeps per-key order across many keys and partitions; keys land where murmur2 puts them', async (ctx, t) => {
    const partitions = 4;
    const tp = await ctx.topic(partitions);
    const keys = range(24).map((i) => `stream-${i}`);
    const perKey = 20;
    const rounds = 5;
    const round = (r: number): OutgoingMessage[] =>
      range(perKey / rounds)
        .map((j) => r * (perKey / rounds) + j)
        .flatMap((seq) => keys.map((key) => ({ key, value: `${key}#${seq}` })));
    const expectedPartitions = [...new Set(keys.map((k) => partitionFor(k, partitions)))].sort(
      (a, b) => a - b,
    );
    t.deepEqual(expectedPartitions, range(partitions), 'precondition: the keys cover every partition');

    // Some messages wait in the log before the consumer starts, the rest arrive while it runs.
    await ctx.log.produce(tp, round(0));
    await ctx.log.produce(tp, round(1));
    const rec = recorder();
    const c = ctx.consume({
      groupId: ctx.group(),
      topics: [tp],
      handleBatch: rec.handleBatch,
      maxBatchSize: 7,
    });
    await c.ready;
    for (let r = 2; r < rounds; r++) await ctx.log.produce(tp, round(r));
    await waitUntil('every message', () => rec.handled().length >= keys.length * perKey);
    await sleep(SETTLE_MS);

    const got = rec.handled();
    t.is(got.length, keys.length * perKey, 'each message exactly once');
    for (const key of keys) {
      const mine = got.filter((m) => m.key === key);
      t.deepEqual(
        valuesOf(mine),
        range(perKey).map((s) => `${key}#${s}`),
        `order of ${key}`,
      );
      t.deepEqual(partitionsOf(mine), [partitionFor(key, partitions)], `partition of ${key}`);
    }
    for (const p of range(partitions)) {
      const offsets = got.filter((m) => m.partition === p).map((m) => m.offset);
      t.deepEqual(
        offsets,
        offsets.map((_, i) => String(i)),
        `offsets of partition ${p} start at 0, gap-free, in order`,
      );
    }
    for (const { batch } of rec.deliveries) {
      t.true(batch.messages.length >= 1 && batch.messages.length <= 7, 'batch size within maxBatchSize');
      t.is(batch.topic, tp);
      t.true(
        batch.messages.every((m) => m.topic === tp && m.partition === batch.partition),
        'one partition per batch',
      );
      const offsets = batch.messages.map((m) => BigInt(m.offset));
      t.true(
        offsets.every((o, i) => i === 0 || o === offsets[i - 1]! + 1n),
        'batch in offset order',
      );
    }
  });

  it('one produce larger than a broker takes in one request arrives whole, in order', async (ctx, t) => {
    // 3 MiB to one key: a single Kafka record batch may hold 1 MiB by default.
    const tp = await ctx.topic(2);
    const pad = 'x'.repeat(1000);
    const big = range(3000).map((i) => ({
      key: 'one-key',
      value: `${i}:${pad}`,
      headers: { seq: String(i) },
    }));
    await ctx.log.produce(tp, big);
    const rec = recorder();
    const c = ctx.consume({ groupId: ctx.group(), topics: [tp], handleBatch: rec.handleBatch });
    await c.ready;
    await waitUntil('every message', () => rec.handled().length >= big.length);
    const got = rec.handled();
    t.is(got.length, big.length);
    t.deepEqual(
      got.map((m) => m.headers.seq),
      big.map((m) => m.headers.seq),
      'in the order produced',
    );
    t.true(got.every((m, i) => m.value === big[i]!.value));
  });

  it('commits a batch only after handleBatch resolves', async (ctx, t) => {
    const tp = await ctx.topic(1);
    const g = ctx.group();
    await ctx.log.produce(tp, messages('gate', 3, 1));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    ctx.consume({
      groupId: g,
      topics: [tp],
      handleBatch: async () => {
        entered++;
        await gate;
      },
    });
    await waitUntil('the handler to start', () => entered > 0);
    await sleep(SETTLE_MS);
    t.deepEqual(
      await ctx.log.lag(g, tp),
      [{ partition: 0, committed: null, end: '3' }],
      'nothing committed mid-batch',
    );
    release();
    await waitUntil('the commit', async () => (await ctx.log.lag(g, tp))[0]?.committed === '3');
    t.is(entered, 1);
  });

  it('redelivers a rejected batch, unchanged, after retryDelayMs; nothing is lost or committed early', async (ctx, t) => {
    const tp = await ctx.topic(1);
    const g = ctx.group();
    await ctx.log.produce(tp, messages('retry', 20, 1));
    let failed = false;
    const rec = recorder((b) => {
      if (failed || b.messages[0]?.offset !== '5') return false;
      failed = true;
      return true;
    });
    ctx.consume({
      groupId: g,
      topics: [tp],
      handleBatch: rec.handleBatch,
      maxBatchSize: 5,
      retryDelayMs: 400,
    });
    await waitUntil('all 20 handled', () => rec.handled().length >= 20);
    await waitUntil('the final commit', async () => (await ctx.log.lag(g, tp))[0]?.committed === '20');
    await sleep(SETTLE_MS);

    const offsets = (from: number) => range(5).map((i) => String(from + i));
    t.deepEqual(
      rec.deliveries.map((d) => ({ offsets: d.batch.messages.map((m) => m.offset), ok: d.ok })),
      [
        { offsets: offsets(0), ok: true },
        { offsets: offsets(5), ok: false },
        { offsets: offsets(5), ok: true },
        { offsets: offsets(10), ok: true },
        { offsets: offsets(15), ok: true },
      ],
    );
    t.deepEqual(rec.deliveries[2]?.batch, rec.deliveries[1]?.batch, 'the same batch again');
    const waited = rec.deliveries[2]!.at - rec.deliveries[1]!.at;
    t.true(waited >= 380, `redelivered after ${waited} ms, retryDelayMs is 400`);
    t.deepEqual(
      valuesOf(rec.handled()),
      range(20).map((i) => `retry-${i}`),
    );
  });

  it('a clean stop commits what was handled; a restart of the group redelivers nothing already committed', async (ctx, t) => {
    const tp = await ctx.topic(3);
    const g = ctx.group();
    const first = messages('first', 30, 10);
    await ctx.log.produce(tp, first);
    // Slow batches, so stop() is called while the last one is still in hand.
    const rec1 = recorder(() => false, 300);
    const c1 = ctx.consume({ groupId: g, topics: [tp], handleBatch: rec1.handleBatch, maxBatchSize: 4 });
    await waitUntil('the first 30', () => rec1.handled().length >= 30);
    t.true(c1.isRunning());
    await c1.stop();
    t.false(c1.isRunning());
    const lag = await ctx.log.lag(g, tp);
    t.deepEqual(
      lag.map((l) => l.committed),
      lag.map((l) => l.end),
      'stop() returns after the batch in hand committed',
    );
    t.is(
      lag.reduce((n, l) => n + Number(l.end), 0),
      30,
    );

    const second = messages('second', 15, 10);
    await ctx.log.produce(tp, second);
    const rec2 = recorder();
    const c2 = ctx.consume({ groupId: g, topics: [tp], handleBatch: rec2.handleBatch });
    await c2.ready;
    await waitUntil('the next 15', () => rec2.handled().length >= 15);
    await sleep(SETTLE_MS);
    t.deepEqual(sorted(valuesOf(rec1.handled())), sorted(valuesOf(first)));
    t.deepEqual(sorted(valuesOf(rec2.handled())), sorted(valuesOf(second)), 'only what was not committed');
  });

  it('stop() tells the handler of a batch it holds to finish, then commits the batch', async (ctx, t) => {
    const tp = await ctx.topic(1);
    const g = ctx.group();
    await ctx.log.produce(tp, messages('held', 3, 1));
    const rec = recorder();
    let signal: AbortSignal | null = null;
    const c = ctx.consume({
      groupId: g,
      topics: [tp],
      // Holds its batch until told otherwise, as a buffer waiting for company does.
      handleBatch: async (batch, control) => {
        await rec.handleBatch(batch);
        signal = control.signal;
        await aborted(control.signal);
      },
    });
    await waitUntil('the batch in hand', () => signal !== null);
    t.false(signal!.aborted, 'nothing asks for it while the consumer runs');
    await c.stop();
    t.true(signal!.aborted);
    t.deepEqual(valuesOf(rec.handled()), valuesOf(messages('held', 3, 1)));
    t.deepEqual(await ctx.log.lag(g, tp), [{ partition: 0, committed: '3', end: '3' }]);
  });

  it('two members of one group split the partitions and see every message exactly once', async (ctx, t) => {
    const { tp, ra, rb } = await twoMembers(ctx);
    const sent = messages('split', 200, 40);
    await ctx.log.produce(tp, sent);
    await waitUntil('200 messages between them', () => ra.handled().length + rb.handled().length >= 200);
    await sleep(SETTLE_MS);

    const all = [...ra.handled(), ...rb.handled()];
    t.deepEqual(sorted(valuesOf(all)), sorted(valuesOf(sent)), 'every message, exactly once');
    const pa = partitionsOf(ra.handled());
    const pb = partitionsOf(rb.handled());
    t.true(pa.length > 0 && pb.length > 0, `both members worked: ${JSON.stringify({ pa, pb })}`);
    t.deepEqual(
      pa.filter((p) => pb.includes(p)),
      [],
      'no partition read by both',
    );
    t.deepEqual(sorted([...pa, ...pb].map(String)), sorted(range(4).map(String)));
  });

  it('a member that joins while a batch is in hand gets that partition only after the batch committed; the handler is told to finish', async (ctx, t) => {
    // Which partitions move to the newcomer depends on member ids (a coin
    // flip for the one in hand), so repeat, each time with a new group, until
    // it was among them: ten straight misses happen once in a thousand runs.
    let moved = false;
    for (let attempt = 1; attempt <= 10 && !moved; attempt++) {
      const tp = await ctx.topic(4);
      const g = ctx.group();
      const sent = messages(`inhand${attempt}`, 80, 16);
      await ctx.log.produce(tp, sent);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const ra = recorder();
      let inHand: number | null = null;
      let hurried: AbortSignal | null = null;
      const a = ctx.consume({
        groupId: g,
        topics: [tp],
        maxBatchSize: 5,
        handleBatch: async (batch, { signal }) => {
          await ra.handleBatch(batch);
          if (inHand !== null) return;
          inHand = batch.partition;
          hurried = signal;
          // Held until the log asks for it, or until the test lets go.
          await Promise.race([gate, aborted(signal)]);
        },
      });
      await waitUntil('the first batch to be in hand', () => inHand !== null);
      const rb = recorder();
      const b = ctx.consume({ groupId: g, topics: [tp], handleBatch: rb.handleBatch });
      await b.ready;
      const askedToFinish = hurried!.aborted;
      release();
      await waitUntil('all 80 between them', () => ra.handled().length + rb.handled().length >= 80);
      await sleep(SETTLE_MS);
      const all = [...ra.handled(), ...rb.handled()];
      t.deepEqual(
        sorted(valuesOf(all)),
        sorted(valuesOf(sent)),
        `attempt ${attempt}: every message exactly once`,
      );
      t.true(partitionsOf(rb.handled()).length > 0, `attempt ${attempt}: the newcomer got partitions`);
      moved = partitionsOf(rb.handled()).includes(inHand!);
      if (moved)
        t.true(askedToFinish, `attempt ${attempt}: the handler was told to finish before the handover`);
      t.log(
        `attempt ${attempt}: partition ${inHand} in hand; the newcomer read ${JSON.stringify(partitionsOf(rb.handled()))}`,
      );
      await Promise.all([a.stop(), b.stop()]);
    }
    t.true(moved, 'the partition in hand moved to the newcomer in one of the attempts');
  });

  it('a member that stops hands its partitions to the other; nothing is lost', async (ctx, t) => {
    const { tp, ra, rb, a } = await twoMembers(ctx);
    const before = messages('before', 100, 20);
    await ctx.log.produce(tp, before);
    await waitUntil('the first 100', () => ra.handled().length + rb.handled().length >= 100);
    t.true(ra.handled().length > 0, 'the member about to stop had partitions');
    await a.stop();
    const after = messages('after', 100, 20);
    await ctx.log.produce(tp, after);
    const afterValues = new Set(valuesOf(after));
    await waitUntil('the survivor to read everything produced after the stop', () => {
      const seen = new Set(valuesOf(rb.handled()));
      return [...afterValues].every((v) => seen.has(v));
    });
    await sleep(SETTLE_MS);

    const all = [...ra.handled(), ...rb.handled()];
    t.deepEqual(
      sorted(valuesOf(all)),
      sorted(valuesOf([...before, ...after])),
      'nothing lost, nothing twice',
    );
    t.deepEqual(
      valuesOf(ra.handled()).filter((v) => afterValues.has(v)),
      [],
      'the stopped member read nothing more',
    );
    t.deepEqual(
      partitionsOf(rb.handled().filter((m) => afterValues.has(m.value))),
      range(4),
      'the survivor owns every partition',
    );
  });

  it('a second group reads everything independently', async (ctx, t) => {
    const tp = await ctx.topic(2);
    const [g1, g2] = [ctx.group(), ctx.group()];
    const sent = messages('both', 40, 8);
    await ctx.log.produce(tp, sent);
    const r1 = recorder();
    const r2 = recorder();
    ctx.consume({ groupId: g1, topics: [tp], handleBatch: r1.handleBatch });
    ctx.consume({ groupId: g2, topics: [tp], handleBatch: r2.handleBatch });
    await waitUntil(
      'both groups to read all 40',
      () => r1.handled().length >= 40 && r2.handled().length >= 40,
    );
    await sleep(SETTLE_MS);
    t.deepEqual(sorted(valuesOf(r1.handled())), sorted(valuesOf(sent)));
    t.deepEqual(sorted(valuesOf(r2.handled())), sorted(valuesOf(sent)));
    for (const g of [g1, g2]) {
      await waitUntil(`${g} to commit`, async () =>
        (await ctx.log.lag(g, tp)).every((l) => l.committed === l.end),
      );
    }
    t.deepEqual(
      (await ctx.log.lag(ctx.group(), tp)).map((l) => l.committed),
      [null, null],
      'a group that never consumed has no commits',
    );
  });

  it('keys, values and headers round-trip; ping answers', async (ctx, t) => {
    const tp = await ctx.topic(3);
    const sent: OutgoingMessage[] = [
      {
        key: 'course-4f7d2c1e-5b8a-4e8e-9a53-0c0f1d2e3a4b',
        value: JSON.stringify({
          type: 'content.CoursePublished',
          data: { title: 'Grüße, 世界 🎓', notes: 'a\nb\t"c"\\' },
        }),
        headers: {
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          'content-type': 'application/json',
          'x-empty': '',
          'x-unicode': 'héllo ✓ 🎓',
        },
      },
      { key: 'ключ-🔑', value: '' },
      { key: 'large', value: 'x'.repeat(200_000), headers: { n: '1' } },
    ];
    const before = Date.now();
    await ctx.log.produce(tp, sent);
    const after = Date.now();
    const rec = recorder();
    ctx.consume({ groupId: ctx.group(), topics: [tp], handleBatch: rec.handleBatch });
    await waitUntil('3 messages', () => rec.handled().length >= 3);
    const got = rec.handled();
    t.is(got.length, 3);
    for (const s of sent) {
      const m = got.find((g) => g.key === s.key);
      t.deepEqual(m && { topic: m.topic, key: m.key, value: m.value, headers: m.headers }, {
        topic: tp,
        key: s.key,
        value: s.value,
        headers: s.headers ?? {},
      });
      t.true(
        m !== undefined && m.timestamp >= before - 5000 && m.timestamp <= after + 5000,
        `timestamp ${m?.timestamp} near ${before}`,
      );
    }
    await t.notThrowsAsync(ctx.log.ping());
  });

  it("startFrom 'latest' skips what was already there; committed offsets win on restart", async (ctx, t) => {
    const tp = await ctx.topic(2);
    const g = ctx.group();
    const fresh = messages('new', 10, 10);
    t.deepEqual(
      sorted([...new Set(fresh.map((m) => String(partitionFor(m.key, 2))))]),
      ['0', '1'],
      'precondition: the new messages reach both partitions, so both get a commit',
    );
    await ctx.log.produce(tp, messages('old', 10, 10));
    const r1 = recorder();
    const c1 = ctx.consume({ groupId: g, topics: [tp], startFrom: 'latest', handleBatch: r1.handleBatch });
    await c1.ready;
    await ctx.log.produce(tp, fresh);
    await waitUntil('the new messages', () => r1.handled().length >= 10);
    await sleep(SETTLE_MS);
    t.deepEqual(sorted(valuesOf(r1.handled())), sorted(valuesOf(fresh)));
    await c1.stop();

    // Produced while no member runs: the group's commits, not 'latest', decide.
    const later = messages('later', 6, 10);
    await ctx.log.produce(tp, later);
    const r2 = recorder();
    ctx.consume({ groupId: g, topics: [tp], startFrom: 'latest', handleBatch: r2.handleBatch });
    await waitUntil('the messages produced while stopped', () => r2.handled().length >= 6);
    await sleep(SETTLE_MS);
    t.deepEqual(sorted(valuesOf(r2.handled())), sorted(valuesOf(later)));
  });

  it('deleteGroup never deletes a group with a member; once it has none, the group and its offsets go', async (ctx, t) => {
    const tp = await ctx.topic(2);
    const g = ctx.group();
    const other = ctx.group();
    const sent = messages('del', 12, 12);
    await ctx.log.produce(tp, sent);
    const r1 = recorder();
    const c1 = ctx.consume({ groupId: g, topics: [tp], handleBatch: r1.handleBatch });
    const r2 = recorder();
    ctx.consume({ groupId: other, topics: [tp], handleBatch: r2.handleBatch });
    await waitUntil(
      'both groups read everything',
      () => r1.handled().length >= 12 && r2.handled().length >= 12,
    );
    t.deepEqual(
      (await ctx.log.listGroups(g)).map((x) => ({ groupId: x.groupId, members: x.members })),
      [{ groupId: g, members: 1 }],
      'listed by its prefix, with its running member (and not the other group)',
    );

    // 1. In use: refused, and nothing of it changes.
    const refused = await t.throwsAsync(ctx.log.deleteGroup(g));
    t.true(refused instanceof GroupNotEmptyError, `refused as not empty: ${String(refused)}`);
    t.is((refused as GroupNotEmptyError | undefined)?.code, 'group_not_empty');
    const committedWhileRunning = async () => (await ctx.log.lag(g, tp)).every((p) => p.committed === p.end);
    await waitUntil('the running member committed everything', committedWhileRunning);

    // 2. Stopped: no members; deleted with its offsets; deleting again finds none.
    await c1.stop();
    await waitUntil('the group to have no members', async () =>
      (await ctx.log.listGroups(g)).every((x) => x.members === 0),
    );
    t.true(await ctx.log.deleteGroup(g));
    t.deepEqual(await ctx.log.listGroups(g), [], 'the group is gone');
    t.deepEqual(
      (await ctx.log.lag(g, tp)).map((p) => p.committed),
      [null, null],
      'its offsets went with it',
    );
    t.false(await ctx.log.deleteGroup(g), 'deleting it again: there was none');
    t.deepEqual(
      (await ctx.log.listGroups(other)).map((x) => ({ groupId: x.groupId, members: x.members })),
      [{ groupId: other, members: 1 }],
      'the other group is untouched',
    );

    // 3. The id joined again starts afresh: everything is delivered again.
    const r3 = recorder();
    ctx.consume({ groupId: g, topics: [tp], handleBatch: r3.handleBatch });
    await waitUntil('the recreated group to read from the start', () => r3.handled().length >= 12);
    t.deepEqual(sorted(valuesOf(r3.handled())), sorted(valuesOf(sent)));
  });

  it('lag reports committed offsets against partition ends; ensureTopics keeps existing topics', async (ctx, t) => {
    const tp = await ctx.topic(3);
    const g = ctx.group();
    await ctx.log.ensureTopics([{ topic: tp, partitions: 5 }]);
    await ctx.log.produce(tp, []);
    t.deepEqual(
      await ctx.log.lag(g, tp),
      range(3).map((partition) => ({ partition, committed: null, end: '0' })),
      'three empty partitions, nothing committed',
    );
    const sent = messages('lag', 30, 30);
    const counts = range(3).map((p) => sent.filter((m) => partitionFor(m.key, 3) === p).length);
    t.true(
      counts.every((n) => n > 0),
      'precondition: every partition gets messages',
    );
    await ctx.log.produce(tp, sent);
    t.deepEqual(
      await ctx.log.lag(g, tp),
      counts.map((n, partition) => ({ partition, committed: null, end: String(n) })),
    );
    const rec = recorder();
    const c = ctx.consume({ groupId: g, topics: [tp], handleBatch: rec.handleBatch });
    await waitUntil('30 messages', () => rec.handled().length >= 30);
    await c.stop();
    t.deepEqual(
      await ctx.log.lag(g, tp),
      counts.map((n, partition) => ({ partition, committed: String(n), end: String(n) })),
    );
  });
};
