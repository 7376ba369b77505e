import test from 'ava';
import { CODE_HASH_COST, codeHash, randomDigits, randomToken, tokenHash, verifyCode } from './secrets.ts';

test('randomToken: base64url of the given number of random bytes', (t) => {
  const token = randomToken();
  t.regex(token, /^[A-Za-z0-9_-]{43}$/);
  t.is(Buffer.from(token, 'base64url').length, 32);
  t.is(Buffer.from(randomToken(16), 'base64url').length, 16);
  t.is(Buffer.from(randomToken(48), 'base64url').length, 48);
  const many = new Set(Array.from({ length: 1000 }, () => randomToken()));
  t.is(many.size, 1000);
  t.throws(() => randomToken(8), { instanceOf: TypeError }, 'too short to be a secret');
});

test('tokenHash: SHA-256 in base64url, stable, different for different tokens', (t) => {
  // SHA-256("abc") from FIPS 180-2, re-encoded as base64url.
  t.is(
    tokenHash('abc'),
    Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex').toString(
      'base64url',
    ),
  );
  const token = randomToken();
  t.is(tokenHash(token), tokenHash(token));
  t.not(tokenHash(token), tokenHash(`${token}x`));
  t.regex(tokenHash(token), /^[A-Za-z0-9_-]{43}$/);
  t.false(tokenHash(token).includes(token), 'the hash does not contain the token');
});

test('randomDigits: n decimal digits, leading zeros kept, roughly uniform', (t) => {
  t.regex(randomDigits(6), /^\d{6}$/);
  t.regex(randomDigits(1), /^\d$/);
  t.regex(randomDigits(30), /^\d{30}$/);
  t.throws(() => randomDigits(0), { instanceOf: TypeError });
  t.throws(() => randomDigits(2.5), { instanceOf: TypeError });
  const counts = Array.from({ length: 10 }, () => 0);
  const draws = 2000;
  for (let i = 0; i < draws; i++) for (const d of randomDigits(10)) counts[Number(d)]!++;
  const expected = (draws * 10) / 10;
  const chiSquare = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
  // 9 degrees of freedom: 27.9 is the 0.1 % critical value.
  t.true(chiSquare < 27.9, `χ² = ${chiSquare.toFixed(1)} for ${counts.join(',')}`);
  const codes = new Set(Array.from({ length: 200 }, () => randomDigits(6)));
  t.true(codes.size > 190);
});

test('codeHash/verifyCode: the right code with its salt verifies, nothing else does', async (t) => {
  const salt = randomToken(16);
  const hash = await codeHash('048213', salt);
  t.regex(hash, /^N=4096,r=8,p=1\$[A-Za-z0-9_-]{43}$/);
  t.true(await verifyCode('048213', salt, hash));
  t.false(await verifyCode('048214', salt, hash), 'another code');
  t.false(await verifyCode('48213', salt, hash), 'a leading zero dropped');
  t.false(await verifyCode('048213', randomToken(16), hash), 'another salt');
  t.false(await verifyCode('048213', '', hash), 'no salt');
  const parts = hash.split('$');
  const flipped = `${parts[0]}$${parts[1]![0] === 'A' ? 'B' : 'A'}${parts[1]!.slice(1)}`;
  t.false(await verifyCode('048213', salt, flipped), 'a tampered hash');
  t.false(await verifyCode('048213', salt, hash.replace('N=4096', 'N=8192')), 'a tampered cost');
  t.false(await verifyCode('048213', salt, parts[1]!), 'no cost');
  t.false(await verifyCode('048213', salt, `${hash}$x`), 'an extra part');
  t.false(await verifyCode('048213', salt, ''), 'empty');
});

test('codeHash: salted (same code, different salts, different hashes) and costed as declared', async (t) => {
  const a = await codeHash('123456', randomToken(16));
  const b = await codeHash('123456', randomToken(16));
  t.not(a, b);
  t.deepEqual(CODE_HASH_COST, { N: 4096, r: 8, p: 1 });
  const salt = randomToken(16);
  const cheap = await codeHash('123456', salt, { N: 1024, r: 8, p: 1 });
  t.true(cheap.startsWith('N=1024,r=8,p=1$'));
  t.true(await verifyCode('123456', salt, cheap), 'the cost travels with the hash');
  await t.throwsAsync(() => codeHash('123456', ''), { instanceOf: TypeError });
});

test('a million SHA-256 guesses are cheap; the same number of code hashes is not', async (t) => {
  // The reason codes are not hashed with SHA-256: the whole 6-digit space is searched in well under a second.
  const target = tokenHash('731946');
  let started = performance.now();
  let found = '';
  for (let i = 0; i < 1_000_000 && !found; i++) {
    const guess = String(i).padStart(6, '0');
    if (tokenHash(guess) === target) found = guess;
  }
  const shaMs = performance.now() - started;
  t.is(found, '731946');
  const salt = randomToken(16);
  started = performance.now();
  for (let i = 0; i < 20; i++) await codeHash(String(i).padStart(6, '0'), salt);
  const perCodeHash = (performance.now() - started) / 20;
  const millionCodeHashesMs = perCodeHash * 1_000_000;
  t.log(
    `SHA-256 search: ${shaMs.toFixed(0)} ms; scrypt: ${perCodeHash.toFixed(2)} ms a guess, ${(millionCodeHashesMs / 60_000).toFixed(0)} min for all`,
  );
  // The bar is the work, which a stopwatch on a shared machine cannot show: each guess costs a
  // memory-hard derivation of at least 4 MiB (128·N·r bytes), where a SHA-256 guess costs none.
  const [, n, r] = /^N=(\d+),r=(\d+),p=\d+\$/.exec(await codeHash('000000', salt)) ?? [];
  t.true(128 * Number(n) * Number(r) >= 4 * 1024 * 1024, `N=${n}, r=${r}`);
});
