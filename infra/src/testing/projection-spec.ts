import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import type { Actor, DomainEvent, EventMetadata, RecordedEvent, RecordedEventOf } from '@lectern/schemas';
import { withDeclaredMetadata, type SqlProjection } from '../runtime/projection.ts';
import { applyBatch, liveTables, projectionDdl } from '../runtime/projection-runner.ts';
import { pgliteSql } from '../sql/pglite.ts';
import type { Sql, SqlExecutor } from '../sql/sql.ts';

/** The spec's stand-in for the store's events, for a model's `loadSql`, and its columns (the port's). */
const SPEC_FEED = 'spec_feed';
const FEED_COLUMNS = `position bigint, stream_id text, revision bigint, event_id uuid, type text,
  schema_version int, occurred_at timestamptz, data jsonb, metadata jsonb`;

/** One delivery to the projection, as the runner applies it. */
type Batch = Readonly<{ events: readonly RecordedEvent[]; redrive: boolean }>;

/** What a spec reads back: one of the projection's readers, or `spec.rows(table)`. */
export type Read<T> = (sql: SqlExecutor) => Promise<T>;

/**
 * The metadata of an event no request caused (a test writing straight to a
 * stream, as an operator's tool would): a correlation id of its own, and
 * `actor` when given.
 *
 * @example await handleCommand({ …, metadata: uncausedMetadata() });
 */
export const uncausedMetadata = (actor: Actor | null = null): EventMetadata => ({
  correlationId: randomUUID(),
  causationId: null,
  actor,
  requestId: null,
  traceparent: null,
});

/**
 * Stamps the envelope onto events as the event store does: revisions count
 * from 0 per stream, positions rise across streams, ids are fresh. Keep the
 * events it returns to deliver them again (a redelivery is the same event).
 *
 * @example
 *   const feed = eventFeed();
 *   const [registered, verified] = feed.append(userStreamId(id), [registeredEvent, verifiedEvent]);
 */
export const eventFeed = (opts: { startsAt?: string } = {}) => {
  const start = Date.parse(opts.startsAt ?? '2026-01-01T00:00:00.000Z');
  const revisions = new Map<string, number>();
  let position = 0;
  return {
    /** Appends `events` to `streamId`; `actor` goes into their metadata, `occurredAt` is one second per position. */
    append<E extends DomainEvent>(
      streamId: string,
      events: readonly E[],
      meta: { actor?: Actor | null } = {},
    ): RecordedEventOf<E>[] {
      return events.map((e) => {
        const revision = (revisions.get(streamId) ?? -1) + 1;
        revisions.set(streamId, revision);
        position += 1;
        return {
          ...e,
          id: randomUUID(),
          schemaVersion: e.schemaVersion ?? 1,
          occurredAt: new Date(start + position * 1000).toISOString(),
          metadata: uncausedMetadata(meta.actor ?? null),
          streamId,
          revision,
          position,
        };
      });
    },
  };
};

export type ProjectionScenario = Readonly<{
  /** Another batch, delivered after the ones before it; deliver an event again to show redelivery changes nothing. */
  when(events: readonly RecordedEvent[]): ProjectionScenario;
  /**
   * Another batch, delivered as redriven dead letters are: applied although
   * their streams' checkpoints are past them, so the projection's own
   * guards are all that keeps an event from counting twice.
   */
  redrive(events: readonly RecordedEvent[]): ProjectionScenario;
  /**
   * Applies the batches to empty tables and asserts that `read` returns
   * `expected`; then does it again with every event in a batch of its own,
   * since the log may cut batches anywhere.
   */
  then<T>(t: ExecutionContext, read: Read<T>, expected: T): Promise<void>;
}>;

export type ProjectionSpec = Readonly<{
  /** The events the read model has already seen, as one batch. */
  given(events: readonly RecordedEvent[]): ProjectionScenario;
  /** Every row of one of the projection's tables (its name in `tables`), in a stable order. */
  rows<Row = Record<string, unknown>>(table: string): Read<Row[]>;
  /** Closes the database; call it in `test.after.always`. */
  close(): Promise<void>;
}>;

/**
 * Given events, then rows or reader results (STYLE.md §15), for one
 * PostgreSQL projection, on an in-memory PGlite created for the spec.
 *
 * Events reach the projection as they do in the runner: only the types it
 * reads, batch by batch, each batch in one transaction through the runner's
 * own `applyBatch`, so per-stream checkpoints drop what a stream has already
 * applied; again one event per batch; and, for a model with `bulk` or
 * `loadSql`, once more each as a rebuild's first replay loads them. Each
 * `then` starts from empty tables; scenarios sharing a spec take turns, so
 * ava may run them concurrently.
 *
 * @example
 *   const spec = projectionSpec(identityUsersProjection);
 *   test.after.always(() => spec.close());
 *   test('verifying activates', (t) =>
 *     spec.given([registered]).when([verified]).then(t, (sql) => userById(sql, id), { …, status: 'active' }));
 */
export const projectionSpec = (projection: SqlProjection): ProjectionSpec => {
  const tables = liveTables(projection);
  const reads = new Set(projection.eventTypes);
  let database: Promise<Sql> | null = null;
  const open = (): Promise<Sql> =>
    (database ??= pgliteSql(null).then(async (sql) => {
      await sql.exec(projectionDdl(projection, tables));
      return sql;
    }));

  // One database per spec: scenarios queue for it.
  let turn: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = turn.then(fn, fn);
    turn = run.catch(() => {});
    return run;
  };

  const replay = async (sql: Sql, batches: readonly Batch[]): Promise<void> => {
    await sql.query(`truncate ${Object.values(tables).join(', ')}`);
    for (const batch of batches) {
      // As a rebuild hands them over: a key the projection does not declare throws when read.
      const mine = withDeclaredMetadata(
        projection,
        batch.events.filter((e) => reads.has(e.type)),
      );
      const redriven = new Set(batch.redrive ? mine.map((e) => e.id) : []);
      if (mine.length) await sql.transaction((tx) => applyBatch(tx, projection, tables, mine, redriven));
    }
  };

  /**
   * The scenario's events as a rebuild's first replay meets them: each once,
   * page by page (a page per batch) in store order; null when the batches
   * deliver them out of store order, which a replay never does.
   */
  const firstReplay = (batches: readonly Batch[]): RecordedEvent[][] | null => {
    const seen = new Set<string>();
    const pages = batches.map((b) =>
      b.events.filter((e) => reads.has(e.type) && !seen.has(e.id) && seen.add(e.id)),
    );
    const positions = pages.flat().map((e) => e.position);
    return positions.some((p, i) => i > 0 && p <= positions[i - 1]!) ? null : pages;
  };

  /**
   * The first replay through the model's `bulk` (page by page, then
   * `finish`). False, and nothing loaded, without `bulk` or `firstReplay`.
   */
  const load = async (sql: Sql, batches: readonly Batch[]): Promise<boolean> => {
    const pages = firstReplay(batches);
    if (!projection.bulk || !pages) return false;
    await sql.query(`truncate ${Object.values(tables).join(', ')}`);
    const bulk = projection.bulk(tables);
    for (const page of pages)
      if (page.length) await sql.transaction((tx) => bulk.add(tx, withDeclaredMetadata(projection, page)));
    await bulk.finish(sql);
    return true;
  };

  /**
   * The first replay through the model's `loadSql`, from a table laid out as
   * the store's feed relation (`EventStore.feedRelation`) holding the same
   * events, into tables that keep their keys (a key written twice fails).
   * False, and nothing loaded, without `loadSql` or `firstReplay`.
   */
  const loadInSql = async (sql: Sql, batches: readonly Batch[]): Promise<boolean> => {
    const pages = firstReplay(batches);
    if (!projection.loadSql || !pages) return false;
    await sql.exec(`
      create table if not exists ${SPEC_FEED} (${FEED_COLUMNS});
      truncate ${SPEC_FEED}, ${Object.values(tables).join(', ')}`);
    await sql.query(
      `insert into ${SPEC_FEED} select * from jsonb_to_recordset($1::jsonb) as r(${FEED_COLUMNS})`,
      [
        JSON.stringify(
          pages.flat().map((e) => ({
            position: e.position,
            stream_id: e.streamId,
            revision: e.revision,
            event_id: e.id,
            type: e.type,
            schema_version: e.schemaVersion,
            occurred_at: e.occurredAt,
            data: e.data,
            metadata: e.metadata,
          })),
        ),
      ],
    );
    await sql.query(projection.loadSql(tables, `(select * from ${SPEC_FEED})`));
    return true;
  };

  const scenario = (batches: readonly Batch[]): ProjectionScenario => ({
    when: (events) => scenario([...batches, { events, redrive: false }]),
    redrive: (events) => scenario([...batches, { events, redrive: true }]),
    // Not a promise: awaiting a scenario without `then(t, …)` is a mistake, said plainly.
    then: <T>(t: ExecutionContext, read: Read<T>, expected: T) => {
      if (typeof t === 'function') {
        const reject = read as unknown as (e: Error) => void;
        reject(new Error('a projection scenario is not awaited: finish it with then(t, read, expected)'));
        return Promise.resolve();
      }
      return exclusive(async () => {
        const sql = await open();
        await replay(sql, batches);
        t.deepEqual(await read(sql), expected, 'in the batches given');
        await replay(
          sql,
          batches.flatMap((b) => b.events.map((e) => ({ events: [e], redrive: b.redrive }))),
        );
        t.deepEqual(await read(sql), expected, 'one event per batch');
        if (await load(sql, batches)) t.deepEqual(await read(sql), expected, "as a rebuild's bulk load");
        if (await loadInSql(sql, batches))
          t.deepEqual(await read(sql), expected, "as a rebuild's load in SQL");
      });
    },
  });

  return {
    given: (events) => scenario([{ events, redrive: false }]),
    rows: <Row>(table: string): Read<Row[]> => {
      if (!projection.tables.includes(table))
        throw new Error(`${projection.name} has no table ${table} (it has ${projection.tables.join(', ')})`);
      return (sql) => sql.query<Row>(`select * from ${tables[table]} as r order by r::text`);
    },
    close: async () => {
      if (database) await (await database).close();
    },
  };
};
