import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { NewEvent } from '@lectern/schemas';
import { START, WrongExpectedRevision, type FeedCursor, type FeedEvent } from '../ports/event-store.ts';
import { pgliteSql, postgresSql } from '../sql/index.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { sqlEngines } from '../testing/sql-engines.ts';
import { feedShows } from '../testing/wait.ts';
import { eventStoreContract } from './contract.ts';
import { sqlEventStore } from './sql-store.ts';

eventStoreContract(test, 'pglite', async () => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await sql.close();
    },
  };
});

test('pglite: a correlation is read through its index, not by scanning every event', async (t) => {
  const sql = await pgliteSql(null);
  try {
    await sqlEventStore(sql);
    // Too few rows for the planner to prefer an index on its own: forbid the scan, then see what it can use.
    await sql.query('set enable_seqscan = off');
    const plan = await sql.query<{ 'QUERY PLAN': string }>(
      `explain select global_position from es_events e
       where e.metadata->>'correlationId' = 'c-1' order by e.global_position limit 10`,
    );
    t.regex(plan.map((r) => r['QUERY PLAN']).join('\n'), /es_events_correlation/);
  } finally {
    await sql.close();
  }
});

const url = requireEngine(test, 'DATABASE_URL');

const events = (count: number): NewEvent[] =>
  Array.from({ length: count }, (_, n) => ({
    id: randomUUID(),
    type: 'test.Happened',
    schemaVersion: 1,
    occurredAt: new Date().toISOString(),
    data: { n },
    metadata: {
      correlationId: randomUUID(),
      causationId: null,
      actor: null,
      requestId: null,
      traceparent: null,
    },
  }));
if (url)
  eventStoreContract(test, 'postgres', async () => {
    const db = await freshDatabase(url);
    const sql = postgresSql(db.url, { max: 24 });
    const store = await sqlEventStore(sql);
    return {
      store,
      cleanup: async () => {
        await store.close();
        await sql.close();
        await db.drop();
      },
    };
  });

if (url)
  test('postgres: revision conflicts keep their connection and write no stream row', async (t) => {
    const db = await freshDatabase(url);
    // One pooled connection, so a backend the pool throws away shows as a new pid.
    const sql = postgresSql(db.url, { max: 1 });
    const store = await sqlEventStore(sql);
    try {
      const [first, later] = events(2);
      const id = `conflicts-${randomUUID()}`;
      await store.append(id, [first!], { expectedRevision: 'no_stream' });
      const pid = async () => (await sql.query<{ pid: number }>('select pg_backend_pid() as pid'))[0]!.pid;
      // Writes to es_streams, counted even when rolled back; the backend's
      // counters reach the view once it flushes them, forced here.
      const streamWrites = async () => {
        await sql.query('select pg_stat_force_next_flush()');
        const [row] = await sql.query<{ n: string }>(
          `select n_tup_ins + n_tup_upd as n from pg_stat_user_tables where relname = 'es_streams'`,
        );
        return Number(row!.n);
      };
      const before = { pid: await pid(), writes: await streamWrites() };
      for (let i = 0; i < 25; i++) {
        await t.throwsAsync(store.append(id, [later!], { expectedRevision: 'no_stream' }), {
          instanceOf: WrongExpectedRevision,
        });
        await t.throwsAsync(store.append(id, [later!], { expectedRevision: 5 }), {
          instanceOf: WrongExpectedRevision,
        });
      }
      t.is(await pid(), before.pid, 'the same backend served every conflict');
      t.is(await streamWrites(), before.writes, 'no conflict wrote the stream row');
      t.is((await store.append(id, [later!], { expectedRevision: 0 })).nextExpectedRevision, 1);
    } finally {
      await store.close();
      await sql.close();
      await db.drop();
    }
  });

/**
 * A reader's hints (`readAll(after, limit, hints)`): each event holds only
 * the metadata keys named, and the feed is otherwise the same, page by page.
 */
for (const { name, open } of sqlEngines(test, 'feed hints'))
  test(`${name}: readAll sends only the metadata keys a reader names`, async (t) => {
    const { sql, close } = await open();
    const store = await sqlEventStore(sql);
    try {
      const actor = { userId: randomUUID(), roles: ['learner'] };
      // None with a traceparent: a key named that an event has no value of reads as null.
      const metadata = { ...events(1)[0]!.metadata, traceparent: null };
      const appended = Array.from({ length: 12 }, (_, n): NewEvent => ({
        ...events(1)[0]!,
        data: { n },
        metadata: { ...metadata, actor, requestId: `req-${n}` },
      }));
      for (const [i, e] of appended.entries())
        await store.append('hinted-1', [e], { expectedRevision: i === 0 ? 'no_stream' : i - 1 });

      // The feed holds an event back while an older transaction anywhere on the server is open.
      await feedShows(
        store,
        appended.map((e) => e.id),
        60_000,
      );
      const all = await store.readAll(START, 100);
      t.is(all.length, 12);
      t.deepEqual(all[0]!.metadata, appended[0]!.metadata, 'without hints, all of it');

      const narrowed: FeedEvent[] = [];
      let cursor: FeedCursor = START;
      for (;;) {
        const page = await store.readAll(cursor, 5, { metadata: ['actor', 'requestId'] });
        if (page.length === 0) break;
        t.true(page.length <= 5);
        narrowed.push(...page);
        cursor = page[page.length - 1]!.cursor;
      }
      t.deepEqual(
        narrowed.map(({ metadata: _, ...rest }) => rest),
        all.map(({ metadata: _, ...rest }) => rest),
        'the same events, in the same order, across pages',
      );
      t.deepEqual(
        narrowed.map((e) => e.metadata),
        appended.map((e) => ({ actor, requestId: e.metadata.requestId })) as unknown[],
        'only the keys named',
      );

      const [bare] = await store.readAll(START, 1, { metadata: [] });
      t.deepEqual(bare!.metadata, {} as unknown, 'no keys named: none');
      t.deepEqual(bare!.data, { n: 0 });
      const [lacking] = await store.readAll(START, 1, { metadata: ['traceparent', 'actor'] });
      t.deepEqual(
        lacking!.metadata,
        { traceparent: null, actor } as unknown,
        'a key named without a value: null',
      );
      await t.throwsAsync(
        store.readAll(START, 1, { metadata: ['actor); drop table es_events; --' as 'actor'] }),
        { message: /not a metadata key/ },
      );
    } finally {
      await store.close();
      await close();
    }
  });
