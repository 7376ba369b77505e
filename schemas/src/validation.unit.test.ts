import test from 'ava';
import {
  boolean,
  describe,
  email,
  integer,
  integerString,
  isoTime,
  json,
  number,
  object,
  partialObject,
  record,
  string,
  textIssues,
  uuid,
  type Result,
} from './validation.ts';

const ok = <T>(r: Result<T>): T => {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r.value;
};
const issues = (r: Result<unknown>) => (r.ok ? [] : r.issues);

test('email: trimmed and lower-cased', (t) => {
  t.is(ok(email()('  Ada.Lovelace+maths@Example.CO.uk ')), 'ada.lovelace+maths@example.co.uk');
  t.is(ok(email()("o'brien@mail-server.example.org")), "o'brien@mail-server.example.org");
});

test('email: refuses what a sign-up form should not take', (t) => {
  const refused = [
    'ada',
    'ada@',
    '@example.org',
    'ada@example', // no dot: not reachable from the internet
    'ada lovelace@example.org',
    'ada@@example.org',
    'ada@exam ple.org',
    'ada@-example.org',
    'ada@example-.org',
    'ada@example..org',
    '"ada"@example.org',
    'ada@[192.0.2.1]',
    'adé@example.org',
    `${'a'.repeat(65)}@example.org`,
    `ada@${'a'.repeat(63)}x.org`,
    42,
    null,
  ];
  for (const input of refused) t.false(email()(input).ok, JSON.stringify(input));
});

test('email: at most 254 characters, after trimming', (t) => {
  const label = 'a'.repeat(60);
  const at254 = `ada@${[label, label, label, 'b'.repeat(63)].join('.')}.org`;
  t.is(at254.length, 254);
  t.true(email()(`  ${at254}  `).ok);
  t.deepEqual(issues(email()(`x${at254}`, '/email')), [
    { path: '/email', message: 'must be at most 254 characters' },
  ]);
});

test('boolean: only true and false', (t) => {
  t.is(ok(boolean()(true)), true);
  t.is(ok(boolean()(false)), false);
  for (const input of ['true', 0, 1, null, undefined])
    t.deepEqual(issues(boolean()(input, '/flag')), [{ path: '/flag', message: 'must be true or false' }]);
});

test('number: finite, within bounds', (t) => {
  t.is(ok(number({ min: 0, max: 1 })(0.5)), 0.5);
  for (const input of [Number.NaN, Number.POSITIVE_INFINITY, '1', -0.1, 1.1])
    t.false(number({ min: 0, max: 1 })(input).ok, String(input));
});

test('integerString: decimal digits (or an integer) within bounds', (t) => {
  const v = integerString({ min: 1, max: 200 });
  t.is(ok(v('20')), 20);
  t.is(ok(v(' 7 ')), 7);
  t.is(ok(v(50)), 50);
  for (const input of ['0', '201', '1e2', '0x10', '5.0', '', 'abc', ['5'], undefined])
    t.false(v(input).ok, JSON.stringify(input));
  // Every safe integer is taken, to the largest (16 digits); one past it, which would be rounded, is not.
  const any = integerString({ min: 0, max: 2 ** 53 - 1 });
  t.is(ok(any('9007199254740990')), 9_007_199_254_740_990);
  t.is(ok(any('9007199254740991')), Number.MAX_SAFE_INTEGER);
  t.false(any('9007199254740993').ok);
  t.false(any('99999999999999999').ok);
});

test('uuid and isoTime: the shapes our ids and instants have', (t) => {
  t.true(uuid()('0b8f7a52-2c5e-4f7e-9a4b-0d3c2b1a0f9e').ok);
  t.false(uuid()('0B8F7A52-2C5E-4F7E-9A4B-0D3C2B1A0F9E').ok);
  t.true(isoTime()('2026-01-01T00:00:00.000Z').ok);
  t.false(isoTime()('2026-01-01 00:00:00').ok);
});

test('record: every value and key checked, with pointers', (t) => {
  const v = record(integer(), { keys: string({ pattern: /^[a-z]+$/ }), max: 3 });
  t.deepEqual(ok(v({ a: 1, b: 2 })), { a: 1, b: 2 });
  t.deepEqual(issues(v({ a: 'x', B: 2 }, '/m')), [
    { path: '/m/a', message: 'must be an integer' },
    { path: '/m/B', message: 'is not an allowed key' },
  ]);
  t.false(v({ a: 1, b: 2, c: 3, d: 4 }).ok);
  t.false(v([]).ok);
});

test('describe keeps the behaviour of what it annotates', (t) => {
  const plain = object({ name: string({ max: 3 }) });
  const described = describe(plain, { description: 'A name.', example: { name: 'Ada' } });
  for (const input of [{ name: ' Ada ' }, { name: 'Lovelace' }, {}, { name: 'Ada', x: 1 }, null])
    t.deepEqual(described(input, '/p'), plain(input, '/p'));
});

test('describe refuses an example or a default that does not validate', (t) => {
  t.throws(() => describe(integer({ max: 3 }), { example: 4 }), { message: /example 4 is not valid/ });
  t.throws(() => describe(string({ min: 2 }), { default: 'x' }), { message: /default "x" is not valid/ });
});

/* The text rule (ARCHITECTURE rule 11): one rule, every validator. */

const prototypeBodies = [
  '{"__proto__": {"displayName": "x"}}',
  '{"constructor": "x"}',
  '{"prototype": {"a": 1}}',
] as const;

test('objects refuse prototype keys with a pointer, never throw', (t) => {
  const partial = partialObject({ name: string() });
  const whole = object({ name: string() }, { optional: ['name'] });
  const map = record(string());
  for (const text of prototypeBodies) {
    // As express.json parses it: `__proto__` is an own key.
    const body = JSON.parse(text) as unknown;
    const key = Object.keys(body as object)[0]!;
    for (const v of [partial, whole, map])
      t.deepEqual(issues(v(body)), [{ path: `/${key}`, message: 'is not an allowed key' }], text);
    t.deepEqual(issues(json()({ deep: [body] })), [
      { path: `/deep/0/${key}`, message: 'is not an allowed key' },
    ]);
  }
});

test('strings and keys must be valid Unicode without U+0000', (t) => {
  t.deepEqual(issues(string()('a\u0000b', '/bio')), [{ path: '/bio', message: 'must not contain U+0000' }]);
  for (const bad of ['web\ud800', '\udc00x', 'x\ud83d'])
    t.deepEqual(issues(string({ trim: false })(bad, '/s')), [
      { path: '/s', message: 'must be valid Unicode (it has a lone surrogate)' },
    ]);
  t.is(ok(string()('emoji 😀 ok')), 'emoji 😀 ok');
  t.deepEqual(issues(email()('ada\u0000@example.org', '/email')), [
    { path: '/email', message: 'must not contain U+0000' },
  ]);
  t.deepEqual(issues(record(string())({ 'k\u0000': 'v' })), [
    { path: '/k\u0000', message: 'must not contain U+0000' },
  ]);
  t.deepEqual(
    issues(partialObject({ device: partialObject({ name: string() }) })({ device: { name: '\ud800' } })),
    [{ path: '/device/name', message: 'must be valid Unicode (it has a lone surrogate)' }],
  );
});

test('textIssues walks any JSON and escapes pointers', (t) => {
  t.deepEqual(textIssues({ a: ['ok', { 'x/y~': 'a\u0000' }], b: 1, c: null }), [
    { path: '/a/1/x~1y~0', message: 'must not contain U+0000' },
  ]);
  t.deepEqual(textIssues({ fine: { nested: ['😀', 2, true] } }), []);
  // Deep nesting is walked without recursion.
  let deep: unknown = 'a\u0000';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.is(textIssues(deep).length, 1);
});

test('a text limit counts what was sent, as the document does; the minimum counts what is left after the trim', (t) => {
  t.false(string({ max: 3 })(' abc').ok, 'four characters sent');
  t.deepEqual(string({ max: 3 })('abc'), { ok: true, value: 'abc' });
  t.false(string({ min: 1 })(' \n ').ok, 'nothing left');
});
