import test from 'ava';
import {
  dummyPasswordHash,
  hashPassword,
  passwordNeedsRehash,
  PASSWORD_HASH_COST,
  verifyPassword,
  verifyPasswordOrDummy,
} from './passwords.ts';
import { scrypt } from './scrypt.ts';

const cheap = { N: 2 ** 10, r: 8, p: 1 };

/**
 * The real scrypt, recording the cost and key length of each derivation: the
 * work a path does is what makes its time, and unlike a stopwatch it does not
 * change with the load on the machine.
 */
const recording = () => {
  const work: { N: number; r: number; p: number; keyLength: number }[] = [];
  const kdf: typeof scrypt = (secret, salt, keyLength, cost) => {
    work.push({ ...cost, keyLength });
    return scrypt(secret, salt, keyLength, cost);
  };
  return { work, kdf };
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
    const { work, kdf } = recording();
    t.false(await verifyPassword('pw', stored.replace('N=1024,r=8,p=1', cost), kdf), cost);
    t.deepEqual(work, [], `${cost} answered without hashing`);
  }
});

test('the cost written in the hash is the one used to verify it', async (t) => {
  const low = await hashPassword('pw', cheap);
  t.true(low.startsWith('scrypt$N=1024,r=8,p=1$'));
  const high = await hashPassword('pw');
  const { work, kdf } = recording();
  t.true(await verifyPassword('pw', low, kdf), 'a hash made at an older cost still verifies');
  t.true(await verifyPassword('pw', high, kdf));
  t.deepEqual(work, [
    { ...cheap, keyLength: 32 },
    { ...PASSWORD_HASH_COST, keyLength: 32 },
  ]);
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

test("an unknown user, a wrong password and the right one cost the same work: one scrypt at today's cost", async (t) => {
  const stored = await hashPassword('the right one');
  const paths = {
    right: ['the right one', stored],
    wrong: ['a wrong one', stored],
    unknown: ['a wrong one', null],
  } as const;
  for (const [path, [password, hash]] of Object.entries(paths)) {
    const { work, kdf } = recording();
    t.is(await verifyPasswordOrDummy(password, hash, kdf), path === 'right', path);
    t.deepEqual(work, [{ ...PASSWORD_HASH_COST, keyLength: 32 }], path);
  }
});
