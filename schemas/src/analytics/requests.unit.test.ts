import test from 'ava';
import { jsonSchemaOf } from '../validation.ts';
import { INGEST_LIMITS } from './limits.ts';
import {
  ingestRequest,
  ingestRequestAt,
  ingestTime,
  parseInstant,
  tooManyEvents,
  utf8Length,
} from './requests.ts';

const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const event = (over: Record<string, unknown> = {}) => ({
  type: 'lesson.completed',
  time: NOW - HOUR,
  source: 'web',
  payload: { courseId: 'c-1' },
  ...over,
});
const check = (body: unknown) => ingestRequestAt(NOW)(body);
const issuesOf = (body: unknown) => {
  const r = check(body);
  return r.ok ? [] : r.issues;
};

test('parseInstant reads ISO-8601 instants with an offset, to the millisecond', (t) => {
  t.is(parseInstant('2026-03-01T09:30:00Z'), Date.UTC(2026, 2, 1, 9, 30));
  t.is(parseInstant('2026-03-01T10:30:00.25+01:00'), Date.UTC(2026, 2, 1, 9, 30, 0, 250));
  t.is(parseInstant('2026-03-01T04:00:00.123456-05:30'), Date.UTC(2026, 2, 1, 9, 30, 0, 123));
  t.is(parseInstant('2024-02-29T23:59:59Z'), Date.UTC(2024, 1, 29, 23, 59, 59));
});

test('parseInstant refuses what is not a real instant, where Date.parse guesses', (t) => {
  for (const text of [
    '2026-02-29T00:00:00Z', // 2026 is not a leap year (Date.parse says March 1)
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-03-01T24:00:00Z',
    '2026-03-01T09:60:00Z',
    '2026-03-01T09:30:60Z',
    '2026-03-01T09:30:00', // no offset: whose local time?
    '2026-03-01 09:30:00Z',
    '2026-03-01T09:30Z',
    '2026-03-01',
    '2026-03-01T09:30:00+24:00',
    '2026-03-01T09:30:00.1234567890Z',
    'yesterday',
  ])
    t.is(parseInstant(text), null, text);
});

test('time: ISO-8601 or whole epoch milliseconds, within the window around the server clock', (t) => {
  const time = ingestTime({ now: NOW });
  t.deepEqual(time(NOW), { ok: true, value: NOW });
  t.deepEqual(time('2026-03-01T12:00:00Z'), { ok: true, value: NOW });
  t.true(time(NOW + INGEST_LIMITS.maxFutureMs).ok, 'exactly 24 h ahead');
  t.false(time(NOW + INGEST_LIMITS.maxFutureMs + 1).ok);
  t.true(time(NOW - INGEST_LIMITS.maxAgeMs).ok, 'exactly 30 days old');
  t.false(time(NOW - INGEST_LIMITS.maxAgeMs - 1).ok);
  t.false(time('1970-01-01T00:00:00Z').ok);
  for (const bad of [1.5, -1, Number.MAX_SAFE_INTEGER + 2, '1772357400000', null, true, {}])
    t.false(time(bad).ok, JSON.stringify(bad));
  t.true(ingestTime()(0).ok, 'without a clock only the form is checked');
});

test('a valid batch reads back with times as epoch ms; ids and users are optional', (t) => {
  const id = '0b7e3c2a-8d1f-4e6a-9c5b-2f4d6a8e0c1b';
  const userId = '5f0c7a9e-2b4d-4c6e-8a1f-3d5b7c9e0a2f';
  const r = check({
    events: [
      event(),
      event({ id, userId, time: '2026-03-01T11:00:00Z', payload: { nested: { a: [1, 'x'] } } }),
    ],
  });
  t.deepEqual(r, {
    ok: true,
    value: {
      events: [
        { type: 'lesson.completed', time: NOW - HOUR, source: 'web', payload: { courseId: 'c-1' } },
        {
          id,
          userId,
          type: 'lesson.completed',
          time: NOW - HOUR,
          source: 'web',
          payload: { nested: { a: [1, 'x'] } },
        },
      ],
    },
  });
  t.deepEqual(check({ events: [] }), { ok: true, value: { events: [] } });
});

test('every problem of every item is reported under its pointer', (t) => {
  const issues = issuesOf({
    events: [
      event(),
      event({ type: 'Lesson Completed' }),
      event({ type: 'a'.repeat(101) }),
      event({ source: '' }),
      event({ source: 's'.repeat(51), payload: [1, 2] }),
      event({ time: NOW + 2 * DAY, userId: 'not-a-uuid', id: 'ABC' }),
      event({ extra: 1 }),
      { type: 'x' },
    ],
  });
  t.deepEqual(
    issues.map((i) => i.path),
    [
      '/events/1/type',
      '/events/2/type',
      '/events/3/source',
      '/events/4/source',
      '/events/4/payload',
      // In the order the item names them.
      '/events/5/time',
      '/events/5/userId',
      '/events/5/id',
      '/events/6/extra',
      '/events/7/time',
      '/events/7/source',
      '/events/7/payload',
    ],
  );
  t.deepEqual(issuesOf({}), [{ path: '/events', message: 'is required' }]);
  t.deepEqual(issuesOf({ events: {} }), [{ path: '/events', message: 'must be an array' }]);
  t.deepEqual(issuesOf(null), [{ path: '', message: 'must be an object' }]);
});

test('type: lower case, starting with a letter, at most 100 characters', (t) => {
  for (const ok of ['a', 'lesson.completed', 'video_play-50', `a${'b'.repeat(99)}`])
    t.deepEqual(issuesOf({ events: [event({ type: ok })] }), [], ok);
  for (const bad of ['', '1st', '.x', 'A', 'lesson completed', 'ü', `a${'b'.repeat(100)}`, ' a', 7])
    t.is(issuesOf({ events: [event({ type: bad })] })[0]?.path, '/events/0/type', String(bad));
});

test('source: 1 to 50 characters, no control characters', (t) => {
  t.deepEqual(issuesOf({ events: [event({ source: 'ios app 7.2 / ünïcode' })] }), []);
  t.deepEqual(issuesOf({ events: [event({ source: 's'.repeat(50) })] }), []);
  for (const bad of ['', 's'.repeat(51), 'tab\there', 'nul\u0000'])
    t.is(issuesOf({ events: [event({ source: bad })] })[0]?.path, '/events/0/source', JSON.stringify(bad));
});

test('payload: a JSON object of at most 16 KiB as compact JSON, counted in UTF-8 bytes', (t) => {
  const sized = (bytes: number, char = 'x') => {
    // {"s":"…"} is 8 bytes around the string.
    const n = (bytes - 8) / utf8Length(char);
    return { s: char.repeat(n) };
  };
  t.is(utf8Length(JSON.stringify(sized(INGEST_LIMITS.maxPayloadBytes))), INGEST_LIMITS.maxPayloadBytes);
  t.deepEqual(issuesOf({ events: [event({ payload: sized(INGEST_LIMITS.maxPayloadBytes) })] }), []);
  t.deepEqual(
    issuesOf({ events: [event({ payload: sized(INGEST_LIMITS.maxPayloadBytes + 1) })] }).map((i) => i.path),
    ['/events/0/payload'],
  );
  // Two bytes a character: half as many fit.
  t.deepEqual(issuesOf({ events: [event({ payload: sized(INGEST_LIMITS.maxPayloadBytes, 'é') })] }), []);
  t.is(issuesOf({ events: [event({ payload: sized(INGEST_LIMITS.maxPayloadBytes + 2, 'é') })] }).length, 1);
  for (const bad of [null, [], 'text', 3])
    t.is(issuesOf({ events: [event({ payload: bad })] })[0]?.path, '/events/0/payload', JSON.stringify(bad));
  t.deepEqual(issuesOf({ events: [event({ payload: {} })] }), [], 'an empty object is a payload');
});

test('utf8Length counts bytes as UTF-8 encodes them', (t) => {
  for (const s of ['', 'abc', 'é', '中文', '🎓', 'a\u0000b', '\ud800 lone surrogate', 'mixed é 🎓 中'])
    t.is(utf8Length(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s));
});

test('the count limit is told apart from item problems, before items are read', (t) => {
  const many = { events: Array.from({ length: INGEST_LIMITS.maxEvents + 1 }, () => ({})) };
  t.like(tooManyEvents(many), { path: '/events' });
  t.is(tooManyEvents({ events: many.events.slice(1) }), null);
  t.is(tooManyEvents(null), null);
  t.is(tooManyEvents({ events: 'x' }), null);
});

test('the documented schema names the limits', (t) => {
  const schema = jsonSchemaOf(ingestRequest) as {
    title: string;
    properties: { events: { maxItems: number } };
  };
  t.is(schema.title, 'IngestRequest');
  t.true(ingestRequest({ events: [{ type: 'x', time: 0, source: 'web', payload: {} }] }).ok, 'no window');
  t.false(ingestRequestAt(NOW)({ events: [{ type: 'x', time: 0, source: 'web', payload: {} }] }).ok);
  t.is(schema.properties.events.maxItems, INGEST_LIMITS.maxEvents);
});
