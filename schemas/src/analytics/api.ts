import type { ApiOperation } from '../openapi.ts';
import { describe, integer, object } from '../validation.ts';
import { INGEST_LIMITS, INGEST_PATH } from './limits.ts';
import { ingestRequest } from './requests.ts';

/* What the analytics ingest route answers (command-services/analytics). */

export const ingestAccepted = describe(
  object({
    accepted: describe(integer({ min: 0, max: INGEST_LIMITS.maxEvents }), {
      description: 'How many events were taken: every event of the batch.',
    }),
  }),
  {
    title: 'IngestAccepted',
    description: 'The batch is on the log; the events reach the reports within seconds.',
  },
);

/** The header server-side sources send their ingest key in. */
export const INGEST_KEY_HEADER = 'X-Ingest-Key';

/** Tags of the analytics operations. */
export const analyticsTags: Readonly<Record<string, string>> = {
  analytics: 'Product analytics: telemetry ingest, reports and exports.',
};

const mib = INGEST_LIMITS.maxBodyBytes / (1024 * 1024);

/** The ingest route (reports and exports are described with their own routes). */
export const analyticsIngestApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: INGEST_PATH,
    operationId: 'ingestAnalyticsEvents',
    summary: 'Send a batch of telemetry events',
    description:
      'Validates every event and produces the batch to the message log, from which the analytics ' +
      'projector writes it into ClickHouse; the event store is not involved. The answer comes once the ' +
      'log has acknowledged the batch, so an accepted event survives the process dying right after. ' +
      'A batch with any invalid event is refused whole. A retry with the same `Idempotency-Key` is ' +
      'answered the first answer again, and events sent again with the same `id` are counted once.\n\n' +
      `Limits: ${INGEST_LIMITS.maxEvents} events and ${mib} MiB of JSON per request, ` +
      `${INGEST_LIMITS.maxPayloadBytes / 1024} KiB per payload.\n\n` +
      "Authenticate with a user's bearer token, or, for server-side sources, with an ingest key in " +
      `\`${INGEST_KEY_HEADER}\`.`,
    tags: ['analytics'],
    security: 'bearer',
    apiKey: {
      name: 'ingestKey',
      header: INGEST_KEY_HEADER,
      description:
        'An ingest key for server-side sources, instead of a bearer token. The server is configured with ' +
        'the SHA-256 digests of its keys (`ANALYTICS_INGEST_KEYS`), never the keys.',
    },
    body: ingestRequest,
    responses: {
      202: { description: 'Every event of the batch was produced to the log.', body: ingestAccepted },
    },
    errors: [
      {
        status: 400,
        description:
          '`validation_failed`: `errors[]` names every bad item by its pointer (`/events/3/type`); ' +
          'nothing of the batch was taken. `malformed_json` and `unsupported_media_type` concern the body.',
      },
      {
        status: 401,
        description:
          'No valid credentials: `token_missing`, `token_invalid`, `token_expired`, `token_unknown_key` ' +
          'for a bearer token, `ingest_key_invalid` for an ingest key.',
      },
      {
        status: 403,
        description:
          "`user_not_yours`: a `userId` other than the token's own user, and the caller is not an admin; " +
          '`errors[]` names the items.',
      },
      {
        status: 413,
        description:
          `\`payload_too_large\`: the body is over ${mib} MiB; \`too_many_events\`: over ` +
          `${INGEST_LIMITS.maxEvents} events. Split the batch.`,
      },
      { status: 503, description: '`log_unavailable`: the message log did not take the batch; retry it.' },
    ],
  },
];
