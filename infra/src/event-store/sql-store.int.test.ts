import { randomUUID } from 'node:crypto';
import test from 'ava';
import pg from 'pg';
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

      // The feed holds an event back while an older transaction of the store's database is open.
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

/** The feed as a relation of the store's own database (`feedRelation`), for a rebuild's load in SQL. */
for (const { name, open } of sqlEngines(test, 'feed relation'))
  test(`${name}: feedRelation holds the events up to a cut, of the types named, in parts of whole streams; only on the store's own database`, async (t) => {
    const { sql, close } = await open();
    const store = await sqlEventStore(sql);
    const elsewhere = await pgliteSql(null);
    try {
      const streams = Array.from({ length: 8 }, (_, i) => `rel${i}-${randomUUID()}`);
      const appended: NewEvent[] = [];
      for (const s of streams) {
        const batch = events(3).map((e, i) => ({ ...e, type: i === 2 ? 'test.Other' : 'test.Happened' }));
        await store.append(s, batch, { expectedRevision: 'no_stream' });
        appended.push(...batch);
      }
      await feedShows(
        store,
        appended.map((e) => e.id),
        60_000,
      );
      const upTo = await store.headCursor();
      await store.append(streams[0]!, events(1), { expectedRevision: 2 });
      const happened = appended.filter((e) => e.type === 'test.Happened');
      const slice = { upTo, types: ['test.Happened'] };
      const read = (relation: string | null) =>
        sql.query<{ event_id: string; stream_id: string }>(
          `select event_id::text as event_id, stream_id from ${relation!} e order by position`,
        );

      t.deepEqual(
        (await read(store.feedRelation(sql, slice))).map((r) => r.event_id),
        happened.map((e) => e.id),
        'every event up to the cut, of the types named, in order of position; none after it',
      );
      const parts = await Promise.all(
        [0, 1, 2].map((i) => read(store.feedRelation(sql, { ...slice, part: [i, 3] }))),
      );
      t.deepEqual(
        parts
          .flat()
          .map((r) => r.event_id)
          .sort(),
        happened.map((e) => e.id).sort(),
        'the parts together hold each event once',
      );
      t.is(
        parts.reduce((n, rows) => n + new Set(rows.map((r) => r.stream_id)).size, 0),
        streams.length,
        'each stream in one part',
      );
      t.deepEqual(await read(store.feedRelation(sql, { ...slice, types: [] })), [], 'no types: no events');
      t.deepEqual(
        await read(store.feedRelation(sql, { ...slice, upTo: START })),
        [],
        'up to the start: none',
      );

      const [first] = await sql.query<Record<string, unknown>>(
        `select position, stream_id, revision, event_id::text as event_id, type, schema_version,
                occurred_at, data, metadata
           from ${store.feedRelation(sql, slice)} e order by position limit 1`,
      );
      t.like(first, {
        stream_id: streams[0],
        event_id: happened[0]!.id,
        type: 'test.Happened',
        schema_version: 1,
        data: { n: 0 },
        metadata: happened[0]!.metadata,
      });
      t.is(Number(first!.revision), 0);
      t.is(new Date(first!.occurred_at as Date).toISOString(), happened[0]!.occurredAt);

      t.is(store.feedRelation(elsewhere, slice), null, 'a database the store is not in: none');
      t.throws(() => store.feedRelation(sql, { ...slice, types: ["x') or true; --"] }), {
        message: /not an event type/,
      });
      t.throws(() => store.feedRelation(sql, { ...slice, part: [3, 3] }), { message: /not a part/ });
    } finally {
      await elsewhere.close();
      await store.close();
      await close();
    }
  });

/**
 * The feed's horizon is the oldest transaction of the store's own database,
 * not of the server: a transaction left open in another database cannot write
 * to this one's events, and must not stall its feed (nor every relay on the
 * server); one open in the store's own database may yet commit an event, so
 * the feed holds back until it ends, and then shows that event first.
 */
if (url)
  test('postgres: the feed passes over a transaction open in another database, and holds back for one open in its own', async (t) => {
    const db = await freshDatabase(url);
    const other = await freshDatabase(url);
    const sql = postgresSql(db.url, { max: 4 });
    const store = await sqlEventStore(sql);
    const elsewhere = new pg.Client({ connectionString: other.url });
    const here = new pg.Client({ connectionString: db.url });
    await Promise.all([elsewhere.connect(), here.connect()]);
    const ids = async () => {
      const out: string[] = [];
      for (let cursor: FeedCursor = START; ;) {
        const page = await store.readAll(cursor, 1000);
        if (page.length === 0) return out;
        out.push(...page.map((e) => e.id));
        cursor = page[page.length - 1]!.cursor;
      }
    };
    try {
      // A write transaction left open in another database of the same server.
      await elsewhere.query('begin');
      await elsewhere.query('create table held (n int)');
      const [a, b, c] = events(3);
      await store.append(`a-${randomUUID()}`, [a!], { expectedRevision: 'no_stream' });
      t.deepEqual(
        (await feedShows(store, [a!.id], 60_000)).map((e) => e.id),
        [a!.id],
        'shown while another database holds a transaction open',
      );

      // One open in the store's own database, which appends before a later append commits.
      await here.query('begin');
      await here.query('select pg_current_xact_id()');
      await here.query(`select * from es_append($1, 'no_stream', $2::jsonb)`, [
        `b-${randomUUID()}`,
        JSON.stringify([b]),
      ]);
      await store.append(`c-${randomUUID()}`, [c!], { expectedRevision: 'no_stream' });
      t.deepEqual(await ids(), [a!.id], 'nothing past the open transaction of its own database');
      await here.query('commit');
      await feedShows(store, [b!.id, c!.id], 60_000);
      t.deepEqual(await ids(), [a!.id, b!.id, c!.id], 'the late commit first, in transaction order');
    } finally {
      await elsewhere.query('rollback').catch(() => {});
      await Promise.all([elsewhere.end(), here.end()]);
      await store.close();
      await sql.close();
      await db.drop();
      await other.drop();
    }
  });
