import type { ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  describe,
  integer,
  integerString,
  isoTime,
  json,
  nullable,
  object,
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

const auditEvent = describe(
  object({
    id: string(),
    streamId: string(),
    revision: integer({ min: 0 }),
    position: describe(integer({ min: 0 }), { description: 'Global position in the store.' }),
    occurredAt: isoTime(),
    type: string(),
    schemaVersion: integer({ min: 1 }),
    actor: describe(nullable(object({ userId: nullable(string()), roles: arrayOf(string()) })), {
      description: 'Who caused it; `null` for the system.',
    }),
    causationId: nullable(string()),
    correlationId: string(),
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
];
