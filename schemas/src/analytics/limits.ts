/**
 * The limits of `POST /api/analytics/ingest`, in one place: the validators,
 * the route, the body parser and the documents (OpenAPI, docs/contexts/
 * analytics.md) all read them from here.
 */
export const INGEST_PATH = '/api/analytics/ingest';

export const INGEST_LIMITS = {
  /** Events per request; more is 413 `too_many_events`. */
  maxEvents: 1000,
  /** Bytes of JSON per request (after any Content-Encoding is undone); more is 413 `payload_too_large`. */
  maxBodyBytes: 1024 * 1024,
  /** Characters of an event's `source`. */
  maxSourceLength: 50,
  /** Bytes of an event's `payload` as compact JSON (UTF-8). */
  maxPayloadBytes: 16 * 1024,
  /** How far ahead of the server's clock an event's `time` may be (clients' clocks drift). */
  maxFutureMs: 24 * 3600_000,
  /** How far behind the server's clock an event's `time` may be (offline clients flush late). */
  maxAgeMs: 30 * 24 * 3600_000,
} as const;

/** An event type: lower case, dotted or dashed words (`lesson.completed`), at most 100 characters. */
export const INGEST_EVENT_TYPE = /^[a-z][a-z0-9_.-]{0,99}$/;
