import type { RecordedEvent } from '@lectern/schemas';
import { START, type EventStore } from '../ports/event-store.ts';
import type { Sql } from '../sql/sql.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { periodic } from './periodic.ts';
import { applyBatch, eventDigest, liveTables } from './projection-runner.ts';
import type { SqlProjection } from './projection.ts';

/** An event of the store that the projection's ledger shows it never applied. */
export type AuditedEvent = Readonly<{
  streamId: string;
  eventId: string;
  revision: number;
  position: number;
  type: string;
  occurredAt: string;
}>;

/** A stream whose ledger disagrees with the store in a way one missing event does not explain. */
export type AuditedStream = Readonly<{ streamId: string; inStore: number; applied: number }>;

export type AuditReport = Readonly<{
  projection: string;
  /** The store's events the audit read (of the types the projection reads), and their streams. */
  events: number;
  streams: number;
  /** Below a stream's checkpoint, in the store, not in the ledger: named from the digests. */
  skipped: readonly AuditedEvent[];
  /** Past the stream's checkpoint and older than the grace period: the model never got them. */
  unapplied: readonly AuditedEvent[];
  /** The ledger counts more events than the store holds below the checkpoint. */
  doubled: readonly AuditedStream[];
  /** Fewer in the ledger than in the store by more than one: `lectern rebuild` settles them. */
  unaccounted: readonly AuditedStream[];
  /** Past the checkpoint but younger than the grace period: in flight, not a finding. */
  pending: number;
  /** Streams whose checkpoint predates the ledger (applied before it existed): not audited. */
  unaudited: number;
  /** Events re-applied by `repair` (skipped and unapplied ones). */
  repaired: number;
  /** skipped + unapplied + doubled + unaccounted, before any repair. */
  findings: number;
}>;

type Checkpoint = { revision: number; applied: bigint | null; digest: bigint | null };
type Tally = { count: number; digest: bigint };

/** At most this many events of each kind are named in a report; the counts go on. */
const NAMED = 1000;

const named = (e: RecordedEvent): AuditedEvent => ({
  streamId: e.streamId,
  eventId: e.id,
  revision: e.revision,
  position: e.position,
  type: e.type,
  occurredAt: e.occurredAt,
});

const checkpointsOf = async (sql: Sql, table: string): Promise<Map<string, Checkpoint>> =>
  new Map(
    (
      await sql.query<{ stream_id: string; revision: string; applied: string | null; digest: string | null }>(
        `select stream_id, revision::text, applied::text, digest::text from ${table}`,
      )
    ).map((r) => [
      r.stream_id,
      {
        revision: Number(r.revision),
        applied: r.applied === null ? null : BigInt(r.applied),
        digest: r.digest === null ? null : BigInt(r.digest),
      },
    ]),
  );

/**
 * Audits a PostgreSQL read model against the event store: did it apply,
 * once, every event of the types it reads?
 *
 * 1. Read the model's checkpoints and their ledgers (per stream: how many
 *    events it applied, dead-lettered ones included, and the XOR of their
 *    `eventDigest`s; projection-runner.ts keeps them in the transaction
 *    that applies the events).
 * 2. Read the store's feed from the start, the projection's event types
 *    only, keeping per stream a count and a digest of the events at or
 *    below its checkpoint: constant memory per stream, whatever the store holds.
 * 3. Compare: equal is clean; one event fewer in the ledger names the event
 *    (its digest is the XOR of the two), which is read back from its
 *    stream; more in the ledger is doubled; any other difference is
 *    unaccounted for. An event past its stream's checkpoint is in flight
 *    while younger than `graceMs`, and unapplied once older: a lost
 *    message leaves the checkpoint short of the stream's last events.
 * 4. With `repair`, in one transaction that locks the checkpoints (a
 *    consumer of the model, in any process, waits; its next batch finds
 *    them applied and drops them), apply the skipped and unapplied events
 *    in store order, counted into the ledger. A skipped event is applied
 *    after later ones of its stream were: a model whose rows depend on the
 *    order should be compared again (`lectern diff`) or rebuilt.
 */
export const auditProjection = async (opts: {
  sql: Sql;
  store: EventStore;
  projection: SqlProjection;
  repair?: boolean;
  /** How old an event past its checkpoint must be to count as unapplied; default 5 minutes. */
  graceMs?: number;
  now?: () => number;
  pageSize?: number;
  /** Ends the read of the store between two pages (a process stopping). */
  signal?: AbortSignal;
}): Promise<AuditReport> => {
  const { sql, store, projection: p } = opts;
  const live = liveTables(p);
  const checkpoints = live['__checkpoints']!;
  const reads = new Set(p.eventTypes);
  const olderThan = (opts.now?.() ?? Date.now()) - (opts.graceMs ?? 300_000);
  const pageSize = opts.pageSize ?? 5000;

  // 1.
  const ledger = await checkpointsOf(sql, checkpoints);

  // 2.
  const tallies = new Map<string, Tally>();
  const unapplied: RecordedEvent[] = [];
  let unappliedCount = 0;
  let pending = 0;
  let events = 0;
  let cursor = START;
  for (;;) {
    opts.signal?.throwIfAborted();
    const page = await store.readAll(cursor, pageSize);
    if (page.length === 0) break;
    cursor = page[page.length - 1]!.cursor;
    for (const e of page) {
      if (!reads.has(e.type)) continue;
      events++;
      const at = ledger.get(e.streamId);
      if (!at || e.revision > at.revision) {
        if (Date.parse(e.occurredAt) > olderThan) pending++;
        else if (unappliedCount++ < NAMED) unapplied.push(e);
        continue;
      }
      const tally = tallies.get(e.streamId) ?? { count: 0, digest: 0n };
      tally.count++;
      tally.digest ^= eventDigest(e.id);
      tallies.set(e.streamId, tally);
    }
  }

  // 3.
  const skipped: RecordedEvent[] = [];
  let skippedCount = 0;
  const doubled: AuditedStream[] = [];
  const unaccounted: AuditedStream[] = [];
  let unaudited = 0;
  for (const [streamId, at] of ledger) {
    if (at.applied === null || at.digest === null) {
      unaudited++;
      continue;
    }
    const tally = tallies.get(streamId) ?? { count: 0, digest: 0n };
    const applied = Number(at.applied);
    if (applied === tally.count && at.digest === tally.digest) continue;
    if (applied === tally.count - 1) {
      const missing = tally.digest ^ at.digest;
      const event = (await store.readStream(streamId)).find(
        (e) => reads.has(e.type) && eventDigest(e.id) === missing,
      );
      if (event) {
        if (skippedCount++ < NAMED) skipped.push(event);
        continue;
      }
    }
    (applied > tally.count ? doubled : unaccounted).push({ streamId, inStore: tally.count, applied });
  }
  const findings = skippedCount + unappliedCount + doubled.length + unaccounted.length;

  // 4.
  let repaired = 0;
  if (opts.repair && (skipped.length || unapplied.length)) {
    repaired = await sql.transaction(async (tx) => {
      await tx.query(`lock table ${checkpoints} in access exclusive mode`);
      // A skipped event stays so only while its ledger is the one read in 1 (another repair may have run).
      const now = await tx.query<{ stream_id: string; applied: string | null; digest: string | null }>(
        `select stream_id, applied::text, digest::text from ${checkpoints} where stream_id = any($1::text[])`,
        [[...new Set(skipped.map((e) => e.streamId))]],
      );
      const unchanged = new Set(
        now
          .filter((r) => {
            const was = ledger.get(r.stream_id);
            return String(was?.applied) === r.applied && String(was?.digest) === r.digest;
          })
          .map((r) => r.stream_id),
      );
      const restored = new Set(skipped.filter((e) => unchanged.has(e.streamId)).map((e) => e.id));
      const again = [...skipped.filter((e) => restored.has(e.id)), ...unapplied].sort(
        (a, b) => a.position - b.position,
      );
      return (await applyBatch(tx, p, live, again, new Set(), restored)).length;
    });
  }

  return {
    projection: p.name,
    events,
    streams: tallies.size,
    skipped: skipped.map(named),
    unapplied: unapplied.map(named),
    doubled: doubled.slice(0, NAMED),
    unaccounted: unaccounted.slice(0, NAMED),
    pending,
    unaudited,
    repaired,
    findings,
  };
};

/**
 * Audits every read model every `everyMs` (the first time `everyMs` after
 * `start`), events only (no replay of the rows), one after the other: each finding is logged with the events it
 * names and counted into `lectern_projection_audit_findings`, which the
 * `ProjectionAuditFindings` alert watches. Read-only: repairs are the
 * operator's (`lectern audit <projection> --repair`).
 *
 * @example
 *   const audits = scheduledAudits({ sql, store, projections, metrics, logger, everyMs: 6 * 3600_000 });
 *   audits.start(); … await audits.stop();
 */
export const scheduledAudits = (deps: {
  sql: Sql;
  store: EventStore;
  projections: readonly SqlProjection[];
  metrics: Metrics;
  logger: Logger;
  everyMs: number;
}) => {
  const log = deps.logger.child({ component: 'audit' });
  const stopping = new AbortController();
  const audits = periodic(
    async () => {
      for (const projection of deps.projections) {
        if (stopping.signal.aborted) return;
        const report = await auditProjection({
          sql: deps.sql,
          store: deps.store,
          projection,
          signal: stopping.signal,
        });
        deps.metrics.projectionAuditFindings.set({ projection: projection.name }, report.findings);
        deps.metrics.projectionAuditedAt.set({ projection: projection.name }, Date.now() / 1000);
        const { skipped, unapplied, doubled, unaccounted, events, unaudited } = report;
        if (report.findings)
          log.error(
            { projection: projection.name, skipped, unapplied, doubled, unaccounted, events },
            'the audit found events the projection did not apply once: lectern audit <projection> --repair',
          );
        else log.info({ projection: projection.name, events, unaudited }, 'projection audited');
      }
    },
    deps.everyMs,
    (error) => {
      if (!stopping.signal.aborted) log.warn({ err: error }, 'audit failed; the next one is due in its time');
    },
    'later',
  );
  return {
    start: audits.start,
    /** Ends the audit in hand between two pages of the store, so a shutdown is not held up by it. */
    async stop() {
      stopping.abort();
      await audits.stop();
    },
  };
};
