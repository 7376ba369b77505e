import { requiredParam, type ApiOperation } from '../openapi.ts';
import { eventFacts } from './audit-api.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  integerString,
  isoTime,
  json,
  nullable,
  number,
  object,
  oneOf,
  record,
  string,
} from '../validation.ts';

/*
 * Operating the read models (apps/server's projection admin routes): the
 * status of each projection, and a rebuild from position zero.
 */

const projectionName = describe(string({ min: 1, max: 63, pattern: /^[a-z][a-z0-9_]*$/ }), {
  description: 'The name of a read model (its projection), such as `profiles`.',
  example: 'profiles',
});
/** A rebuild or diff in flight: what `lectern rebuild` and `diff` show on a terminal while they wait. */
const projectionWork = describe(
  object({
    action: describe(oneOf(['rebuild', 'diff', 'audit']), { description: 'What is running.' }),
    phase: describe(oneOf(['load', 'replay', 'agree', 'compare', 'explain']), {
      description:
        '`load`: the first replay running in the database (loaded in SQL), which tells no count until it ends; ' +
        '`replay`: reading the store into scratch tables; `agree`: waiting for the live model to reach the ' +
        "replay's position; `compare`: catching up to the live checkpoints and comparing, with the live tables " +
        'locked; `explain`: replaying again for the events behind each differing row (`diff`).',
    }),
    eventsRead: describe(integer({ min: 0 }), {
      description:
        "Events read from the store's feed so far, of every type; of the model's types only where its first replay ran in the database (loaded in SQL), counted when that load ends.",
    }),
    position: describe(nullable(integer({ min: 0 })), {
      description: 'The highest global position read so far; `null` before the first page.',
    }),
    headPosition: describe(nullable(integer({ min: 0 })), {
      description:
        "The store's highest global position when the work began (`null` for an empty store): with " +
        '`position`, how much of the replay is done.',
    }),
    seconds: describe(number({ min: 0 }), { description: 'How long it has run.' }),
    eventsPerSecond: describe(number({ min: 0 }), { description: '`eventsRead` over `seconds`.' }),
  }),
  { title: 'ProjectionWork' },
);

export const projectionStatusList = describe(
  object({
    items: arrayOf(
      object({
        name: describe(string({ min: 1, max: 63, pattern: /^[a-z][a-z0-9_.]*$/ }), {
          description:
            'A read model (`profiles`), or another consumer (`analytics`, `worker.notifications`).',
        }),
        kind: describe(oneOf(['sql', 'analytics', 'worker']), {
          description:
            '`sql`: a PostgreSQL read model (rebuildable); `analytics`: the ClickHouse projector (rebuildable ' +
            'too), which has no checkpoint of its own (its consumer group and lag say where it is); `worker`: a reaction ' +
            'with side effects (never rebuilt: it acts once per event).',
        }),
        version: describe(nullable(integer({ min: 1 })), {
          description: 'The model version; `null` for analytics.',
        }),
        appliedEvents: describe(nullable(string({ pattern: /^\d+$/ })), {
          description:
            'Events applied since the model was created or rebuilt (a decimal string: a bigint); `null` for analytics.',
        }),
        lastPosition: describe(nullable(string({ pattern: /^\d+$/ })), {
          description: 'Global position of the last event applied (a decimal string), `null` before any.',
        }),
        lastEventAt: nullable(isoTime()),
        lastAppliedAt: nullable(isoTime()),
        rebuiltAt: nullable(isoTime()),
        lag: describe(nullable(integer({ min: 0 })), {
          description:
            'Messages in its topics its consumer group has not committed yet, `null` when the log could not say.',
        }),
        runningHere: describe(boolean(), {
          description: 'Whether the process that answered consumes for it.',
        }),
        work: describe(nullable(projectionWork), {
          description:
            'A rebuild, diff or audit of the model that this process is running now; `null` when there is none ' +
            '(work another process runs shows there).',
        }),
      }),
    ),
  }),
  { title: 'ProjectionStatusList', description: 'Every read model with its checkpoint.' },
);

const checksum = describe(string({ min: 1, max: 40, pattern: /^[0-9]+$/ }), {
  description:
    "The sum of every row's hash (63 bits: its columns hashed by their types' hash functions, or the md5 of its canonical text where a column type has none), in decimal.",
});

export const rebuildVerification = describe(
  object(
    {
      verified: describe(boolean(), {
        description:
          'Compared with the live model at one position. False only when the live model never reached the ' +
          "rebuilt one's position and the differences were accepted without a comparison.",
      }),
      position: describe(nullable(integer({ min: 0 })), {
        description: 'The highest global position of the cut both models were compared at.',
      }),
      matches: describe(boolean(), { description: 'Every table has the same rows.' }),
      tables: arrayOf(
        object(
          {
            table: describe(string({ min: 1, max: 63 }), {
              description: 'The table, as the projection names it.',
            }),
            liveRows: integer({ min: 0 }),
            rebuiltRows: integer({ min: 0 }),
            liveChecksum: checksum,
            rebuiltChecksum: checksum,
            differingRows: describe(integer({ min: 0 }), {
              description: 'Rows on one side only, or different on the two.',
            }),
            differingKeys: describe(arrayOf(record(json()), { max: 20 }), {
              description:
                'The first 20 differing rows by primary key: each the key columns and their values.',
            }),
            movedOnRows: describe(integer({ min: 0 }), {
              description:
                'Only in a diff `at` a position: rows that events after it changed, made or removed, so that the ' +
                'live row cannot show how it stood then; never counted as differing.',
            }),
            movedOnKeys: describe(arrayOf(record(json()), { max: 20 }), {
              description: 'Only in a diff `at` a position: the first 20 rows that moved on, by primary key.',
            }),
          },
          { optional: ['movedOnRows', 'movedOnKeys'] },
        ),
      ),
      at: describe(integer({ min: 0 }), {
        description:
          'Only in a diff `at` a position: the position the live model was judged as of (the replay took the ' +
          'events at or below it).',
      }),
    },
    { optional: ['at'] },
  ),
  {
    title: 'RebuildVerification',
    description: 'The rebuilt model compared with the live one, per table: row counts and checksums.',
  },
);

export const rebuildResult = describe(
  object({
    projection: projectionName,
    events: describe(integer({ min: 0 }), { description: 'Events replayed into the new tables.' }),
    seconds: describe(number({ min: 0 }), { description: 'How long the rebuild took.' }),
    swapped: describe(boolean(), { description: 'The rebuilt tables are live now (always, in a 200).' }),
    verification: rebuildVerification,
  }),
  { title: 'RebuildResult' },
);

/** One change an event made to a row of a read model, in a replay (`lectern explain`, `lectern diff`). */
const lineageStep = describe(
  object({
    op: describe(oneOf(['insert', 'update', 'delete']), { description: 'What the event did to the row.' }),
    changed: describe(arrayOf(string()), {
      description:
        'The columns whose value it changed (every column for an insert or a delete), and in a column ' +
        'holding a JSON object each changed key, as `column.key`.',
    }),
    event: describe(object(eventFacts), {
      description: 'The event, without its data (`lectern history <streamId>` shows it, redacted).',
    }),
  }),
  { title: 'LineageStep' },
);

const rowKey = describe(record(string()), {
  description: "The row's primary key: each key column and its value, as the column's text.",
});

/** A row of a read model, the events a replay applied to it, and whether the live row is what they make. */
const rowLineage = describe(
  object({
    table: describe(string({ min: 1, max: 63 }), { description: 'The table, as the projection names it.' }),
    key: rowKey,
    replayed: describe(boolean(), { description: "The replay of the store's events holds the row." }),
    live: describe(boolean(), { description: 'The live model holds the row.' }),
    matchesLive: describe(boolean(), {
      description: 'The live row is exactly what the events make (both absent counts as matching).',
    }),
    steps: describe(arrayOf(lineageStep), {
      description: 'Every change the events made to the row, in order.',
    }),
  }),
  { title: 'RowLineage' },
);

export const projectionDiff = describe(
  object({
    projection: projectionName,
    events: describe(integer({ min: 0 }), { description: 'Events replayed into the scratch tables.' }),
    seconds: describe(number({ min: 0 }), { description: 'How long the replay and the comparison took.' }),
    verification: rebuildVerification,
    rows: describe(arrayOf(rowLineage), {
      description:
        'Each differing row of `verification` (the first 20 per table) with the events that produced it, ' +
        'from a second replay up to the same position; empty when the models match.',
    }),
  }),
  {
    title: 'ProjectionDiff',
    description:
      'A replay of the store compared with the live model at one position; `verification.matches` says ' +
      'whether they agree, and each table names its differing rows by key.',
  },
);

/** `GET …/diff`'s query. */
export const diffQuery = {
  at: describe(integerString({ min: 0 }), {
    description:
      'A global position of the store: replay only the events at or below it, and compare the live model as ' +
      'it stood there. The live model holds only its current state, so a row that events after the position ' +
      'changed, made or removed is counted as moved on (`movedOnRows`), not as a difference; every other row ' +
      'must be what the events up to the position made it. Past the newest event: 400 `position_beyond_head`.',
    example: 48230,
  }),
};

/** `GET …/explain`'s query. */
export const explainQuery = {
  key: requiredParam(
    describe(string({ min: 1, max: 1000 }), {
      description:
        "The row's primary key: its value where the key is one column (a user id), or a JSON object of the " +
        'key columns where it is several (`{"room_id":"…","user_id":"…"}`).',
      example: '0b9c2a43-8f1e-4f7a-9d51-6c1f2e0a7b3d',
    }),
  ),
  table: describe(string({ min: 1, max: 63, pattern: /^[a-z][a-z0-9_]*$/ }), {
    description: "One of the projection's tables; needed only where it has several.",
  }),
  field: describe(string({ min: 1, max: 200, pattern: /^[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+)?$/ }), {
    description:
      'Only the events that set this column, or this key of a JSON column as `column.key` ' +
      '(`doc.displayName`), and those that made or removed the row.',
    example: 'doc.displayName',
  }),
};

export const rowExplanation = describe(
  object({
    projection: projectionName,
    field: nullable(string()),
    events: describe(integer({ min: 0 }), { description: "Events of the projection's types replayed." }),
    seconds: describe(number({ min: 0 }), { description: 'How long the replay took.' }),
    row: rowLineage,
  }),
  {
    title: 'RowExplanation',
    description:
      "A read model's row explained by its events: a replay of the store into scratch tables records each " +
      'change each event made to that row.',
  },
);

/** `POST …/rebuild`'s query. */
export const rebuildQuery = {
  acceptDifferences: describe(oneOf(['true', 'false'] as const), {
    description:
      '`true`: swap the rebuilt model in even where it differs from the live one, or where the live one never ' +
      "reached the rebuilt one's position. Default `false`: a difference keeps the live model (409).",
  }),
};

/** `POST …/audit`'s query. */
export const auditQuery = {
  repair: describe(oneOf(['true', 'false'] as const), {
    description:
      '`true`: apply the skipped and unapplied events the audit names, under a lock on the checkpoints. ' +
      'Default `false`: report only.',
  }),
  eventsOnly: describe(oneOf(['true', 'false'] as const), {
    description:
      '`true`: check the events against the ledger only, without replaying the store to compare the rows ' +
      '(what the scheduled audit does). Default `false`: the rows too.',
  }),
};

const auditedEvent = describe(
  object({
    streamId: string(),
    eventId: string(),
    revision: integer({ min: 0 }),
    position: integer({ min: 0 }),
    type: string(),
    occurredAt: isoTime(),
  }),
  { title: 'AuditedEvent', description: 'An event of the store the model never applied.' },
);

const auditedStream = describe(
  object({
    streamId: string(),
    inStore: describe(integer({ min: 0 }), {
      description: "The store's events of the model's types at or below the stream's checkpoint.",
    }),
    applied: describe(integer({ min: 0 }), { description: 'What the ledger says the model applied.' }),
  }),
  { title: 'AuditedStream' },
);

export const auditReport = describe(
  object({
    projection: projectionName,
    events: describe(integer({ min: 0 }), { description: "The store's events of the model's types read." }),
    streams: describe(integer({ min: 0 }), { description: 'Their streams the model has checkpoints of.' }),
    skipped: describe(arrayOf(auditedEvent), {
      description:
        "Below the stream's checkpoint, in the store, not in the ledger: the events a consumer passed over " +
        '(the first 1000).',
    }),
    unapplied: describe(arrayOf(auditedEvent), {
      description:
        "Past the stream's checkpoint and older than five minutes: never delivered (the first 1000).",
    }),
    doubled: describe(arrayOf(auditedStream), {
      description: 'Streams whose ledger counts more events than the store holds: some applied twice.',
    }),
    unaccounted: describe(arrayOf(auditedStream), {
      description: 'Streams short of more than one event, which the digest cannot name: rebuild the model.',
    }),
    pending: describe(integer({ min: 0 }), {
      description: 'Events past their checkpoint but younger than five minutes: in flight, not a finding.',
    }),
    unaudited: describe(integer({ min: 0 }), {
      description: 'Streams applied before the model kept a ledger (a rebuild writes one): not checked.',
    }),
    repaired: describe(integer({ min: 0 }), { description: 'Events applied by `repair=true`.' }),
    findings: describe(integer({ min: 0 }), {
      description: 'Skipped, unapplied, doubled and unaccounted, before any repair.',
    }),
    rows: describe(nullable(rebuildVerification), {
      description:
        'The live rows compared with a replay at one position, as `diff` does; null with `eventsOnly=true`.',
    }),
  }),
  {
    title: 'AuditReport',
    description:
      'A read model checked against the event store: per stream, the ledger of what it applied (a count and ' +
      'a digest of the event ids, kept with its checkpoints) against the events the store holds.',
  },
);

/** The 409 a rebuild, diff or audit answers while another of the same model runs. */
const BUSY =
  '`projection_busy`: a rebuild, diff or audit of the model is running already, in this process or another ' +
  '(they share its scratch tables), so this one is refused rather than queued.';

export const operationsTags: Readonly<Record<string, string>> = {
  operations: 'Running the read models: status, rebuilds, comparisons and audits. Admins only.',
};

export const operationsApi: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/admin/projections',
    operationId: 'listProjections',
    summary: 'List the read models',
    description: 'Every projection with its version, events applied, last position and times.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    responses: { 200: { description: 'The projections.', body: projectionStatusList } },
  },
  {
    method: 'post',
    path: '/api/admin/projections/:name/rebuild',
    operationId: 'rebuildProjection',
    summary: 'Rebuild a read model from zero',
    description:
      'Replays the event store into shadow tables, compares them with the live model at one position (per ' +
      'table, row counts and a checksum over every row), and swaps them in atomically when they match; the ' +
      'live model keeps serving meanwhile. A difference keeps the live model and names the differing rows ' +
      '(409 `rebuild_differs`); `acceptDifferences=true` swaps anyway, as after a fix of the projection. Any ' +
      'process with the `api` or `projections` role can run it, whether or not it consumes for the model: the ' +
      'swap locks the live tables, so consumers anywhere wait for it and go on in the new tables. `analytics` ' +
      'rebuilds the ClickHouse tables the same way: `_vN` tables beside the live ones, the domain rows ' +
      "compared once the analytics projector has committed what the relay published up to the replay's end " +
      '(differing rows named by `event_id`), telemetry carried over from the live table, then `EXCHANGE` or ' +
      'one `RENAME`.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    query: rebuildQuery,
    responses: {
      200: { description: 'The model was rebuilt, verified and swapped in.', body: rebuildResult },
    },
    errors: [
      {
        status: 400,
        description: '`acceptDifferences` is neither `true` nor `false` (`validation_failed`).',
      },
      {
        status: 404,
        description:
          'There is no SQL read model, nor a rebuildable consumer (`analytics`), of that name ' +
          '(`projection_not_found`, with the `known` names).',
      },
      {
        status: 409,
        description:
          '`rebuild_differs`: the rebuilt model differs from the live one, which is kept; `verification` names ' +
          "the differing rows. `rebuild_not_verified`: the live model did not reach the rebuilt one's position " +
          'within a minute (no consumer of it running?), so nothing could be compared. ' +
          BUSY,
      },
    ],
  },
  {
    method: 'get',
    path: '/api/admin/projections/:name/diff',
    operationId: 'diffProjection',
    summary: 'Compare a read model with a replay of the store',
    description:
      'Replays the event store into scratch tables and compares them with the live model at one position, as ' +
      'a rebuild does, then drops them: nothing changes. Answers 200 whether or not they match; ' +
      '`verification` says which rows differ (a row damaged by hand, a projection changed without a rebuild). ' +
      'With `at`, the live model as it stood at that position: rows that moved on since are counted apart.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    query: diffQuery,
    responses: { 200: { description: 'The comparison.', body: projectionDiff } },
    errors: [
      {
        status: 400,
        description:
          '`at` is not a whole number (`validation_failed`), or is past the newest event of the store ' +
          '(`position_beyond_head`, with `headPosition`).',
      },
      { status: 404, description: 'There is no SQL read model of that name (`projection_not_found`).' },
      {
        status: 409,
        description:
          "`rebuild_not_verified`: the live model did not reach the replay's position within a minute (no " +
          'consumer of it running?), so nothing could be compared. ' +
          BUSY,
      },
    ],
  },
  {
    method: 'get',
    path: '/api/admin/projections/:name/explain',
    operationId: 'explainRow',
    summary: 'The events that produced a row of a read model',
    description:
      "Replays the event store into scratch tables with the projection's own code, records every change to " +
      'the row (or to one field of it) with the event that made it, and compares the result with the live ' +
      'row; then drops the scratch tables: nothing changes. Column values are not shown (a read model may ' +
      'hold secret-derived ones); `lectern history` shows each event’s data, redacted.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    query: explainQuery,
    responses: { 200: { description: 'The row and its events.', body: rowExplanation } },
    errors: [
      {
        status: 400,
        description:
          'A table the projection does not have (`unknown_table`), no table given for a projection of several ' +
          '(`table_required`), a key that does not name the key columns (`key_columns`), or a column the ' +
          'table does not have (`unknown_field`).',
      },
      { status: 404, description: 'There is no SQL read model of that name (`projection_not_found`).' },
    ],
  },
  {
    method: 'post',
    path: '/api/admin/projections/:name/audit',
    operationId: 'auditProjection',
    summary: 'Audit a read model against the event store',
    description:
      'Reads the event store from the start and compares, per stream, the events of the types the model ' +
      'reads with the ledger the model keeps beside its checkpoints (how many it applied and a digest of ' +
      'their ids): a skipped event is named, a stream counted twice is doubled, an event past its checkpoint ' +
      'for more than five minutes was never delivered. Then, unless `eventsOnly=true`, compares the live rows ' +
      'with a replay, as `diff` does, which finds a row changed by hand. `repair=true` applies the named ' +
      'events. Recorded as an admin action. Answers 200 whatever it finds; `findings` and `rows.matches` say.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    query: auditQuery,
    responses: { 200: { description: 'The audit.', body: auditReport } },
    errors: [
      {
        status: 400,
        description: '`repair` or `eventsOnly` is neither `true` nor `false` (`validation_failed`).',
      },
      { status: 404, description: 'There is no SQL read model of that name (`projection_not_found`).' },
      {
        status: 409,
        description:
          "`rebuild_not_verified`: for the rows, the live model did not reach the replay's position within a " +
          'minute (no consumer of it running?); `eventsOnly=true` audits the events alone. ' +
          BUSY,
      },
    ],
  },
];
