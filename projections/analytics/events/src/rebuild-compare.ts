import { ch, raw, type ChSql } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { DIFFERING_KEYS_SHOWN, type TableVerification } from '@lectern/infra/runtime/rebuild-verify';

/**
 * How a rebuilt `events` is compared with the live one before it is swapped
 * in: its domain rows (telemetry is not the store's, so a replay cannot
 * judge it) at one cut of the store, by count and by a checksum over every
 * row, and where they differ, the event ids of the rows that do.
 *
 * A row's hash is `cityHash64` over its columns in table order, each value
 * hashed in its own type (so no separator can make two rows read alike),
 * without `ingested_at` (when analytics received it: a rebuild's is its
 * own) and `event_date` (computed from `occurred_at`). The checksum is the
 * sum of the hashes modulo 2^64: no order, one row in memory at a time, and
 * it is computed in ClickHouse. Both sides are read `FINAL`, since copies of
 * an event collapse only when parts merge; the rebuild and the comparison
 * run on one server, so the hash needs no stability across versions.
 */
export const ROW_HASH = raw(
  'cityHash64(event_id, toString(kind), type, user_id, source, occurred_at, payload, stream_id, schema_version)',
);

/** A live domain row the rebuilt model does not have: its event id and hash (a decimal UInt64). */
export type LiveOnlyRow = Readonly<{ event_id: string; h: string }>;

const MASK = (1n << 64n) - 1n;

/**
 * The live domain rows whose event the rebuilt model does not hold: events
 * after the cut (the live model goes on applying) and rows no event of the
 * store makes. The caller tells them apart with the store.
 */
export const liveOnlyRows = (
  analytics: AnalyticsStore,
  live: ChSql,
  rebuilt: ChSql,
): Promise<LiveOnlyRow[]> =>
  analytics.query<LiveOnlyRow>(
    ch`SELECT event_id, toString(${ROW_HASH}) AS h FROM ${live} FINAL
       WHERE kind = 'domain' AND event_id NOT IN (SELECT event_id FROM ${rebuilt})`,
  );

type Summary = { n: number; checksum: string };

/**
 * Compares the domain rows of `rebuilt` (the store's events up to the cut,
 * and nothing else) with those of `live` at the cut: the live rows of the
 * rebuilt model's events, plus `strays`, live rows that no event of the
 * store makes. Live rows of events after the cut are left out by
 * construction (their ids are not in `rebuilt`), however many arrive while
 * it runs.
 */
export const compareDomainRows = async (
  analytics: AnalyticsStore,
  live: ChSql,
  rebuilt: ChSql,
  strays: readonly LiveOnlyRow[],
): Promise<TableVerification> => {
  const ofRebuilt = ch`SELECT event_id FROM ${rebuilt}`;
  const [l] = await analytics.query<Summary>(
    ch`SELECT count() AS n, toString(sum(${ROW_HASH})) AS checksum FROM ${live} FINAL
       WHERE kind = 'domain' AND event_id IN (${ofRebuilt})`,
  );
  const [r] = await analytics.query<Summary>(
    ch`SELECT count() AS n, toString(sum(${ROW_HASH})) AS checksum FROM ${rebuilt} FINAL WHERE kind = 'domain'`,
  );
  const liveChecksum = strays.reduce((sum, s) => (sum + BigInt(s.h)) & MASK, BigInt(l!.checksum));
  const base = {
    table: 'events',
    liveRows: l!.n + strays.length,
    rebuiltRows: r!.n,
    liveChecksum: liveChecksum.toString(),
    rebuiltChecksum: r!.checksum,
  };
  if (strays.length === 0 && l!.n === r!.n && l!.checksum === r!.checksum)
    return { ...base, differingRows: 0, differingKeys: [] };
  // An event id whose rows differ: missing live, changed, or live more than once (a key column changed).
  const differing = ch`SELECT event_id FROM (
      SELECT event_id, ${ROW_HASH} AS h, 1 AS side FROM ${rebuilt} FINAL WHERE kind = 'domain'
      UNION ALL
      SELECT event_id, ${ROW_HASH} AS h, 2 AS side FROM ${live} FINAL
       WHERE kind = 'domain' AND event_id IN (${ofRebuilt})
    ) GROUP BY event_id
    HAVING count() != 2 OR min(side) = max(side) OR min(h) != max(h)`;
  const [count] = await analytics.query<{ n: number }>(ch`SELECT count() AS n FROM (${differing})`);
  const first = await analytics.query<{ event_id: string }>(
    ch`${differing} ORDER BY event_id LIMIT ${DIFFERING_KEYS_SHOWN}`,
  );
  const ids = [...first.map((row) => row.event_id), ...strays.map((s) => s.event_id)].sort();
  return {
    ...base,
    differingRows: count!.n + strays.length,
    differingKeys: ids.slice(0, DIFFERING_KEYS_SHOWN).map((event_id) => ({ event_id })),
  };
};
