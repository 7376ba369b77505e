import { createHash } from 'node:crypto';
import test from 'ava';
import { eventDigest } from './projection-runner.ts';

test("an event's digest: a UUID's first 64 bits, else its MD5's; signed, as a PostgreSQL bigint", (t) => {
  t.is(eventDigest('0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3d'), 0x0b9c2a438f1e4f7an);
  t.is(eventDigest('0B9C2A43-8F1E-4F7A-9D51-6C1F2E0A7B3D'), 0x0b9c2a438f1e4f7an, 'either case');
  t.is(eventDigest('ffffffff-ffff-4fff-bfff-ffffffffffff'), -0xb001n, 'the top bit makes it negative');
  const md5 = createHash('md5').update('not-a-uuid').digest('hex').slice(0, 16);
  t.is(eventDigest('not-a-uuid'), BigInt.asIntN(64, BigInt(`0x${md5}`)));
  t.not(eventDigest('a'), eventDigest('b'));
});

test('an id that is almost a UUID is digested as any other text, by its MD5', (t) => {
  const md5 = (s: string) =>
    BigInt.asIntN(64, BigInt(`0x${createHash('md5').update(s).digest('hex').slice(0, 16)}`));
  for (const almost of [
    '0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3', // one digit short
    '0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3dd', // one digit over
    '0b9c2a438-f1e-4f7a-9d51-6c1f2e0a7b3d', // a dash out of place
    '0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3g', // not a hex digit, past the first 64 bits
    '0b9c2a43-8f1e-4f7a-9d51_6c1f2e0a7b3d', // no dash where one belongs
    '0b9c2a4:-8f1e-4f7a-9d51-6c1f2e0a7b3d', // the character after '9'
    '0b9c2a4@-8f1e-4f7a-9d51-6c1f2e0a7b3d', // the character before 'A'
  ])
    t.is(eventDigest(almost), md5(almost), almost);
});
