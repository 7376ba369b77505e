import test from 'ava';
import { analyticsIngestFlow, INGEST_KEY_DIGESTS } from './analytics-ingest-flow.ts';
import { onEveryProfile } from './testing.ts';

// Embedded: PGlite, the log in PGlite tables, chDB in the data folder; then
// PostgreSQL, Kafka and a ClickHouse database of the run's own.
onEveryProfile(test, analyticsIngestFlow, {
  clickhouse: true,
  env: { ANALYTICS_INGEST_KEYS: INGEST_KEY_DIGESTS },
});
