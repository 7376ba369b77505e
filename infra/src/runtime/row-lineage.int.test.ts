import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { NewEvent } from '@lectern/schemas';
import { sqlEventStore } from '../event-store/sql-store.ts';
import { START, type EventStore } from '../ports/event-store.ts';
import { pgliteSql, postgresSql, type Sql } from '../sql/index.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { waitUntil } from '../testing/wait.ts';
import type { SqlProjection } from './projection.ts';
import { applyBatch, liveTables, projectionDdl } from './projection-runner.ts';
import { LineageRequestInvalid, traceRows } from './row-lineage.ts';

type Engines = { sql: Sql; store: EventStore; cleanup(): Promise<void> };

/** Accounts: opened with a name, renamed, credited, closed (the row goes). */
const accounts = (name: string, context: string): SqlProjection => ({
  name,
  version: 1,
  contexts: [context],
  eventTypes: [`${context}.Opened`, `${context}.Renamed`, `${context}.Credited`, `${context}.Closed`],
  tables: [name],
  ddl: (t) =>
    `create table if not exists ${t[name]} (account_id text primary key, owner text not null, balance int not null, doc jsonb not null)`,
  async apply(tx, events, t) {
    for (const e of events) {
      const id = e.streamId.slice(e.streamId.indexOf('-') + 1);
      const d = e.data as { owner?: string; n?: number };
      if (e.type.endsWith('.Opened'))
        await tx.query(
          `insert into ${t[name]} values ($1, $2, 0, jsonb_build_object('owner', $2::text, 'kind', 'basic'))`,
          [id, d.owner],
        );
      else if (e.type.endsWith('.Renamed'))
        await tx.query(
          `update ${t[name]} set owner = $2, doc = jsonb_set(doc, '{owner}', to_jsonb($2::text)) where account_id = $1`,
          [id, d.owner],
        );
      else if (e.type.endsWith('.Credited'))
        await tx.query(`update ${t[name]} set balance = balance + $2 where account_id = $1`, [id, d.n]);
      else await tx.query(`delete from ${t[name]} where account_id = $1`, [id]);
    }
  },
});

const event = (type: string, data: object): NewEvent => ({
  id: randomUUID(),
  type,
  schemaVersion: 1,
  occurredAt: new Date().toISOString(),
  data,
  metadata: {
    correlationId: randomUUID(),
    causationId: null,
    actor: null,
    requestId: null,
    traceparent: null,
  },
});

const suite = (name: string, make: () => Promise<Engines>) => {
  let engines: Promise<Engines> | null = null;
  const get = () => (engines ??= make());
  test.after.always(async () => {
    if (engines) await (await engines).cleanup();
  });

  test(`${name}: the events that made a row, in order, with the columns each changed`, async (t) => {
    const { sql, store } = await get();
    const ctx = `l${randomUUID().slice(0, 8)}`;
    const p = accounts(`accounts_${ctx}`, ctx);
    const live = liveTables(p);
    await sql.exec(projectionDdl(p, live));
    // Twelve accounts, their events interleaved, so the pages that touch `a` hold others' events too.
    const others = Array.from({ length: 11 }, (_, i) => `${ctx}-o${i}`);
    for (const s of others)
      await store.append(s, [event(`${ctx}.Opened`, { owner: s })], { expectedRevision: 'no_stream' });
    const a = [
      event(`${ctx}.Opened`, { owner: 'Ada' }),
      event(`${ctx}.Credited`, { n: 5 }),
      event(`${ctx}.Renamed`, { owner: 'Ada L.' }),
    ];
    await store.append(`${ctx}-a`, a.slice(0, 2), { expectedRevision: 'no_stream' });
    for (const s of others)
      await store.append(s, [event(`${ctx}.Credited`, { n: 1 })], { expectedRevision: 0 });
    await store.append(`${ctx}-a`, a.slice(2), { expectedRevision: 1 });
    await store.append(`${ctx}-b`, [event(`${ctx}.Opened`, { owner: 'Bo' }), event(`${ctx}.Closed`, {})], {
      expectedRevision: 'no_stream',
    });
    for (const s of others)
      await store.append(s, [event(`${ctx}.Renamed`, { owner: 'x' })], { expectedRevision: 1 });
    // The feed shows a commit once no transaction older than it is open on the server, other tests' included.
    const ours = async () => (await store.readAll(START, 10_000)).filter((e) => e.type.startsWith(`${ctx}.`));
    await waitUntil('the feed shows all 38 events', async () => (await ours()).length === 38);
    const mine = await ours();
    await sql.transaction((tx) => applyBatch(tx, p, live, mine));

    const lineage = await traceRows({
      sql,
      store,
      projection: p,
      rows: [{ table: p.name, key: { account_id: 'a' } }],
      pageSize: 4,
    });
    t.is(lineage.events, mine.length);
    t.deepEqual(
      lineage.steps.map((s) => [s.op, s.changed.join(','), s.event.id, s.event.streamId]),
      [
        ['insert', 'account_id,balance,doc,owner', a[0]!.id, `${ctx}-a`],
        ['update', 'balance', a[1]!.id, `${ctx}-a`],
        ['update', 'doc,doc.owner,owner', a[2]!.id, `${ctx}-a`],
      ],
    );
    t.deepEqual(lineage.rows, [
      { table: p.name, key: { account_id: 'a' }, replayed: true, live: true, matchesLive: true },
    ]);

    // One field: the insert that set it and the events that changed it, not the others.
    const owner = await traceRows({
      sql,
      store,
      projection: p,
      rows: [{ table: p.name, key: { account_id: 'a' } }],
      field: 'owner',
    });
    t.deepEqual(
      owner.steps.map((s) => s.event.id),
      [a[0]!.id, a[2]!.id],
    );

    // A key of a JSON column: the events that set it, and only the insert for one never changed.
    const field = async (name: string) =>
      (
        await traceRows({
          sql,
          store,
          projection: p,
          rows: [{ table: p.name, key: { account_id: 'a' } }],
          field: name,
        })
      ).steps.map((s) => s.event.id);
    t.deepEqual(await field('doc.owner'), [a[0]!.id, a[2]!.id]);
    t.deepEqual(await field('doc.kind'), [a[0]!.id]);

    // A row damaged by hand: the replay still says what the events make, and that the live row is not it.
    await sql.query(`update ${live[p.name]} set balance = 999 where account_id = 'a'`);
    const damaged = await traceRows({
      sql,
      store,
      projection: p,
      rows: [{ table: p.name, key: { account_id: 'a' } }],
    });
    t.like(damaged.rows[0], { replayed: true, live: true, matchesLive: false });
    t.is(damaged.steps.length, 3);

    // A row that went: its insert and its delete; neither side holds it, so they agree.
    const gone = await traceRows({
      sql,
      store,
      projection: p,
      rows: [{ table: p.name, key: { account_id: 'b' } }],
    });
    t.deepEqual(
      gone.steps.map((s) => s.op),
      ['insert', 'delete'],
    );
    t.like(gone.rows[0], { replayed: false, live: false, matchesLive: true });

    // Nothing ever made it.
    const never = await traceRows({
      sql,
      store,
      projection: p,
      rows: [{ table: p.name, key: { account_id: 'zz' } }],
    });
    t.deepEqual(never.steps, []);

    // No scratch schema is left behind.
    const left = await sql.query(`select nspname from pg_namespace where nspname like 'lineage_%'`);
    t.deepEqual(left, []);
  });

  test(`${name}: a table, key or field the model does not have is refused, saying which`, async (t) => {
    const { sql, store } = await get();
    const ctx = `l${randomUUID().slice(0, 8)}`;
    const p = accounts(`accounts_${ctx}`, ctx);
    const refused = async (rows: Parameters<typeof traceRows>[0]['rows'], field?: string) => {
      const error = await t.throwsAsync(traceRows({ sql, store, projection: p, rows, field }), {
        instanceOf: LineageRequestInvalid,
      });
      return error?.code;
    };
    t.is(await refused([{ table: 'nope', key: { account_id: 'a' } }]), 'unknown_table');
    t.is(await refused([{ table: p.name, key: { id: 'a' } }]), 'key_columns');
    t.is(await refused([{ table: p.name, key: { account_id: 'a' } }], 'colour'), 'unknown_field');
  });
};

suite('pglite', async () => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  return { sql, store, cleanup: async () => (await store.close(), await sql.close()) };
});

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'row lineage on PostgreSQL');
if (databaseUrl)
  suite('postgres', async () => {
    const db = await freshDatabase(databaseUrl);
    const sql = postgresSql(db.url);
    const store = await sqlEventStore(sql);
    return { sql, store, cleanup: async () => (await store.close(), await sql.close(), await db.drop()) };
  });
