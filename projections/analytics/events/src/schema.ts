import { ch, ident, type ChSql } from '@lectern/infra/analytics/sql';

/**
 * The analytics tables, in one place, as SQL that ClickHouse 18.16 and chDB
 * (26.x) both run. What 18.16 lacks shapes it: no `DateTime64` (times are
 * epoch milliseconds in `Int64`), `LowCardinality` is experimental there
 * (plain `String`), and JSONEachRow inserts fill omitted columns with zero
 * values rather than their DEFAULT expressions (so derived columns are
 * MATERIALIZED: always computed, never sent).
 *
 * Tables:
 * - `events`: every analytics event, client telemetry (`kind = 'telemetry'`)
 *   and the domain events of the other contexts (`kind = 'domain'`) side by
 *   side, so one funnel or cohort can mix behaviour and domain facts.
 *   ReplacingMergeTree whose sorting key ends in the event id: copies of an
 *   event (redelivery, replay) share every key column, so they collapse when
 *   parts merge. Until then a copy is visible, hence the rule of the port:
 *   count ids with `uniqExact`, or read `FINAL`.
 * - `user_days`: one row per user and UTC day with any event, filled by the
 *   materialized view `user_days_mv` at insert time. Distinct by nature, so
 *   copies of events cannot inflate it; DAU/WAU/MAU and retention read it
 *   instead of scanning `events`.
 * - `user_first_seen`: the first UTC day each user was seen, as a `min` state
 *   (AggregatingMergeTree, fed by `user_first_seen_mv`). A minimum is the
 *   same however often an event is counted, so copies are harmless; read it
 *   with `minMerge(first_day) … GROUP BY user_id`, since one user has one row
 *   per insert until parts merge. Retention cohorts start from it, so that a
 *   report over a few weeks need not scan all history for first visits.
 * The rollups are fed on insert only: events that were in `events` before a
 * rollup existed reach it through `rollupBackfill`, which may run while
 * events arrive (copies collapse, as above).
 *
 * Changing a table later needs an ALTER written for 18.16 (which has no
 * `ADD COLUMN IF NOT EXISTS`); these statements only create what is missing.
 */
export const ANALYTICS_TABLES = ['events', 'user_days', 'user_first_seen'] as const;
export type AnalyticsTable = (typeof ANALYTICS_TABLES)[number];
/** The materialized views that feed the rollups from `events`. */
export const ANALYTICS_VIEWS = ['user_days_mv', 'user_first_seen_mv'] as const;
export type AnalyticsView = (typeof ANALYTICS_VIEWS)[number];

export type EventKind = 'telemetry' | 'domain';

/** A row of `events` as inserted (`event_date` is computed by the table). */
export type EventRow = Readonly<{
  /** Unique per event: a client-generated UUID for telemetry, the envelope id for domain events. */
  event_id: string;
  kind: EventKind;
  /** `course.viewed` (telemetry) or `<context>.<PastTense>` (domain). */
  type: string;
  /** The acting user; empty when there is none. */
  user_id: string;
  /** Where it came from: `web`, `ios`, a server-side source, or the context of a domain event. */
  source: string;
  /** Epoch milliseconds. */
  occurred_at: number;
  /** The event's own data as JSON text. */
  payload: string;
  /** Domain events: the aggregate's stream; empty for telemetry. */
  stream_id: string;
  schema_version: number;
  /** Epoch milliseconds at which analytics received it; the newest copy wins a merge. */
  ingested_at: number;
}>;

/** Fills the columns a caller may leave out, so every insert names every column (see above). */
export const eventRow = (
  e: Pick<EventRow, 'event_id' | 'type' | 'occurred_at'> & Partial<EventRow>,
  now: number = Date.now(),
): EventRow => ({
  event_id: e.event_id,
  kind: e.kind ?? 'telemetry',
  type: e.type,
  user_id: e.user_id ?? '',
  source: e.source ?? '',
  occurred_at: e.occurred_at,
  payload: e.payload ?? '{}',
  stream_id: e.stream_id ?? '',
  schema_version: e.schema_version ?? 1,
  ingested_at: e.ingested_at ?? now,
});

/** The UTC day of an epoch-milliseconds time, as the tables compute it. */
export const utcDay = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 10);

/**
 * The statements that create the analytics tables and views in `database`,
 * in dependency order (a materialized view after the tables it reads and
 * writes). The store creates the database itself; the analytics module
 * hands these to `ensureSchema` at start. A rebuild creates a shadow model
 * beside the live one with `suffix` (`_v<N>`) on every table and view name,
 * its views reading and writing the suffixed tables.
 *
 * @example await store.ensureSchema(analyticsSchema(store.database));
 */
export const analyticsSchema = (database: string, suffix = ''): readonly ChSql[] => {
  const t = (name: AnalyticsTable | AnalyticsView) => ident(database, `${name}${suffix}`);
  return [
    ch`CREATE TABLE IF NOT EXISTS ${t('events')} (
      event_id String,
      kind Enum8('telemetry' = 1, 'domain' = 2),
      type String,
      user_id String,
      source String,
      occurred_at Int64,
      event_date Date MATERIALIZED toDate(toDateTime(intDiv(occurred_at, 1000), 'UTC')),
      payload String,
      stream_id String,
      schema_version UInt16,
      ingested_at UInt64
    ) ENGINE = ReplacingMergeTree(ingested_at)
    PARTITION BY toYYYYMM(event_date)
    ORDER BY (kind, type, event_date, user_id, event_id)`,
    ch`CREATE TABLE IF NOT EXISTS ${t('user_days')} (
      event_date Date,
      user_id String
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(event_date)
    ORDER BY (event_date, user_id)`,
    ch`CREATE MATERIALIZED VIEW IF NOT EXISTS ${t('user_days_mv')} TO ${t('user_days')} AS
      SELECT event_date, user_id FROM ${t('events')}
      WHERE user_id != ''
      GROUP BY event_date, user_id`,
    ch`CREATE TABLE IF NOT EXISTS ${t('user_first_seen')} (
      user_id String,
      first_day AggregateFunction(min, Date)
    ) ENGINE = AggregatingMergeTree
    ORDER BY user_id`,
    ch`CREATE MATERIALIZED VIEW IF NOT EXISTS ${t('user_first_seen_mv')} TO ${t('user_first_seen')} AS
      SELECT user_id, minState(event_date) AS first_day FROM ${t('events')}
      WHERE user_id != ''
      GROUP BY user_id`,
  ];
};

/**
 * Statements that fill the rollups from what `events` holds, for a database
 * whose events predate a rollup (the views only see inserts made after they
 * exist). Safe to run at any time and more than once, also while events
 * arrive: every rollup holds distinct facts or minima, which copies leave
 * unchanged. It reads all of `events`, so run it when an upgrade adds a
 * rollup, not routinely.
 *
 * @example for (const statement of rollupBackfill(store.database)) await store.exec(statement);
 */
export const rollupBackfill = (database: string): readonly ChSql[] => {
  const t = (name: AnalyticsTable) => ident(database, name);
  return [
    ch`INSERT INTO ${t('user_days')} (event_date, user_id)
      SELECT event_date, user_id FROM ${t('events')}
      WHERE user_id != ''
      GROUP BY event_date, user_id`,
    ch`INSERT INTO ${t('user_first_seen')} (user_id, first_day)
      SELECT user_id, minState(event_date) FROM ${t('events')}
      WHERE user_id != ''
      GROUP BY user_id`,
  ];
};
