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
const bigint = (description: string) => describe(string({ pattern: /^\d+$/ }), { description });

export const projectionStatusList = describe(
  object({
    items: arrayOf(
      object({
        name: projectionName,
        version: integer({ min: 1 }),
        applied_events: bigint(
          'Events applied since the model was created or rebuilt (a decimal string: a bigint).',
        ),
        last_position: describe(nullable(string({ pattern: /^\d+$/ })), {
          description: 'Global position of the last event applied (a decimal string), `null` before any.',
        }),
        last_event_at: nullable(isoTime()),
        last_applied_at: nullable(isoTime()),
        rebuilt_at: nullable(isoTime()),
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
      "meanwhile. Runs in the process that answers, which must run the projection (this process's consumer of " +
      'it pauses for the swap): with several replicas of the projection, scale it to one first.',
    tags: ['operations'],
    security: { roles: ['admin'] },
    params: { name: projectionName },
    responses: { 200: { description: 'The model was rebuilt.', body: rebuildResult } },
    errors: [
      { status: 404, description: 'The projection does not run in this process (`projection_not_here`).' },
    ],
  },
];
