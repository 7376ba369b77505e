import { describe, integer, json, nullable, object, string } from '../validation.ts';
/**
 * The topic the ingest endpoint produces client telemetry to, beside the
 * context's events topic (`topicOf('analytics')`). The namespace is
 * `lectern` in a deployment; tests and benchmarks sharing one broker each
 * take their own.
 */
export const ingestTopic = (namespace = 'lectern'): string => `${namespace}.analytics.ingest`;

/**
 * One telemetry event on `<ns>.analytics.ingest`, as the ingest endpoint
 * produces it (JSON in the message value) after validating it. Keyed by
 * user id (or the event id when there is no user), so one user's events
 * keep their order. The endpoint writes it and the analytics projector
 * reads it: the type sits here so that neither imports the other.
 */
export type IngestMessage = Readonly<{
  /** Unique per event, stable across the client's retries: copies collapse by it. */
  id: string;
  type: string;
  userId: string | null;
  source: string;
  /** Epoch milliseconds, the client's time of the event. */
  occurredAt: number;
  /** The event's own data, any JSON. */
  payload: unknown;
  /** Epoch milliseconds at which the endpoint accepted it. */
  receivedAt: number;
}>;

/** The message as the AsyncAPI document shows it (the projector decodes it with `decodeIngestMessage`). */
export const ingestMessageSchema = describe(
  object({
    id: string({ min: 1, max: 128 }),
    type: string({ min: 1, max: 100 }),
    userId: nullable(string({ min: 1, max: 128 })),
    source: string({ min: 1, max: 50 }),
    occurredAt: describe(integer(), { description: 'Epoch milliseconds, by the client.' }),
    payload: json(),
    receivedAt: describe(integer(), { description: 'Epoch milliseconds, when the endpoint accepted it.' }),
  }),
  { title: 'TelemetryMessage' },
);

const fail = (why: string): never => {
  throw new Error(`not an analytics ingest message: ${why}`);
};

/** Parses and checks a message value; throws (the message is dead-lettered) when it is not one. */
export const decodeIngestMessage = (value: string): IngestMessage => {
  const m = JSON.parse(value) as Partial<IngestMessage> | null;
  if (typeof m !== 'object' || m === null) return fail('not an object');
  if (typeof m.id !== 'string' || m.id === '') fail('id');
  if (typeof m.type !== 'string' || m.type === '') fail('type');
  if (m.userId !== null && typeof m.userId !== 'string') fail('userId');
  if (typeof m.source !== 'string') fail('source');
  if (typeof m.occurredAt !== 'number' || !Number.isSafeInteger(m.occurredAt) || m.occurredAt < 0)
    fail('occurredAt');
  if (typeof m.receivedAt !== 'number' || !Number.isFinite(m.receivedAt)) fail('receivedAt');
  return m as IngestMessage;
};
