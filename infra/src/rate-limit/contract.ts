import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import type { RateLimit, RateLimiter } from '../ports/rate-limiter.ts';

/**
 * The RateLimiter contract: every adapter runs it. Time is passed in, never
 * waited for. Tests share one limiter (as a process's handlers do) and keep
 * apart by unique keys.
 */
export const rateLimiterContract = (
  test: TestFn,
  label: string,
  limiter: () => Promise<RateLimiter>,
): void => {
  const key = (what: string) => `${what}:${randomBytes(6).toString('hex')}`;
  // An hour ahead of real time (a fast clock is legitimate), so that a sweep by
  // the database's clock, run by another test meanwhile, sees these rows as live.
  const t0 = Date.now() + 3_600_000;
  const at = (ms: number) => new Date(t0 + ms);
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);

  test(`${label}: exactly the limit is allowed, and the next hit is denied`, async (t) => {
    const l = await limiter();
    const k = key('exact');
    const lim: RateLimit = { limit: 5, windowMs: 60_000 };
    const decisions = [];
    for (const i of range(6)) decisions.push(await l.hit(k, lim, at(i)));
    t.deepEqual(
      decisions.map((d) => [d.allowed, d.remaining]),
      [
        [true, 4],
        [true, 3],
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
      ],
    );
    t.is(decisions[4]!.retryAfterSeconds, 0, 'an allowed hit has nothing to wait for');
    t.true(decisions[5]!.retryAfterSeconds >= 1);
  });

  test(`${label}: a limit of one allows one hit per window`, async (t) => {
    const l = await limiter();
    const k = key('one');
    const lim: RateLimit = { limit: 1, windowMs: 30_000 };
    t.true((await l.hit(k, lim, at(0))).allowed);
    t.deepEqual(await l.hit(k, lim, at(1)), { allowed: false, remaining: 0, retryAfterSeconds: 30 });
    t.false((await l.hit(k, lim, at(29_999))).allowed);
    t.deepEqual(await l.hit(k, lim, at(30_000)), { allowed: true, remaining: 0, retryAfterSeconds: 0 });
  });

  test(`${label}: hits leave the window windowMs after they were made`, async (t) => {
    const l = await limiter();
    const k = key('expiry');
    const lim: RateLimit = { limit: 3, windowMs: 10_000 };
    for (const i of range(3)) t.true((await l.hit(k, lim, at(0))).allowed, `hit ${i}`);
    t.false((await l.hit(k, lim, at(9_999))).allowed, 'still inside the window 1 ms before its end');
    const after = [];
    for (const _ of range(4)) after.push((await l.hit(k, lim, at(10_000))).allowed);
    t.deepEqual(after, [true, true, true, false], 'a whole new window once the old hits left');
  });

  test(`${label}: the window slides: it is not reset at fixed boundaries`, async (t) => {
    const l = await limiter();
    const k = key('sliding');
    const lim: RateLimit = { limit: 2, windowMs: 10_000 };
    t.true((await l.hit(k, lim, at(0))).allowed);
    t.true((await l.hit(k, lim, at(5_000))).allowed);
    // At 10 s the first hit has left but the second has not: one slot, not two.
    t.true((await l.hit(k, lim, at(10_000))).allowed);
    const denied = await l.hit(k, lim, at(10_001));
    t.false(denied.allowed);
    t.is(denied.retryAfterSeconds, 5, 'the hit at 5 s leaves at 15 s');
  });

  test(`${label}: retryAfterSeconds is when the next hit would be allowed`, async (t) => {
    const l = await limiter();
    const k = key('retry');
    const lim: RateLimit = { limit: 2, windowMs: 60_000 };
    await l.hit(k, lim, at(0));
    await l.hit(k, lim, at(20_000));
    const denied = await l.hit(k, lim, at(30_000));
    t.false(denied.allowed);
    t.is(denied.retryAfterSeconds, 30, 'the hit at 0 s leaves at 60 s');
    t.false(
      (await l.hit(k, lim, at(30_000 + (denied.retryAfterSeconds - 1) * 1000))).allowed,
      'not a second early',
    );
    t.true((await l.hit(k, lim, at(30_000 + denied.retryAfterSeconds * 1000))).allowed, 'allowed on time');

    // Fractions of a second round up, and never to zero.
    const k2 = key('retry-round');
    await l.hit(k2, { limit: 1, windowMs: 1_000 }, at(0));
    t.is((await l.hit(k2, { limit: 1, windowMs: 1_000 }, at(999))).retryAfterSeconds, 1);
    await l.hit(k2, { limit: 1, windowMs: 1_000 }, at(1_000));
    t.is((await l.hit(k2, { limit: 1, windowMs: 1_000 }, at(1_499))).retryAfterSeconds, 1);
    const k3 = key('retry-round');
    await l.hit(k3, { limit: 1, windowMs: 2_500 }, at(0));
    t.is(
      (await l.hit(k3, { limit: 1, windowMs: 2_500 }, at(1))).retryAfterSeconds,
      3,
      '2.499 s rounds up to 3',
    );
  });

  test(`${label}: denied hits are not counted`, async (t) => {
    const l = await limiter();
    const k = key('denied');
    const lim: RateLimit = { limit: 2, windowMs: 10_000 };
    await l.hit(k, lim, at(0));
    await l.hit(k, lim, at(1_000));
    for (const i of range(10)) t.false((await l.hit(k, lim, at(2_000 + i * 100))).allowed);
    // Had the denials counted, the window would still be full at 10 s.
    const d = await l.hit(k, lim, at(10_000));
    t.deepEqual(d, { allowed: true, remaining: 0, retryAfterSeconds: 0 });
  });

  test(`${label}: keys are independent`, async (t) => {
    const l = await limiter();
    const a = key('a');
    const b = key('b');
    const lim: RateLimit = { limit: 2, windowMs: 60_000 };
    await l.hit(a, lim, at(0));
    await l.hit(a, lim, at(0));
    t.false((await l.hit(a, lim, at(1))).allowed);
    t.deepEqual(await l.hit(b, lim, at(1)), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
    t.false((await l.hit(a, lim, at(2))).allowed, 'b did not free a');
  });

  test(`${label}: reset forgets a key and only that key`, async (t) => {
    const l = await limiter();
    const k = key('reset');
    const other = key('reset-other');
    const lim: RateLimit = { limit: 1, windowMs: 60_000 };
    await l.hit(k, lim, at(0));
    await l.hit(other, lim, at(0));
    t.false((await l.hit(k, lim, at(1))).allowed);
    await l.reset(k);
    t.true((await l.hit(k, lim, at(2))).allowed);
    t.false((await l.hit(other, lim, at(2))).allowed);
    await l.reset(key('never-seen')); // resetting an unknown key is not an error
  });

  test(`${label}: peek answers what a hit would, and counts nothing`, async (t) => {
    const l = await limiter();
    const k = key('peek');
    const lim: RateLimit = { limit: 2, windowMs: 10_000 };
    t.deepEqual(await l.peek(k, lim, at(0)), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
    t.deepEqual(await l.peek(k, lim, at(0)), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
    t.deepEqual(await l.hit(k, lim, at(0)), { allowed: true, remaining: 1, retryAfterSeconds: 0 });
    t.deepEqual(await l.peek(k, lim, at(1_000)), { allowed: true, remaining: 0, retryAfterSeconds: 0 });
    await l.hit(k, lim, at(1_000));
    const peeked = await l.peek(k, lim, at(2_000));
    t.deepEqual(peeked, { allowed: false, remaining: 0, retryAfterSeconds: 8 });
    t.deepEqual(await l.hit(k, lim, at(2_000)), peeked);
    t.deepEqual(await l.peek(k, lim, at(10_000)), { allowed: true, remaining: 0, retryAfterSeconds: 0 });
  });

  test(`${label}: a lowered limit counts the hits already made`, async (t) => {
    const l = await limiter();
    const k = key('lowered');
    for (const i of range(4)) await l.hit(k, { limit: 10, windowMs: 10_000 }, at(i * 1_000));
    const d = await l.hit(k, { limit: 2, windowMs: 10_000 }, at(4_000));
    t.false(d.allowed);
    // Two of the four must leave before a third fits under a limit of two: the one at 2 s leaves at 12 s.
    t.is(d.retryAfterSeconds, 8);
  });

  test(`${label}: concurrent hits on one key: exactly the limit gets through`, async (t) => {
    const l = await limiter();
    const k = key('concurrent');
    const lim: RateLimit = { limit: 10, windowMs: 60_000 };
    const decisions = await Promise.all(range(60).map(() => l.hit(k, lim, at(0))));
    t.is(decisions.filter((d) => d.allowed).length, 10);
    t.deepEqual(
      decisions
        .filter((d) => d.allowed)
        .map((d) => d.remaining)
        .sort((a, b) => a - b),
      range(10),
      'each allowed hit saw a distinct count',
    );
  });

  test(`${label}: nonsense limits are programming errors`, async (t) => {
    const l = await limiter();
    const k = key('bad');
    await t.throwsAsync(() => l.hit(k, { limit: 0, windowMs: 1000 }, at(0)), { instanceOf: TypeError });
    await t.throwsAsync(() => l.hit(k, { limit: 1.5, windowMs: 1000 }, at(0)), { instanceOf: TypeError });
    await t.throwsAsync(() => l.hit(k, { limit: 1, windowMs: 0 }, at(0)), { instanceOf: TypeError });
    await t.throwsAsync(() => l.peek('', { limit: 1, windowMs: 1000 }, at(0)), { instanceOf: TypeError });
  });
};
