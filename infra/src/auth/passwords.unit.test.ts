import test from 'ava';
import {
  dummyPasswordHash,
  hashPassword,
  passwordNeedsRehash,
  PASSWORD_HASH_COST,
  verifyPassword,
  verifyPasswordOrDummy,
} from './passwords.ts';

const cheap = { N: 2 ** 10, r: 8, p: 1 };

/** The median time of each of `fns`, sampled in turn `runs` times. */
const interleavedMedians = async (
  runs: number,
  fns: readonly (() => Promise<unknown>)[],
): Promise<number[]> => {
  const times = fns.map((): number[] => []);
  for (let i = 0; i < runs; i++)
    for (const [j, fn] of fns.entries()) {
      const started = performance.now();
      await fn();
      times[j]!.push(performance.now() - started);
    }
  return times.map((ts) => ts.sort((a, b) => a - b)[Math.floor(runs / 2)]!);
};

/** Replaces one base64url character of the part at `index` with another. */
const tamper = (stored: string, index: number): string => {
  const parts = stored.split('$');
  const part = parts[index]!;
  const c = part[5] === 'A' ? 'B' : 'A';
  parts[index] = `${part.slice(0, 5)}${c}${part.slice(6)}`;
  return parts.join('$');
};

test('the right password verifies, a wrong one does not', async (t) => {
  const stored = await hashPassword('correct horse battery staple');
  t.true(await verifyPassword('correct horse battery staple', stored));
  t.false(await verifyPassword('correct horse battery stapler', stored));
  t.false(await verifyPassword('', stored));
  t.false(await verifyPassword('Correct horse battery staple', stored));
});

test('the stored form names scheme and cost, with a 16-byte salt and a 32-byte hash', async (t) => {
  const stored = await hashPassword('pw');
  t.regex(stored, /^scrypt\$N=32768,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  t.deepEqual(PASSWORD_HASH_COST, { N: 32768, r: 8, p: 1 });
  t.true(
    128 * PASSWORD_HASH_COST.N * PASSWORD_HASH_COST.r >= 32 * 1024 * 1024,
    'memory-hard: 32 MiB per hash',
  );
});

test('every hash has its own salt', async (t) => {
  const [a, b] = await Promise.all([hashPassword('same', cheap), hashPassword('same', cheap)]);
  t.not(a, b);
  t.not(a.split('$')[2], b.split('$')[2]);
  t.true(await verifyPassword('same', a));
  t.true(await verifyPassword('same', b));
});

test('a tampered hash, salt or cost never verifies', async (t) => {
  const stored = await hashPassword('pw', cheap);
  t.true(await verifyPassword('pw', stored));
  t.false(await verifyPassword('pw', tamper(stored, 3)), 'hash changed');
  t.false(await verifyPassword('pw', tamper(stored, 2)), 'salt changed');
  t.false(await verifyPassword('pw', stored.replace('N=1024', 'N=2048')), 'cost changed');
  t.false(await verifyPassword('pw', stored.replace('r=8', 'r=9')), 'block size changed');
  t.false(await verifyPassword('pw', stored.slice(0, -1)), 'hash truncated');
  t.false(await verifyPassword('pw', `${stored}A`), 'hash extended');
  t.false(await verifyPassword('pw', stored.replace(/^scrypt/, 'argon2id')), 'another scheme');
  t.false(await verifyPassword('pw', stored.replace(/\$([^$]+)$/, '$$$1!')), 'not base64url');
  t.false(await verifyPassword('pw', ''), 'empty');
  t.false(await verifyPassword('pw', `${stored}$extra`), 'an extra part');
});

test('costs beyond the bounds are refused, not computed', async (t) => {
  const stored = await hashPassword('pw', cheap);
  for (const cost of [
    'N=1073741824,r=8,p=1',
    'N=1048576,r=32,p=1',
    'N=1000,r=8,p=1',
    'N=1024,r=0,p=1',
    'N=1024,r=8,p=99',
  ]) {
    const started = performance.now();
    t.false(await verifyPassword('pw', stored.replace('N=1024,r=8,p=1', cost)), cost);
    t.true(performance.now() - started < 50, `${cost} answered without hashing`);
  }
});

test.serial('the cost written in the hash is the one used to verify it', async (t) => {
  const low = await hashPassword('pw', cheap);
  t.true(low.startsWith('scrypt$N=1024,r=8,p=1$'));
  t.true(await verifyPassword('pw', low), 'a hash made at an older cost still verifies');
  const high = await hashPassword('pw');
  // 32 times the work: verification time follows the stored N, not today's constant.
  const [lowMs, highMs] = (await interleavedMedians(5, [
    () => verifyPassword('pw', low),
    () => verifyPassword('pw', high),
  ])) as [number, number];
  t.true(highMs > 4 * lowMs, `N=2^15 took ${highMs.toFixed(1)} ms, N=2^10 ${lowMs.toFixed(1)} ms`);
});

test('passwordNeedsRehash is true for any other cost and for unreadable hashes', async (t) => {
  t.false(passwordNeedsRehash(await hashPassword('pw')));
  t.true(passwordNeedsRehash(await hashPassword('pw', cheap)));
  t.false(passwordNeedsRehash(await hashPassword('pw', cheap), cheap));
  t.true(passwordNeedsRehash('not a hash'));
});

test('passwords are compared after NFKC normalization', async (t) => {
  const composed = 'caf\u00e9';
  const decomposed = 'cafe\u0301';
  t.not(composed, decomposed);
  const stored = await hashPassword(composed, cheap);
  t.true(await verifyPassword(decomposed, stored));
  t.true(await verifyPassword('\uff11\uff12\uff13', await hashPassword('123', cheap)), 'full-width digits');
});

test("the dummy hash is made once, at today's cost, and never matches a guess", async (t) => {
  const a = await dummyPasswordHash();
  t.is(await dummyPasswordHash(), a);
  t.false(passwordNeedsRehash(a));
  t.false(await verifyPasswordOrDummy('', null));
  t.false(await verifyPasswordOrDummy('password', undefined));
  const stored = await hashPassword('pw', cheap);
  t.true(await verifyPasswordOrDummy('pw', stored));
  t.false(await verifyPasswordOrDummy('nope', stored));
});

// Timing tests run serially (before the others) and interleave their samples, so that
// load from elsewhere on the machine falls on every path alike.
test.serial('an unknown user, a wrong password and the right one take about the same time', async (t) => {
  const stored = await hashPassword('the right one');
  await dummyPasswordHash();
  const paths = {
    right: () => verifyPasswordOrDummy('the right one', stored),
    wrong: () => verifyPasswordOrDummy('a wrong one', stored),
    unknown: () => verifyPasswordOrDummy('a wrong one', null),
  };
  const [right, wrong, unknown] = await interleavedMedians(9, [paths.right, paths.wrong, paths.unknown]);
  const label = `right ${right!.toFixed(1)} ms, wrong ${wrong!.toFixed(1)} ms, unknown user ${unknown!.toFixed(1)} ms`;
  t.log(label);
  // Generous bounds: the machine is shared, and what matters is that no path skips the hash.
  for (const [a, b] of [
    [right!, wrong!],
    [wrong!, unknown!],
    [right!, unknown!],
  ] as const)
    t.true(a < 2 * b && b < 2 * a, label);
});
