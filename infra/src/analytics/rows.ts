import { contextOf, type RecordedEvent } from '@lectern/schemas';
import type { EventRow } from './schema.ts';

/** The topic the ingest endpoint produces client telemetry to. */
export const ingestTopic = (namespace = 'lectern'): string => `${namespace}.analytics.ingest`;

/**
 * One telemetry event on `<ns>.analytics.ingest`, as the ingest endpoint
 * produces it (JSON in the message value) after validating it. Keyed by
 * user id (or the event id when there is no user), so one user's events
 * keep their order.
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

/** A telemetry event as a row of `events`. */
export const telemetryRow = (m: IngestMessage, ingestedAt: number): EventRow => ({
  event_id: m.id,
  kind: 'telemetry',
  type: m.type,
  user_id: m.userId ?? '',
  source: m.source,
  occurred_at: m.occurredAt,
  payload: JSON.stringify(m.payload ?? null),
  stream_id: '',
  schema_version: 1,
  ingested_at: ingestedAt,
});

/**
 * The user a domain event is about: `data.userId` when the event names one
 * (a registration, a profile change: the subject, even when an admin or the
 * system acted), else the acting user, else none.
 */
export const subjectOf = (e: RecordedEvent): string => {
  const data = e.data as { userId?: unknown } | null;
  if (data && typeof data === 'object' && typeof data.userId === 'string') return data.userId;
  return e.metadata?.actor?.userId ?? '';
};

/** Keys whose values never reach analytics: secrets (hashes, salts, tokens) and contact data. */
const WITHHELD_KEY = /hash|salt|token|secret|password|email|phone|code/i;
/** Events whose `from`/`to` are addresses or numbers. */
const CONTACT_CHANGES = new Set(['identity.EmailChanged', 'identity.PhoneChanged']);

const withhold = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withhold);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !WITHHELD_KEY.test(key))
      .map(([key, v]) => [key, withhold(v)]),
  );
};

/**
 * The part of a domain event's data that analytics keeps. Analysts read
 * ClickHouse directly, so what must not be read there never enters it:
 * any key naming a hash, salt, token, secret, password, code, e-mail or
 * phone is dropped at every depth, and so are the old and new values of an
 * e-mail or phone change. The rest (ids, reasons, roles, devices, profile
 * changes) stays, for funnels and cohorts over domain facts.
 */
export const analyticsPayload = (e: RecordedEvent): unknown => {
  const data = withhold(e.data ?? null);
  if (CONTACT_CHANGES.has(e.type) && data && typeof data === 'object') {
    const { from: _from, to: _to, ...rest } = data as Record<string, unknown>;
    return rest;
  }
  return data;
};

/** A domain event of another context as a row of `events`. */
export const domainRow = (e: RecordedEvent, ingestedAt: number): EventRow => {
  const occurredAt = Date.parse(e.occurredAt);
  if (!Number.isFinite(occurredAt)) throw new Error(`event ${e.id} has no valid occurredAt`);
  return {
    event_id: e.id,
    kind: 'domain',
    type: e.type,
    user_id: subjectOf(e),
    source: contextOf(e.type),
    occurred_at: occurredAt,
    payload: JSON.stringify(analyticsPayload(e)),
    stream_id: e.streamId,
    schema_version: e.schemaVersion,
    ingested_at: ingestedAt,
  };
};
