import { setTimeout as sleep } from 'node:timers/promises';
import { contextOf, topicOf } from '@lectern/schemas';
import { ingestTopic } from '@lectern/schemas/analytics/ingest';
import { ch, ident, join, raw, type ChSql } from '@lectern/infra/analytics/sql';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { START, type EventStore, type FeedCursor } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import type { Logger } from '@lectern/infra/runtime/logger';
import {
  RebuildNotVerified,
  type RebuildResult,
  type RebuildVerification,
} from '@lectern/infra/runtime/projection-runner';
import { relayedUpTo } from '@lectern/infra/runtime/relay';
import type { Sql } from '@lectern/infra/sql/sql';
import { compareDomainRows, liveOnlyRows } from './rebuild-compare.ts';
import { domainRows, ROW_METADATA } from './rows.ts';
import { ANALYTICS_TABLES, ANALYTICS_VIEWS, analyticsSchema, type EventRow } from './schema.ts';

export type AnalyticsRebuildDeps = Readonly<{
  analytics: AnalyticsStore;
  /** The event store: the rebuild replays its domain events. */
  store: EventStore;
  /** The log the live projector consumes: its offsets say what the live model has applied. */
  log: MessageLog;
  /** The database of the relay's checkpoint: what the log holds of the store. */
  sql: Sql;
  logger: Logger;
  /** As the projector's: topics and consumer group. Default `lectern`. */
  namespace?: string;
  /** The contexts whose domain events the projector takes; default `['profile']`, as the projector's. */
  contexts?: readonly string[];
  /** The projector's name (its consumer group); default `analytics`. */
  name?: string;
  /** Epoch milliseconds now: the `ingested_at` of replayed rows, and the shadow tables' `_v<N>`. */
  now?: () => number;
  /** Partitions of a topic the rebuild has to create to read its offsets; default 4, as the projector. */
  partitions?: number;
}>;

export type AnalyticsRebuildOptions = Readonly<{
  /** Swap the rebuilt model in even where it differs from the live one (or could not be compared). */
  acceptDifferences?: boolean;
  /** How long the live model may take to reach the rebuilt one's position; default 60 s. */
  agreeWithinMs?: number;
  /** Events read from the store at a time; default 5000. */
  pageSize?: number;
  /** Rows per insert into the shadow; default 50 000 (ClickHouse wants few, large inserts). */
  insertRows?: number;
}>;

/** Every column of `events` but the computed `event_date`, in table order. */
const COLUMNS = raw(
  'event_id, kind, type, user_id, source, occurred_at, payload, stream_id, schema_version, ingested_at',
);
const MODEL = [...ANALYTICS_TABLES, ...ANALYTICS_VIEWS];
const VIEWS = new Set<string>(ANALYTICS_VIEWS);
/** A shadow (`_v<N>`) or retired (`_retired_v<N>`) name of the model, as a rebuild leaves them. */
const LEFTOVER = `^(${MODEL.join('|')})(_retired)?_v[0-9]+$`;

/**
 * Rebuilds the analytics tables from the event store and swaps them in, the
 * way `projectionRunner.rebuild` does for the SQL read models:
 *
 * 1. Create the model afresh as `_v<N>` tables and views (the live names
 *    keep serving reports throughout), having dropped what a rebuild that
 *    died left behind.
 * 2. Replay the store's domain events of the projector's contexts into
 *    them, in large inserts, reading the next page while one is written.
 * 3. Agree on one position with the live projector, which commits log
 *    offsets, not store positions: wait until the relay has published the
 *    store up to the replay's end, read the log's end offsets of the
 *    domain topics, and wait until the projector's group has committed
 *    them. Then the live model has applied every event of the replay.
 * 4. Verify at that cut (rebuild-compare.ts): the live rows of the replay's
 *    events, and the live rows no event of the store makes, against the
 *    rebuilt rows. A difference keeps the live model and names the event
 *    ids, unless the caller accepts it.
 * 5. Telemetry is not in the store: copy the live telemetry rows into the
 *    shadow, then catch the shadow up to the store's head.
 * 6. Swap the tables in one statement: `EXCHANGE TABLES` where the
 *    database has it (Atomic: chDB, newer servers), else one multi-table
 *    `RENAME` (ClickHouse 18.16). The live views stay: they follow names.
 * 7. Wait (bounded) until the projector has committed what the log held at
 *    the swap, so no insert into the old tables is still running; copy the
 *    telemetry that reached the old tables since 5; replay the store's
 *    events since 5 into the new ones (copies collapse); drop the old model.
 *
 * One rebuild at a time: a second one drops the first one's shadow, so the
 * caller holds the model's rebuild lock (the analytics module takes
 * `exclusively` from rebuild-lock.ts, across processes).
 *
 * @example
 *   const result = await rebuildAnalytics({ analytics, store, log, sql, logger, contexts: ['profile'] });
 */
export const rebuildAnalytics = async (
  deps: AnalyticsRebuildDeps,
  opts: AnalyticsRebuildOptions = {},
): Promise<RebuildResult> => {
  const started = performance.now();
  const { analytics, store } = deps;
  const namespace = deps.namespace ?? 'lectern';
  const name = deps.name ?? 'analytics';
  const contexts = deps.contexts ?? ['profile'];
  const now = deps.now ?? Date.now;
  const pageSize = opts.pageSize ?? 5000;
  const insertRows = opts.insertRows ?? 50_000;
  const agreeWithinMs = opts.agreeWithinMs ?? 60_000;
  const log = deps.logger.child({ projection: name });
  const group = `${namespace}.projection.${name}`;
  const domainTopics = contexts.map((c) => topicOf(c, namespace));
  const t = (table: string): ChSql => ident(analytics.database, table);
  const dropAll = async (names: readonly string[]) => {
    // Views first: each feeds a table.
    for (const n of [...names].sort((a, b) => Number(!isView(a)) - Number(!isView(b))))
      await analytics.exec(ch`DROP TABLE IF EXISTS ${t(n)}`);
  };

  /**
   * Replays the store's domain events after `from` into `table`; returns the
   * cursor and position reached and the events written.
   */
  const replay = async (table: string, from: FeedCursor) => {
    let cursor = from;
    let position: number | null = null;
    let events = 0;
    let rows: EventRow[] = [];
    let writing: Promise<void> = Promise.resolve();
    const write = async () => {
      await writing;
      const batch = rows;
      rows = [];
      writing = batch.length ? analytics.insert(table, batch) : Promise.resolve();
      writing.catch(() => {});
    };
    let next = store.readAll(cursor, pageSize, { metadata: ROW_METADATA });
    for (;;) {
      const page = await next;
      if (page.length === 0) break;
      cursor = page[page.length - 1]!.cursor;
      position = page[page.length - 1]!.position;
      next = store.readAll(cursor, pageSize, { metadata: ROW_METADATA });
      next.catch(() => {});
      const at = now();
      for (const e of page) {
        if (!contexts.includes(contextOf(e.type))) continue;
        rows.push(...domainRows(e, at));
        events += 1;
      }
      if (rows.length >= insertRows) await write();
    }
    await write();
    await writing;
    return { cursor, position, events };
  };

  /** Event ids (row ids: a decision of a fan-out is a row) of the store's domain events after `from`. */
  const idsAfter = async (from: FeedCursor): Promise<Set<string>> => {
    const ids = new Set<string>();
    for (let cursor = from; ;) {
      const page = await store.readAll(cursor, pageSize, { metadata: ROW_METADATA });
      if (page.length === 0) return ids;
      cursor = page[page.length - 1]!.cursor;
      for (const e of page)
        if (contexts.includes(contextOf(e.type))) for (const r of domainRows(e, 0)) ids.add(r.event_id);
    }
  };

  /** The log's end offsets of `topics` now, per topic and partition. */
  const endOffsets = async (topics: readonly string[]) =>
    (
      await Promise.all(topics.map(async (topic) => ({ topic, parts: await deps.log.lag(group, topic) })))
    ).map(({ topic, parts }) => ({ topic, ends: new Map(parts.map((p) => [p.partition, BigInt(p.end)])) }));
  /** Waits until the projector's group has committed `target`; false at `deadline`. */
  const committed = async (target: Awaited<ReturnType<typeof endOffsets>>, deadline: number) => {
    for (;;) {
      const reached = await Promise.all(
        target.map(async ({ topic, ends }) =>
          (await deps.log.lag(group, topic)).every(
            (p) => BigInt(p.committed ?? '0') >= (ends.get(p.partition) ?? 0n),
          ),
        ),
      ).catch(() => [false]);
      if (reached.every(Boolean)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  };

  /** Step 3: null once the live model has applied every event up to `cursor`, else why not. */
  const agree = async (cursor: FeedCursor): Promise<string | null> => {
    const deadline = Date.now() + agreeWithinMs;
    for (;;) {
      const published = await relayedUpTo(deps.sql, store);
      if (published !== null && store.compareCursors(published, cursor) >= 0) break;
      if (Date.now() >= deadline)
        return `the relay did not publish the store up to the rebuilt model's position within ${agreeWithinMs} ms: is a relay running?`;
      await sleep(50);
    }
    if (await committed(await endOffsets(domainTopics), deadline)) return null;
    return `the live model did not reach the rebuilt one's position within ${agreeWithinMs} ms: is a consumer of it running?`;
  };

  /**
   * Step 6; returns the suffix the old tables' names have now. Views follow
   * names, on ClickHouse 18.16 and on chDB alike (a view fires on inserts
   * into the table its query names and writes to the table its `TO` names,
   * whichever table holds that name now), so the live views, untouched,
   * feed the new tables once they hold the live names; the shadow's views
   * go first, or they would feed the old tables under their new names.
   */
  const swap = async (suffix: string): Promise<string> => {
    await dropAll(ANALYTICS_VIEWS.map((v) => `${v}${suffix}`));
    const [db] = await analytics.query<{ engine: string }>(
      ch`SELECT engine FROM system.databases WHERE name = ${analytics.database}`,
    );
    if (db?.engine === 'Atomic') {
      const pairs = ANALYTICS_TABLES.map((n) => ch`${t(n)} AND ${t(`${n}${suffix}`)}`);
      await analytics.exec(ch`EXCHANGE TABLES ${join(pairs)}`);
      return suffix;
    }
    const retired = `_retired${suffix}`;
    const moves = ANALYTICS_TABLES.flatMap((n) => [
      ch`${t(n)} TO ${t(`${n}${retired}`)}`,
      ch`${t(`${n}${suffix}`)} TO ${t(n)}`,
    ]);
    await analytics.exec(ch`RENAME TABLE ${join(moves)}`);
    return retired;
  };

  // 1. The shadow model.
  const leftovers = await analytics.query<{ name: string }>(
    ch`SELECT name FROM system.tables WHERE database = ${analytics.database} AND match(name, ${LEFTOVER})`,
  );
  await dropAll(leftovers.map((l) => l.name));
  const suffix = `_v${now()}`;
  const shadow = `events${suffix}`;
  await analytics.ensureSchema(analyticsSchema(analytics.database, suffix));
  let swapped = false;
  try {
    // 2. Replay. (The projector's topics exist from here on: their offsets are read below.)
    const topics = [ingestTopic(namespace), ...domainTopics];
    await deps.log.ensureTopics(topics.map((topic) => ({ topic, partitions: deps.partitions ?? 4 })));
    const bulk = await replay(shadow, START);
    // 3. One position.
    const disagreement = bulk.cursor === START ? null : await agree(bulk.cursor);
    if (disagreement !== null && !opts.acceptDifferences) throw new RebuildNotVerified(name, disagreement);
    // 4. Verify.
    let verification: RebuildVerification = { verified: false, position: null, matches: false, tables: [] };
    if (disagreement === null) {
      const liveOnly = await liveOnlyRows(analytics, t('events'), t(shadow));
      // Read after the live rows: every event the live model held then is in the store by now.
      const later = liveOnly.length ? await idsAfter(bulk.cursor) : new Set<string>();
      const strays = liveOnly.filter((r) => !later.has(r.event_id));
      const table = await compareDomainRows(analytics, t('events'), t(shadow), strays);
      verification = {
        verified: true,
        position: bulk.position,
        matches: table.differingRows === 0,
        tables: [table],
      };
    }
    const result = (events: number) => ({
      events,
      seconds: (performance.now() - started) / 1000,
      verification,
    });
    if (!verification.matches && !opts.acceptDifferences) {
      log.info(
        { ...result(bulk.events), swapped },
        'analytics rebuilt but not swapped in: it differs from the live model',
      );
      return { ...result(bulk.events), swapped };
    }
    // 5. Telemetry, then the store's head.
    await analytics.exec(
      ch`INSERT INTO ${t(shadow)} (${COLUMNS}) SELECT ${COLUMNS} FROM ${t('events')} WHERE kind = 'telemetry'`,
    );
    const caught = await replay(shadow, bulk.cursor);
    // 6. Swap.
    const atSwap = await endOffsets(topics);
    const retired = await swap(suffix);
    swapped = true;
    // 7. What reached the old tables meanwhile, then the old model goes.
    // (Not waited for when the projector never caught up before: it is not keeping up now either.)
    if (!(await committed(atSwap, Date.now() + (disagreement === null ? agreeWithinMs : 0))))
      log.warn(
        { agreeWithinMs },
        'the projector did not commit what the log held at the swap; copying what arrived anyway',
      );
    await analytics.exec(
      ch`INSERT INTO ${t('events')} (${COLUMNS}) SELECT ${COLUMNS} FROM ${t(`events${retired}`)}
         WHERE kind = 'telemetry' AND event_id NOT IN (SELECT event_id FROM ${t('events')} WHERE kind = 'telemetry')`,
    );
    const tail = await replay('events', caught.cursor);
    await dropAll(ANALYTICS_TABLES.map((n) => `${n}${retired}`));
    const done = result(bulk.events + caught.events + tail.events);
    log.info({ ...done, swapped }, 'analytics rebuilt');
    return { ...done, swapped };
  } finally {
    if (!swapped) await dropAll(MODEL.map((n) => `${n}${suffix}`));
  }
};

const isView = (name: string): boolean => [...VIEWS].some((v) => name.startsWith(v));
