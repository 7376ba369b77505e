import { randomBytes } from 'node:crypto';
import test from 'ava';
import { derivedDigits, linkToken, messageKeys, parseMessageKeys } from './message-secrets.ts';

const a = randomBytes(32);
const b = randomBytes(32);

test('a secret depends on the key, the purpose and every fact, and on nothing else', (t) => {
  const keys = messageKeys([a]);
  const facts = ['u-1', 'ada@example.org', '2026-12-02T10:00:00.000Z'];
  const one = keys.derive('verify-email', facts);
  t.is(one.length, 32);
  t.deepEqual(keys.derive('verify-email', facts), one, 'the same request derives the same secret');
  t.notDeepEqual(keys.derive('confirm-email-change', facts), one, 'another purpose');
  t.notDeepEqual(keys.derive('verify-email', [...facts.slice(0, 2), '2026-12-02T10:00:00.001Z']), one);
  t.notDeepEqual(messageKeys([b]).derive('verify-email', facts), one, 'another key');
  // Facts are length-prefixed: moving a boundary changes the input.
  t.notDeepEqual(keys.derive('verify-email', ['ab', 'c']), keys.derive('verify-email', ['a', 'bc']));
});

test('candidates try every key, the current first: what was derived before a rotation is found', (t) => {
  const before = messageKeys([a]).derive('reset-password', ['u-1', 't']);
  const after = messageKeys([b, a]);
  t.notDeepEqual(after.derive('reset-password', ['u-1', 't']), before);
  t.deepEqual(after.candidates('reset-password', ['u-1', 't'])[1], before);
});

test('link tokens and codes', (t) => {
  const derived = messageKeys([a]).derive('phone-code', ['+4915112345678', 'c-1']);
  t.regex(linkToken('u-1', derived), /^u-1\.[A-Za-z0-9_-]{43}$/);
  t.regex(derivedDigits(derived), /^\d{6}$/);
  t.is(derivedDigits(Buffer.alloc(32)), '000000', 'leading zeros are kept');
});

test('keys: base64url of at least 32 bytes, comma-separated, the current first', (t) => {
  const text = `${a.toString('base64url')}, ${b.toString('base64url')}`;
  t.deepEqual(parseMessageKeys(text), [a, b]);
  t.throws(() => parseMessageKeys(randomBytes(16).toString('base64url')), {
    message: /entry 1 .* ≥ 32 bytes/,
  });
  t.throws(() => parseMessageKeys('not base64url!'), { message: /entry 1/ });
  t.throws(() => parseMessageKeys(' , '), { message: /no key/ });
});
