import type { RecordedEvent } from '@lectern/schemas';
import type { LogMessage, OutgoingMessage } from '../ports/message-log.ts';

/**
 * How an event travels on the log: the whole envelope as JSON in the value,
 * keyed by stream id (per-aggregate order within a partition), and the
 * metadata repeated in headers so that tooling and tracing can read it
 * without parsing the value.
 */
export const toLogMessage = (e: RecordedEvent): OutgoingMessage => ({
  key: e.streamId,
  value: JSON.stringify({
    id: e.id,
    type: e.type,
    schemaVersion: e.schemaVersion,
    streamId: e.streamId,
    revision: e.revision,
    position: e.position,
    occurredAt: e.occurredAt,
    data: e.data,
    metadata: e.metadata,
  }),
  headers: {
    'event-id': e.id,
    'event-type': e.type,
    'schema-version': String(e.schemaVersion),
    'stream-id': e.streamId,
    revision: String(e.revision),
    position: String(e.position),
    'correlation-id': e.metadata.correlationId,
    ...(e.metadata.causationId ? { 'causation-id': e.metadata.causationId } : {}),
    ...(e.metadata.traceparent ? { traceparent: e.metadata.traceparent } : {}),
    ...(e.metadata.requestId ? { 'request-id': e.metadata.requestId } : {}),
    ...(e.metadata.actor?.userId ? { 'actor-id': e.metadata.actor.userId } : {}),
  },
});

export const fromLogMessage = (m: LogMessage): RecordedEvent => {
  const e = JSON.parse(m.value) as RecordedEvent;
  if (typeof e.id !== 'string' || typeof e.type !== 'string' || typeof e.streamId !== 'string')
    throw new Error(`message ${m.topic}/${m.partition}@${m.offset} is not an event`);
  return e;
};
