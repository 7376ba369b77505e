import type { ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  isoTime,
  nullable,
  number,
  object,
  oneOf,
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
            '`sql`: a PostgreSQL read model (rebuildable); `analytics`: the ClickHouse projector, which has ' +
            'no checkpoint of its own (its consumer group and lag say where it is); `worker`: a reaction ' +
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
      }),
    ),
  }),
  { title: 'ProjectionStatusList', description: 'Every read model with its checkpoint.' },
);

export const rebuildResult = describe(
  object({
    projection: projectionName,
    events: describe(integer({ min: 0 }), { description: 'Events replayed into the new tables.' }),
    seconds: describe(number({ min: 0 }), { description: 'How long the rebuild took.' }),
  }),
  { title: 'RebuildResult' },
);

export const operationsTags: Readonly<Record<string, string>> = {
  operations: 'Running the read models: status and rebuilds. Admins only.',
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
      'Replays the event store into shadow tables and swaps them in atomically; the live model keeps serving ' +
      'meanwhile. Any process with the `api` or `projections` role can run it, whether or not it consumes for ' +
      'the model: the swap locks the live tables, so consumers anywhere wait for it and go on in the new tables.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    responses: { 200: { description: 'The model was rebuilt.', body: rebuildResult } },
    errors: [
      { status: 404, description: 'There is no SQL read model of that name (`projection_not_found`).' },
    ],
  },
];
