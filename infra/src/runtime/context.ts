import { randomBytes, randomUUID } from 'node:crypto';
import type { Actor, EventMetadata } from '@lectern/schemas';

/** What one request carries through handlers into event metadata and log headers. */
export type RequestContext = Readonly<{
  requestId: string;
  correlationId: string;
  /** Id of whatever caused this work: the request's idempotency key or id (metadata only). */
  causationId: string;
  /**
   * What the ids of the events this request appends derive from: made by the
   * server, or given by a claimed `Idempotency-Key` (infra/src/http/idempotency.ts).
   * Never a header a client chooses freely (ARCHITECTURE rule 9).
   */
  commandId: string;
  traceparent: string;
  actor: Actor | null;
}>;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Continues the caller's W3C trace (same trace id, a new span id for this
 * hop) or starts one.
 */
export const childTraceparent = (incoming: string | undefined): string => {
  const span = randomBytes(8).toString('hex');
  const m = incoming ? TRACEPARENT.exec(incoming) : null;
  if (m && !/^0+$/.test(m[1]!)) return `00-${m[1]}-${span}-${m[3]}`;
  return `00-${randomBytes(16).toString('hex')}-${span}-01`;
};

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Takes a client-supplied id when it is well-formed, else makes one. */
export const idFrom = (value: string | undefined): string =>
  value && SAFE_ID.test(value) ? value : randomUUID();

export const eventMetadata = (ctx: RequestContext): EventMetadata => ({
  correlationId: ctx.correlationId,
  causationId: ctx.causationId,
  actor: ctx.actor,
  requestId: ctx.requestId,
  traceparent: ctx.traceparent,
});

/**
 * The metadata of an event a worker records because of another: the same
 * correlation and trace, the cause as its causation, no actor or request
 * (a worker acts on its own behalf).
 */
export const causedBy = (
  cause: Readonly<{ id: string; metadata: Pick<EventMetadata, 'correlationId' | 'traceparent'> }>,
): EventMetadata => ({
  correlationId: cause.metadata.correlationId,
  causationId: cause.id,
  actor: null,
  requestId: null,
  traceparent: cause.metadata.traceparent,
});
