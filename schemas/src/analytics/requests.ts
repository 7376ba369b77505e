import {
  arrayOf,
  describe,
  object,
  string,
  textIssues,
  textKeySchema,
  jsonValueSchema,
  uuid,
  withSchema,
  type Issue,
  type Result,
  type Validator,
} from '../validation.ts';
import { INGEST_EVENT_TYPE, INGEST_LIMITS } from './limits.ts';

/*
 * What `POST /api/analytics/ingest` accepts. Telemetry is not aggregate
 * state: these events are validated here and produced to the log as they
 * are, so everything a report may rely on (a type it can group by, a time it
 * can bucket, a payload it can afford to store) is checked before a batch is
 * accepted, and a batch with any bad item is refused whole.
 */

const fail = (path: string, message: string): Result<never> => ({ ok: false, issues: [{ path, message }] });

/** UTF-8 bytes of a string, without allocating its encoding. */
export const utf8Length = (text: string): number => {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
};

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch milliseconds of an ISO-8601 instant with seconds and an offset
 * (`2026-03-01T09:30:00Z`, `2026-03-01T10:30:00.250+01:00`), or null when it
 * is not one. Stricter than `Date.parse`, which takes February 30 as March 1:
 * a day the calendar lacks is an error, not another day.
 */
export const parseInstant = (text: string): number | null => {
  const m = ISO_INSTANT.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offsetHours = m[9] === undefined ? 0 : Number(m[9]);
  const offsetMinutes = m[10] === undefined ? 0 : Number(m[10]);
  if (offsetHours > 23 || offsetMinutes > 59) return null;
  const sign = m[8] === '-' ? -1 : 1;
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const local = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  // Date.UTC maps years 0–99 to 1900–1999; no event is that old, and the window refuses it anyway.
  return local - sign * (offsetHours * 60 + offsetMinutes) * 60_000;
};

/**
 * An example time that the server takes when the example is pasted: the
 * minute this process loaded the schemas, since a fixed date falls out of
 * the window after `maxAgeMs`. The document is built once per process, so
 * it stays one value for the life of the served document.
 */
const loadedAt = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString().replace('.000Z', 'Z');
const exampleTime = (): string => loadedAt;

const hours = (ms: number) => `${ms / 3600_000} hours`;
const days = (ms: number) => `${ms / 86_400_000} days`;

/**
 * When the event happened, on the client's clock: an ISO-8601 instant with
 * an offset, or epoch milliseconds. Read as epoch milliseconds. With `now`
 * (the server's clock), a time more than `maxFutureMs` ahead or `maxAgeMs`
 * behind is refused: reports bucket by it, and a clock set to 1970 or 2099
 * would put a user's activity on a day they were not there.
 */
export const ingestTime = (opts: Readonly<{ now?: number }> = {}): Validator<number> =>
  withSchema(
    (input, path = '') => {
      let ms: number | null;
      if (typeof input === 'string') {
        ms = parseInstant(input);
        if (ms === null)
          return fail(path, 'must be an ISO-8601 instant with an offset, like 2026-03-01T09:30:00Z');
      } else if (typeof input === 'number') {
        if (!Number.isSafeInteger(input) || input < 0)
          return fail(path, 'must be whole epoch milliseconds (or an ISO-8601 instant)');
        ms = input;
      } else return fail(path, 'must be an ISO-8601 instant or epoch milliseconds');
      if (opts.now !== undefined) {
        if (ms > opts.now + INGEST_LIMITS.maxFutureMs)
          return fail(path, `must not be more than ${hours(INGEST_LIMITS.maxFutureMs)} ahead of the server`);
        if (ms < opts.now - INGEST_LIMITS.maxAgeMs)
          return fail(path, `must not be more than ${days(INGEST_LIMITS.maxAgeMs)} old`);
      }
      return { ok: true, value: ms };
    },
    {
      description:
        `When the event happened: an ISO-8601 instant with an offset, or epoch milliseconds. At most ` +
        `${hours(INGEST_LIMITS.maxFutureMs)} ahead of the server's clock and ${days(INGEST_LIMITS.maxAgeMs)} behind it.`,
      examples: [exampleTime(), Date.parse(exampleTime())],
      oneOf: [
        { type: 'string', format: 'date-time', pattern: ISO_INSTANT.source },
        { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      ],
    },
  );

/** The event's own data: any JSON object, at most `maxPayloadBytes` as compact JSON. */
export const ingestPayload: Validator<Readonly<Record<string, unknown>>> = withSchema(
  (input, path = '') => {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return fail(path, 'must be a JSON object');
    // Free-form, but still text the analytics store must be able to hold.
    const text = textIssues(input, path);
    if (text.length) return { ok: false, issues: text };
    const bytes = utf8Length(JSON.stringify(input));
    if (bytes > INGEST_LIMITS.maxPayloadBytes)
      return fail(path, `must be at most ${INGEST_LIMITS.maxPayloadBytes} bytes as JSON (is ${bytes})`);
    return { ok: true, value: input as Readonly<Record<string, unknown>> };
  },
  {
    type: 'object',
    description:
      `Any JSON object, at most ${INGEST_LIMITS.maxPayloadBytes / 1024} KiB as compact JSON; its text must be ` +
      'valid (no U+0000 in a string or a key, no `__proto__`, `constructor` or `prototype` key).',
    propertyNames: textKeySchema,
    additionalProperties: jsonValueSchema,
  },
);

export const ingestEventType = describe(string({ pattern: INGEST_EVENT_TYPE, trim: false }), {
  description:
    'What happened, in lower case: letters, digits, `_`, `.` and `-`, starting with a letter, at most 100 ' +
    'characters. Reports group and filter by it.',
  example: 'lesson.completed',
});

export const ingestSource = describe(
  // No control characters: a source is a label shown in reports and exports.
  // eslint-disable-next-line no-control-regex -- they are what the pattern refuses
  string({ min: 1, max: INGEST_LIMITS.maxSourceLength, pattern: /^[^\u0000-\u001f\u007f]+$/ }),
  { description: 'What sent the event (`web`, `ios`, `billing`), at most 50 characters.', example: 'web' },
);

/** One event of a batch, with `time` read as epoch milliseconds. */
export const ingestEvent = (opts: Readonly<{ now?: number }> = {}) =>
  describe(
    object(
      {
        id: describe(uuid(), {
          description:
            "The event's id, kept across the client's retries: copies of one id are counted once. " +
            'Without it the server derives one from the `Idempotency-Key` (else the request id) and the ' +
            "event's index in the batch.",
        }),
        type: ingestEventType,
        userId: describe(uuid(), {
          description:
            "Whom the event is about. With a bearer token it defaults to, and must be, the token's user " +
            '(admins may name anyone); with an ingest key it is optional.',
        }),
        time: ingestTime(opts),
        source: ingestSource,
        payload: ingestPayload,
      },
      { optional: ['id', 'userId'] },
    ),
    { title: 'IngestEvent', description: 'One telemetry event.' },
  );

export type IngestEvent = Readonly<{
  id?: string;
  type: string;
  userId?: string;
  /** Epoch milliseconds. */
  time: number;
  source: string;
  payload: Readonly<Record<string, unknown>>;
}>;

export type IngestRequest = Readonly<{ events: readonly IngestEvent[] }>;

const batch = (opts: Readonly<{ now?: number }>): Validator<IngestRequest> =>
  object({
    events: describe(arrayOf(ingestEvent(opts), { max: INGEST_LIMITS.maxEvents }), {
      description: `At most ${INGEST_LIMITS.maxEvents} events (413 \`too_many_events\` beyond).`,
    }),
  });

/**
 * The body of `POST /api/analytics/ingest` as documented: every problem of
 * every item is reported, each under its item (`/events/3/type`). Only the
 * form of `time` is checked; the route runs `ingestRequestAt`, which adds
 * the window around the server's clock.
 */
export const ingestRequest: Validator<IngestRequest> = describe(batch({}), {
  title: 'IngestRequest',
  description:
    'A batch of telemetry events. Any invalid event refuses the whole batch (400), so a client can ' +
    'retry it unchanged once fixed, without having to work out which events were taken.',
  example: {
    events: [
      {
        id: '0b7e3c2a-8d1f-4e6a-9c5b-2f4d6a8e0c1b',
        type: 'lesson.completed',
        time: Date.parse(exampleTime()),
        source: 'web',
        payload: { courseId: 'c-42', lessonId: 'l-7', seconds: 312 },
      },
    ],
  },
});

/**
 * `ingestRequest` with the time window: `now` is the server's clock (epoch
 * ms) when the batch arrived.
 *
 * @example ingestRequestAt(Date.now())({ events: [{ type: 'course.viewed', time: Date.now(), source: 'web', payload: {} }] })
 */
export const ingestRequestAt = (now: number): Validator<IngestRequest> => batch({ now });

/** The issues of a body whose `events` exceed the count limit, before any item is read. */
export const tooManyEvents = (body: unknown): Issue | null => {
  const events = (body as { events?: unknown } | null)?.events;
  return Array.isArray(events) && events.length > INGEST_LIMITS.maxEvents
    ? {
        path: '/events',
        message: `must have at most ${INGEST_LIMITS.maxEvents} items (has ${events.length})`,
      }
    : null;
};
