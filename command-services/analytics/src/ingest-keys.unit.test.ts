import { createHash } from 'node:crypto';
import test from 'ava';
import { ingestKeyChecker, ingestKeyDigest } from './ingest-keys.ts';

const KEY_A = 'ik_7f1c9a0e3b5d4c2a8e6f0b1d3c5a7e9f';
const KEY_B = 'ik_second-key-for-the-billing-service';

test('the digest is SHA-256 of the key in hex, as `printf %s "$KEY" | sha256sum` prints it', (t) => {
  t.is(ingestKeyDigest(KEY_A), createHash('sha256').update(KEY_A).digest('hex'));
  t.regex(ingestKeyDigest(KEY_A), /^[0-9a-f]{64}$/);
  t.is(
    ingestKeyDigest('abc'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'the FIPS 180-2 test vector',
  );
});

test('a configured key matches, and says which by a prefix of its digest', (t) => {
  const check = ingestKeyChecker([ingestKeyDigest(KEY_A), ingestKeyDigest(KEY_B).toUpperCase()]);
  t.deepEqual(check(KEY_A), { keyId: ingestKeyDigest(KEY_A).slice(0, 16) });
  t.deepEqual(check(KEY_B), { keyId: ingestKeyDigest(KEY_B).slice(0, 16) }, 'upper-case hex configures too');
});

test('anything else does not: other keys, near misses, the digest itself, nothing', (t) => {
  const check = ingestKeyChecker([ingestKeyDigest(KEY_A)]);
  for (const wrong of [
    '',
    KEY_B,
    KEY_A.slice(0, -1),
    `${KEY_A} `,
    KEY_A.toUpperCase(),
    ingestKeyDigest(KEY_A),
    'x'.repeat(10_000),
  ])
    t.is(check(wrong), null, wrong.slice(0, 40));
  t.is(ingestKeyChecker([])(KEY_A), null, 'no keys configured: no key is valid');
});

test('a configured value that is not a digest is refused at start', (t) => {
  t.throws(() => ingestKeyChecker([KEY_A]), { instanceOf: RangeError });
  t.throws(() => ingestKeyChecker([ingestKeyDigest(KEY_A).slice(1)]), { instanceOf: RangeError });
});
