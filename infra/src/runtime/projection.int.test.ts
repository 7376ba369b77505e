import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import { embeddedEngines } from '../testing/runtime-engines.ts';
import { createLogger } from './logger.ts';
import { documentProjection, pageByPage, type SqlProjection } from './projection.ts';
import { liveTables, projectionRunner } from './projection-runner.ts';

/**
 * The bulk path of a rebuild's first replay (`SqlProjection.bulk`): what it
 * writes is what `apply` page by page writes, and the indexes it drops for
 * the load are there again afterwards.
 */

const logger = createLogger({ level: 'silent' });

let position = 0;
const event = (key: string, revision: number, data: { n?: number; gone?: boolean }): RecordedEvent => ({
  id: randomUUID(),
  type: 'doc.Changed',
  schemaVersion: 1,
  occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, ++position)).toISOString(),
  data: { key, ...data },
  metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  streamId: `doc-${key}`,
  revision,
  position,
});

type Doc = { key: string; sum: number; changes: number };
/** Sums `n` per key; `gone` deletes the document, and a later event makes it again. */
const summing = (name: string, bulkDocuments?: number) =>
  documentProjection<Doc>({
    name,
    version: 1,
    contexts: ['doc'],
    eventTypes: ['doc.Changed'],
    table: name,
    key: (e) => (e.data as { key: string }).key,
    evolve: (doc, e) => {
      const d = e.data as { key: string; n?: number; gone?: boolean };
      if (d.gone) return null;
      return { key: d.key, sum: (doc?.sum ?? 0) + (d.n ?? 0), changes: (doc?.changes ?? 0) + 1 };
    },
    ...(bulkDocuments === undefined ? {} : { bulkDocuments }),
  });

/** A model of one table `name` whose `apply` inserts one row (event_id, key, n) per event. */
const rowModel = (name: string) => ({
  name,
  version: 1,
  contexts: ['doc'],
  eventTypes: ['doc.Changed'],
  tables: [name],
  apply: insertRows(name),
});

/** An `apply` that inserts one row (event_id, key, n) per event into the table `name`. */
const insertRows =
  (name: string): SqlProjection['apply'] =>
  async (tx, events, tables) => {
    for (const e of events) {
      const d = e.data as { key: string; n?: number };
      await tx.query(`insert into ${tables[name]} (event_id, key, n) values ($1, $2, $3)`, [
        e.id,
        d.key,
        d.n ?? null,
      ]);
    }
  };

test('a document model loaded in bulk, forgetting what it wrote out, writes what apply writes page by page', async (t) => {
  const { sql, cleanup } = await embeddedEngines();
  try {
    // Ten keys over 200 events, some deleted and made again, four deleted at the end,
    // in pages of 7: with two documents kept, most keys are written out and read back
    // many times.
    const revisions = new Map<string, number>();
    const events = Array.from({ length: 200 }, (_, i) => {
      const key = `k${(i * 7) % 10}`;
      const revision = (revisions.get(key) ?? -1) + 1;
      revisions.set(key, revision);
      return event(key, revision, i % 13 === 5 || i >= 196 ? { gone: true } : { n: i });
    });
    const pages = Array.from({ length: Math.ceil(events.length / 7) }, (_, i) =>
      events.slice(i * 7, i * 7 + 7),
    );
    const results: unknown[][] = [];
    for (const [name, model] of [
      ['by_page', summing('by_page')],
      ['bulk_kept_2', summing('bulk_kept_2', 2)],
      ['bulk_kept_all', summing('bulk_kept_all')],
    ] as const) {
      const tables = liveTables(model);
      await sql.exec(model.ddl(tables));
      const load = name === 'by_page' ? null : model.bulk!(tables);
      for (const page of pages)
        await sql.transaction((tx) => (load ? load.add(tx, page) : model.apply(tx, page, tables)));
      if (load) await sql.transaction((tx) => load.finish(tx));
      results.push(
        await sql.query(
          `select id, doc, revision::int as revision, position::int as position, updated_at
             from ${tables[name]} order by id`,
        ),
      );
    }
    t.is(results[0]!.length, 6, 'four keys end deleted');
    t.deepEqual(results[1], results[0]);
    t.deepEqual(results[2], results[0]);
  } finally {
    await cleanup();
  }
});

test('a rebuild loads a model without its secondary indexes and swaps it in with them', async (t) => {
  const engines = await embeddedEngines();
  const { sql, store, log } = engines;
  try {
    const name = `indexed_${randomUUID().slice(0, 8)}`;
    const model: SqlProjection = {
      ...rowModel(name),
      ddl: (tables) => `
        create table if not exists ${tables[name]} (event_id uuid primary key, key text not null, n int);
        create index if not exists ${name}_by_key on ${tables[name]} (key, n)`,
      bulk: (tables) => {
        const load = pageByPage(tables, insertRows(name));
        return {
          ...load,
          async add(tx, events) {
            // What the load writes into has no index but its primary key.
            indexesDuringLoad.push(await indexesOf(tx, tables[name]!));
            await load.add(tx, events);
          },
        };
      },
    };
    const indexesDuringLoad: string[][] = [];
    const indexesOf = async (q: { query: typeof sql.query }, table: string) =>
      (
        await q.query<{ name: string }>(
          `select c.relname as name from pg_index x join pg_class c on c.oid = x.indexrelid
            where x.indrelid = $1::regclass order by 1`,
          [table],
        )
      ).map((r) => r.name);
    const runner = await projectionRunner({ projection: model, sql, log, store, logger, namespace: name });
    for (let i = 0; i < 12; i++) {
      const key = `k${i % 3}`;
      await store.append(`doc-${randomUUID()}`, [event(key, 0, { n: i })], { expectedRevision: 'no_stream' });
    }
    // Nothing consumes, so the live model stays empty: the rebuild is accepted unverified.
    const result = await runner.rebuild({ agreeWithinMs: 0, acceptDifferences: true, pageSize: 5 });
    t.true(result.swapped);
    t.is(result.events, 12);
    t.true(indexesDuringLoad.length >= 3);
    t.true(indexesDuringLoad.every((names) => names.length === 1 && names[0]!.endsWith('_pkey')));
    const live = liveTables(model)[name]!;
    t.deepEqual(await indexesOf(sql, live), [`${name}_by_key`, `${name}_pkey`].sort());
    const [shadowLeft] = await sql.query<{ n: string }>(
      `select count(*)::text as n from pg_namespace where nspname = $1`,
      [`rebuild_${name}`],
    );
    t.is(shadowLeft!.n, '0', 'the shadow schema is gone');
    t.deepEqual(
      await sql.query(
        `select key, count(*)::int as n, sum(n)::int as total from ${live} group by key order by key`,
      ),
      [
        { key: 'k0', n: 4, total: 0 + 3 + 6 + 9 },
        { key: 'k1', n: 4, total: 1 + 4 + 7 + 10 },
        { key: 'k2', n: 4, total: 2 + 5 + 8 + 11 },
      ],
    );
  } finally {
    await engines.cleanup();
  }
});

test('a load that writes no key twice (keysAfter) runs without the key, which is made after it; a duplicate fails the rebuild and the live model stays', async (t) => {
  const engines = await embeddedEngines();
  const { sql, store, log } = engines;
  try {
    const name = `keyed_${randomUUID().slice(0, 8)}`;
    /** Primary keys and unique constraints of `table`, by name. */
    const keysOf = async (q: { query: typeof sql.query }, table: string) =>
      (
        await q.query<{ name: string }>(
          `select conname as name from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u') order by 1`,
          [table],
        )
      ).map((r) => r.name);
    const keysDuringLoad: string[][] = [];
    let writeTwice = false;
    const model: SqlProjection = {
      ...rowModel(name),
      ddl: (tables) => `
        create table if not exists ${tables[name]} (event_id uuid primary key, key text not null unique, n int)`,
      bulk: (tables) => {
        const load = pageByPage(tables, insertRows(name), { keysAfter: true });
        return {
          ...load,
          async add(tx, events) {
            keysDuringLoad.push(await keysOf(tx, tables[name]!));
            await load.add(tx, writeTwice ? [...events, events[0]!] : events);
          },
        };
      },
    };
    const runner = await projectionRunner({ projection: model, sql, log, store, logger, namespace: name });
    for (let i = 0; i < 12; i++)
      await store.append(`doc-${randomUUID()}`, [event(`${name}-${i}`, 0, { n: i })], {
        expectedRevision: 'no_stream',
      });
    const live = liveTables(model)[name]!;
    const made = [`${name}_key_key`, `${name}_pkey`].sort();
    t.deepEqual(await keysOf(sql, live), made);

    const result = await runner.rebuild({ agreeWithinMs: 0, acceptDifferences: true, pageSize: 5 });
    t.true(result.swapped);
    t.is(result.events, 12);
    t.true(keysDuringLoad.length >= 3);
    t.true(
      keysDuringLoad.every((keys) => keys.length === 0),
      'no key while loading',
    );
    t.deepEqual(await keysOf(sql, live), made, 'both keys made again, under their names');
    t.is((await sql.query(`select * from ${live}`)).length, 12);

    // A load that breaks its promise: the keys refuse the duplicate when they are made.
    writeTwice = true;
    const error = await t.throwsAsync(
      runner.rebuild({ agreeWithinMs: 0, acceptDifferences: true, pageSize: 5 }),
    );
    t.regex(error.message, /duplicate|unique/i);
    t.deepEqual(await keysOf(sql, live), made);
    t.is((await sql.query(`select * from ${live}`)).length, 12, 'the live model is untouched');
  } finally {
    await engines.cleanup();
  }
});
