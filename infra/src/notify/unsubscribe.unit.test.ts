import { randomBytes } from 'node:crypto';
import test from 'ava';
import { messageKeys } from '../auth/message-secrets.ts';
import { parseUnsubscribeToken, unsubscribeToken } from './unsubscribe.ts';

const a = randomBytes(32);
const b = randomBytes(32);
const user = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const scope = 'course:3b9f1c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d';

test('a token names its user and scope, and only our keys make one that parses', (t) => {
  const keys = messageKeys([a]);
  const token = unsubscribeToken(keys, user, scope);
  t.regex(token, new RegExp(`^${user}\\.${scope}\\.[A-Za-z0-9_-]{43}$`));
  t.deepEqual(parseUnsubscribeToken(keys, token), { userId: user, scope });
  t.is(parseUnsubscribeToken(messageKeys([b]), token), null, 'another key');
});

test('a token made before a rotation still parses after it', (t) => {
  const before = unsubscribeToken(messageKeys([a]), user, 'all-email');
  t.deepEqual(parseUnsubscribeToken(messageKeys([b, a]), before), { userId: user, scope: 'all-email' });
});

test('another user, another scope, a changed or malformed signature: none parses', (t) => {
  const keys = messageKeys([a]);
  const [, , mac] = unsubscribeToken(keys, user, scope).split('.') as [string, string, string];
  const other = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
  const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
  for (const forged of [
    `${other}.${scope}.${mac}`,
    `${user}.all-email.${mac}`,
    `${user}.${scope}.${flipped}`,
    `${user}.${scope}.${mac.slice(1)}`,
    `${user}.${scope}.${mac}.`,
    `${user}.${scope}`,
    `${user}.a b.${mac}`,
    '',
  ])
    t.is(parseUnsubscribeToken(keys, forged), null, forged);
});

test('a user or scope that could not be told apart in a token is refused when making one', (t) => {
  t.throws(() => unsubscribeToken(messageKeys([a]), user, 'a.b'));
  t.throws(() => unsubscribeToken(messageKeys([a]), '', 'all-email'));
});
