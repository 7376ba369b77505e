import { contextOf, type MetadataKey, type RecordedEvent } from '@lectern/schemas';
import type { IngestMessage } from '@lectern/schemas/analytics/ingest';
import { decisionEventsOf, isDeliveryEvent } from '@lectern/schemas/notifications/events';
import type { EventRow } from './schema.ts';

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
 * The metadata keys a domain event's rows are made of (`subjectOf` reads
 * the actor): all a rebuild reads of the store's metadata, which is most of
 * an event's JSON.
 */
export const ROW_METADATA = ['actor'] as const satisfies readonly MetadataKey[];

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

/**
 * A domain event as rows of `events`: one, except for an event that records
 * many facts at once, which is a row per fact. So far that is the
 * notifications worker's `NotificationsDecided` (a page of a fan-out's
 * decisions): a row per decision, as the single-decision event it stands
 * for (its id, type and data), so analytics counts decisions the same
 * whichever way they were recorded.
 */
export const domainRows = (e: RecordedEvent, ingestedAt: number): EventRow[] =>
  e.type === 'notifications.NotificationsDecided' && isDeliveryEvent(e)
    ? decisionEventsOf(e).map((d) => domainRow(d, ingestedAt))
    : [domainRow(e, ingestedAt)];
