import test from 'ava';
import { spendFrame, tally, type FrameBudget } from './limits.ts';

const limits = { framesPerSecond: 20, framesBurst: 40 };

test('a frame budget allows a burst, refills at the sustained rate, and calls a client past twice the burst a flood', (t) => {
  const budget: FrameBudget = { tokens: 40, refilledAt: 0 };
  for (let i = 0; i < 40; i++) t.is(spendFrame(budget, 0, limits).outcome, 'ok');
  // Empty: one frame more is a second away at 20 per second… rounded up.
  t.deepEqual(spendFrame(budget, 0, limits), { outcome: 'slow down', retryAfterSeconds: 1 });
  // 100 ms later, two frames' worth came back.
  t.is(spendFrame(budget, 100, limits).outcome, 'ok');
  // A client that ignores the answers: 40 more at once is past twice the burst.
  let last = '';
  for (let i = 0; i < 41; i++) last = spendFrame(budget, 100, limits).outcome;
  t.is(last, 'flood');
  // It never refills past the burst, however long it waited.
  const idle: FrameBudget = { tokens: 40, refilledAt: 0 };
  spendFrame(idle, 3_600_000, limits);
  t.is(idle.tokens, 39);
});

test('a tally counts by key and forgets a key back at zero', (t) => {
  const open = tally();
  open.add('ann');
  open.add('ann');
  open.add('bob');
  t.is(open.count('ann'), 2);
  open.remove('ann');
  open.remove('ann');
  open.remove('ann');
  t.is(open.count('ann'), 0);
  t.is(open.count('bob'), 1);
});
