import test from 'ava';
import { inPool, pacer } from './pace.ts';

test('a pace lets a second’s worth through at once, then one per 1/rate', async (t) => {
  let now = 0;
  const slept: number[] = [];
  const pace = pacer(
    4,
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
  for (let i = 0; i < 4; i++) await pace.take();
  t.deepEqual(slept, [], 'the burst');
  await pace.take();
  await pace.take();
  t.deepEqual(slept, [250, 250]);
  now += 10_000;
  for (let i = 0; i < 4; i++) await pace.take();
  t.is(slept.length, 2, 'a full bucket after a quiet while, never more than a second’s worth');
  t.throws(() => pacer(0), { instanceOf: RangeError });
});

test('a pool runs every item, at most `limit` at once, and collects the errors', async (t) => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  const errors = await inPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setImmediate(r));
    running--;
    if (n % 3 === 0) throw new Error(`no ${n}`);
    done.push(n);
  });
  t.is(most, 3);
  t.deepEqual(done.sort(), [1, 2, 4, 5, 7]);
  t.deepEqual(errors.map((e) => (e as Error).message).sort(), ['no 3', 'no 6']);
});
