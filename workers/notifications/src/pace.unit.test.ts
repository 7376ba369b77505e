import test from 'ava';
import { pacer } from './pace.ts';

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
