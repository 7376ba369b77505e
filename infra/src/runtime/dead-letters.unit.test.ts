import test from 'ava';
import { applyIsolating, type IsolationOptions } from './dead-letters.ts';

class Refused extends Error {}
class Down extends Error {}

/** An engine that refuses some items (their content) and records what it accepted, in order. */
const engine = (refused: ReadonlySet<number>) => {
  const accepted: number[] = [];
  const calls: number[][] = [];
  let down = 0;
  return {
    accepted,
    calls,
    failNext: (n: number) => void (down = n),
    apply: async (items: readonly number[]) => {
      calls.push([...items]);
      if (down > 0) {
        down -= 1;
        throw new Down('connection refused');
      }
      const bad = items.find((i) => refused.has(i));
      if (bad !== undefined) throw new Refused(`cannot parse item ${bad}`);
      accepted.push(...items);
    },
  };
};

const run = (
  items: readonly number[],
  e: ReturnType<typeof engine>,
  extra: Partial<IsolationOptions<number>> = {},
) => {
  const dead: { item: number; error: string; attempts: number }[] = [];
  const sleeps: number[] = [];
  const result = applyIsolating(items, {
    apply: e.apply,
    isPoison: (error) => error instanceof Refused,
    isFinal: (error) => error instanceof Refused,
    deadLetter: async (item, error, attempts) =>
      void dead.push({ item, error: (error as Error).message, attempts }),
    sleep: async (ms) => void sleeps.push(ms),
    ...extra,
  });
  return { result, dead, sleeps };
};

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('one refused item among 1000: set aside with its error, every other applied in order, in few tries', async (t) => {
  const e = engine(new Set([613]));
  const { result, dead, sleeps } = run(range(1000), e);
  t.deepEqual(await result, [613]);
  t.deepEqual(dead, [{ item: 613, error: 'cannot parse item 613', attempts: 1 }]);
  t.deepEqual(
    e.accepted,
    range(1000).filter((i) => i !== 613),
  );
  t.true(e.calls.length <= 2 * Math.ceil(Math.log2(1000)) + 1, `${e.calls.length} tries`);
  t.deepEqual(sleeps, [], 'a refusal is final: no backoff before isolating');
});

test('several refused items are each found; a batch of one is its own isolation', async (t) => {
  const e = engine(new Set([0, 5, 6, 9]));
  const { result } = run(range(10), e);
  t.deepEqual(await result, [0, 5, 6, 9]);
  t.deepEqual(e.accepted, [1, 2, 3, 4, 7, 8]);
  const single = engine(new Set([7]));
  t.deepEqual(await run([7], single).result, [7]);
});

test('an engine that fails for a while is retried with growing pauses, and nothing is set aside', async (t) => {
  const e = engine(new Set());
  e.failNext(2);
  const { result, dead, sleeps } = run(range(4), e, { attempts: 5, baseDelayMs: 100 });
  t.deepEqual(await result, []);
  t.deepEqual(sleeps, [100, 200]);
  t.deepEqual(dead, []);
  t.deepEqual(e.accepted, range(4));
});

test('an engine that stays down: the call throws and sets nothing aside, so the log delivers it all again', async (t) => {
  const e = engine(new Set([2]));
  e.failNext(1_000);
  const { result, dead } = run(range(4), e, { attempts: 3 });
  await t.throwsAsync(result, { instanceOf: Down });
  t.deepEqual(dead, []);
});

test('a refused item found while the engine fails for others is not set aside either', async (t) => {
  const e = engine(new Set([0]));
  // The whole batch and its first half are refused (item 0); then the engine goes away.
  const apply = async (items: readonly number[]) => {
    if (e.calls.length >= 3) {
      e.calls.push([...items]);
      throw new Down('gone');
    }
    return e.apply(items);
  };
  const { result, dead } = run(range(4), e, { apply });
  await t.throwsAsync(result, { instanceOf: Down });
  t.deepEqual(dead, []);
});

test('the engine back in the middle of a split: nothing after an item that failed for the engine is applied', async (t) => {
  // The whole batch fails twice and its first item alone fails too (the engine is
  // away); by the time the second item is tried, the engine is back. Applying it
  // then would put it before the first, which a stream's checkpoint then drops as
  // seen: found under load, where a database came back during an isolation.
  const e = engine(new Set());
  e.failNext(3);
  const { result, dead } = run([0, 1], e, { attempts: 2 });
  await t.throwsAsync(result, { instanceOf: Down });
  t.deepEqual(e.calls, [[0, 1], [0, 1], [0]], 'item 1 was never tried');
  t.deepEqual(e.accepted, []);
  t.deepEqual(dead, []);
});

test('the engine gone after a refused item and a later one were applied: the refused one is set aside before the throw', async (t) => {
  // 0 is refused, 1 (of the same stream, say) is applied, then the engine goes
  // away on 2. On redelivery the stream's checkpoint, moved by 1, would drop 0
  // as seen: it is set aside now, or it is lost. 3 is refused too but nothing
  // after it was applied: the redelivery finds it again, and it is set aside once.
  const e = engine(new Set([0, 3]));
  const apply = async (items: readonly number[]) => {
    if (items.length === 1 && items[0] === 4) {
      e.calls.push([...items]);
      throw new Down('gone');
    }
    return e.apply(items);
  };
  const { result, dead } = run(range(6), e, { apply });
  await t.throwsAsync(result, { instanceOf: Down });
  t.deepEqual(e.accepted, [1, 2]);
  t.deepEqual(dead, [{ item: 0, error: 'cannot parse item 0', attempts: 1 }]);
  t.false(
    e.calls.some((c) => c.includes(5) && !c.includes(4)),
    'nothing after the item the engine failed on was tried alone',
  );
});
