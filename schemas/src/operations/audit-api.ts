import type { ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  integerString,
  isoTime,
  json,
  nullable,
  object,
  record,
  string,
} from '../validation.ts';

/*
 * Reading the event store for audits (apps/server's audit routes,
 * `lectern history|related|as-of`): a stream's events with who, when and
 * why, one request's events across streams, and an aggregate's state as of
 * a point. Values of secret-derived fields (password, token and code
 * hashes) are shown as `[redacted]`.
 */

export const streamIdParam = describe(string({ min: 3, max: 300, pattern: /^[a-z][a-z0-9]*-[^\s]+$/ }), {
  description: 'A stream id, `<category>-<id>`.',
  example: 'profile-0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3d',
});
export const correlationIdParam = describe(string({ min: 1, max: 200 }), {
  description: 'The correlation id every event caused by one request carries (its metadata).',
});

/** `?fromRevision=` of a stream's events. */
export const fromRevisionParam = describe(integerString({ min: 0 }), {
  description: 'The first revision to return (default 0).',
});
/** `?limit=` of the audit reads. */
export const auditLimitParam = describe(integerString({ min: 1, max: 10_000 }), {
  description: 'How many events at most (default 1000).',
});

/** Which event, where, when, by whom and why: what every audit answer says of an event. */
export const eventFacts = {
  id: string(),
  streamId: string(),
  revision: integer({ min: 0 }),
  position: describe(integer({ min: 0 }), { description: 'Global position in the store.' }),
  occurredAt: isoTime(),
  type: string(),
  actor: describe(nullable(object({ userId: nullable(string()), roles: arrayOf(string()) })), {
    description: 'Who caused it; `null` for the system.',
  }),
  causationId: nullable(string()),
  correlationId: string(),
};

const auditEvent = describe(
  object({
    ...eventFacts,
    schemaVersion: integer({ min: 1 }),
    requestId: nullable(string()),
    data: json(),
  }),
  {
    title: 'AuditEvent',
    description: 'An event as stored (its schema version), with secret-derived values shown as `[redacted]`.',
  },
);

export const streamEventsPage = describe(
  object({
    streamId: string(),
    category: string(),
    items: arrayOf(auditEvent),
    nextRevision: describe(integer({ min: 0 }), {
      description: 'The `fromRevision` that reads on after these (to follow the stream).',
    }),
  }),
  { title: 'StreamEventsPage' },
);

export const correlationEvents = describe(object({ correlationId: string(), items: arrayOf(auditEvent) }), {
  title: 'CorrelationEvents',
});

export const stateAsOf = describe(
  object({
    streamId: string(),
    category: string(),
    // Folded by the stream's own decider (events upcast first), secret-derived values redacted.
    state: json(),
    revision: describe(integer({ min: -1 }), {
      description: 'The last revision folded; -1 before the first.',
    }),
    position: describe(nullable(integer({ min: 0 })), {
      description: 'The global position of the last event folded; `null` before the first.',
    }),
    occurredAt: describe(nullable(isoTime()), { description: 'When the last event folded happened.' }),
    eventsFolded: integer({ min: 0 }),
  }),
  {
    title: 'StateAsOf',
    description:
      "`state` is the aggregate's state folded by its own decider (events upcast first), secret-derived values `[redacted]`.",
  },
);

/** A global position, as a range's bound. */
const positionBound = (description: string) => describe(integerString({ min: 0 }), { description });

/** `lectern export`: which events, all optional (every event when none is given). */
export const exportQuery = {
  from: positionBound('The first global position to export (default 0).'),
  to: positionBound('The last global position to export (default the newest when the export starts).'),
  stream: describe(streamIdParam, { description: 'Only this stream\u2019s events.' }),
  type: describe(string({ min: 3, max: 200, pattern: /^[a-z][a-zA-Z0-9]*\.[A-Za-z0-9]+$/ }), {
    description: 'Only events of this type (`<context>.<Name>`).',
    example: 'profile.ProfileCreated',
  }),
  since: describe(isoTime(), { description: 'Only events that occurred at or after this time.' }),
} as const;

/** `lectern republish`: a range of the store sent to the log again. */
export const republishRequest = describe(
  object(
    {
      from: describe(integer({ min: 0 }), { description: 'The first global position to send again.' }),
      to: describe(integer({ min: 0 }), { description: 'The last global position to send again.' }),
      context: describe(string({ min: 1, max: 64, pattern: /^[a-z][a-z0-9]*$/ }), {
        description: 'Only events of this context (`identity`, `profile`…); default every context.',
      }),
      dryRun: describe(boolean(), { description: 'Count what would be sent, and send nothing.' }),
    },
    { optional: ['context', 'dryRun'] },
  ),
  { title: 'RepublishRequest' },
);

export const republishResult = describe(
  object({
    from: integer({ min: 0 }),
    to: integer({ min: 0 }),
    context: nullable(string()),
    dryRun: boolean(),
    events: describe(integer({ min: 0 }), { description: 'Events sent (or, in a dry run, that would be).' }),
    byContext: describe(record(integer({ min: 0 })), { description: 'The same count per context.' }),
  }),
  {
    title: 'RepublishResult',
    description:
      'Consumers drop the copies by event id: read models do not change, and no side effect runs twice.',
  },
);

const unknownCategory = {
  status: 404,
  description:
    'A stream id whose category no context declares (`stream_category_unknown`, with the known ones), or a ' +
    'stream with no events (`stream_not_found`).',
} as const;

export const auditApi: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/admin/streams/:streamId/events',
    operationId: 'streamHistory',
    summary: "A stream's events, with who, when and why",
    description:
      'In revision order, each with its global position, time, type, schema version, actor, causation, ' +
      'correlation and request ids, and its data. Read on from `nextRevision` to follow the stream.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { streamId: streamIdParam },
    query: { fromRevision: fromRevisionParam, limit: auditLimitParam },
    responses: { 200: { description: 'The events.', body: streamEventsPage } },
    errors: [{ status: 400, description: 'A bad revision or limit (`validation_failed`).' }, unknownCategory],
  },
  {
    method: 'get',
    path: '/api/admin/correlations/:correlationId/events',
    operationId: 'correlatedEvents',
    summary: 'Every event of one correlation, across streams',
    description: 'In global order: what one request did, and everything it caused.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { correlationId: correlationIdParam },
    query: { limit: auditLimitParam },
    responses: { 200: { description: 'The events.', body: correlationEvents } },
    errors: [
      { status: 400, description: 'A bad limit (`validation_failed`).' },
      { status: 404, description: 'No event carries that correlation id (`correlation_not_found`).' },
    ],
  },
  {
    method: 'get',
    path: '/api/admin/streams/:streamId/state',
    operationId: 'streamStateAsOf',
    summary: "An aggregate's state as of a time, a revision or a position",
    description:
      'Exactly one of `time` (events that occurred at or before it), `revision` (up to and including it) ' +
      'or `position` (events at or before that global position). Folded by the decider its context ' +
      'declares for the stream\u2019s category.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { streamId: streamIdParam },
    query: {
      time: describe(isoTime(), { description: 'Fold the events that occurred at or before this time.' }),
      revision: describe(integerString({ min: 0 }), { description: 'The last revision to fold.' }),
      position: describe(integerString({ min: 0 }), { description: 'The last global position to fold.' }),
    },
    responses: { 200: { description: 'The state.', body: stateAsOf } },
    errors: [
      {
        status: 400,
        description:
          'None or more than one of `time`, `revision`, `position`, or a bad one (`validation_failed`).',
      },
      unknownCategory,
      {
        status: 409,
        description:
          'The stream records facts no decider folds (`stream_has_no_state`: read its history), or holds an ' +
          'event its decider does not know (`unknown_stream_event`).',
      },
    ],
  },
  {
    method: 'get',
    path: '/api/admin/events/export',
    operationId: 'exportEvents',
    summary: 'The store\u2019s events as JSON lines, streamed',
    description:
      'One `AuditEvent` per line (`application/x-ndjson`), in global order, secret-derived values `[redacted]`; ' +
      'streamed as it is read, so any number of events takes the same memory. A read that fails part way ' +
      'cuts the response off (no final newline-terminated line follows): run it again from the position after ' +
      'the last line received.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    query: exportQuery,
    responses: {
      200: {
        description: 'The events, one JSON object per line.',
        content: { 'application/x-ndjson': { type: 'string' } },
      },
    },
    errors: [
      {
        status: 400,
        description:
          'A bad bound, stream, type or time (`validation_failed`), or `to` before `from` (`range_reversed`).',
      },
    ],
  },
  {
    method: 'post',
    path: '/api/admin/events/republish',
    operationId: 'republishEvents',
    summary: 'Send a range of the store\u2019s events to the log again',
    description:
      'The events at global positions `from` to `to` (of one context, if given) are produced to their topics ' +
      'again, as the relay first did. Consumers drop the copies by event id, so it repairs a consumer that missed ' +
      'events without changing the others. `dryRun` counts only. Recorded in the log of the server with the admin.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    body: republishRequest,
    responses: { 200: { description: 'What was sent.', body: republishResult } },
    errors: [
      {
        status: 400,
        description: '`to` before `from` (`range_reversed`), or a bad context (`validation_failed`).',
      },
    ],
  },
];
