import { randomUUID } from 'node:crypto';
import test from 'ava';
import { type NewEvent } from '@lectern/schemas';
import { START } from '../ports/event-store.ts';
import { requireEngine } from '../testing/engines.ts';
import { embeddedEngines, postgresKafkaEngines, type RuntimeEngines } from '../testing/runtime-engines.ts';
import { waitUntil } from '../testing/wait.ts';
import { createLogger } from './logger.ts';
import type { SqlProjection } from './projection.ts';
import { auditProjection, scheduledAudits } from './projection-audit.ts';
import { createMetrics } from './metrics.ts';
import { projectionRunner } from './projection-runner.ts';
import { startRelay } from './relay.ts';

type Engines = RuntimeEngines;

const logger = createLogger({ level: 'silent' });

/** Counts `<context>.Counted` events per stream and keeps the revision of the last one applied. */
const tally = (name: string, context: string): SqlProjection => ({
  name,
  version: 1,
  contexts: [context],
  eventTypes: [`${context}.Counted`],
  tables: [name],
  ddl: (t) =>
    `create table if not exists ${t[name]} (stream_id text primary key, events int not null, last int not null)`,
  async apply(tx, events, t) {
    for (const e of events)
      await tx.query(
        `insert into ${t[name]} (stream_id, events, last) values ($1, 1, $2)
         on conflict (stream_id) do update set events = ${t[name]}.events + 1, last = greatest(${t[name]}.last, $2)`,
        [e.streamId, e.revision],
      );
  },
});

const suite = (name: string, make: () => Promise<Engines>) => {
  let engines: Promise<Engines> | null = null;
  const get = () => (engines ??= make());
  test.after.always(async () => {
    if (engines) await (await engines).cleanup();
  });

  test(`${name}: the audit names a skipped event, an unapplied one and a doubled ledger, and repairs what it names`, async (t) => {
    const { sql, store, log } = await get();
    const ns = `a${randomUUID().slice(0, 8)}`;
    const context = `audit${ns}`;
    const p = tally(`audited_${ns}`, context);
    const checkpoints = `${p.name}_checkpoints`;
    const counted = (): NewEvent => ({
      id: randomUUID(),
      type: `${context}.Counted`,
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      data: {},
      metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
    });
    const [a, b, c] = ['a', 'b', 'c'].map((s) => `${context}-${s}-${randomUUID()}`) as [
      string,
      string,
      string,
    ];
    const rows = async () =>
      Object.fromEntries(
        (
          await sql.query<{ stream_id: string; events: number }>(`select stream_id, events from ${p.name}`)
        ).map((r) => [r.stream_id, r.events]),
      );
    const relay = await startRelay({ store, log, sql, logger, namespace: ns, name: ns });
    const runner = await projectionRunner({ projection: p, sql, log, store, logger, namespace: ns });
    await runner.start();
    try {
      for (const s of [a, b, c])
        await store.append(s, [counted(), counted(), counted(), counted()], {
          expectedRevision: 'no_stream',
        });
      await waitUntil(
        'twelve events applied',
        async () => Object.values(await rows()).join() === '4,4,4',
        180_000,
      );
      const clean = await auditProjection({ sql, store, projection: p });
      t.like(clean, { projection: p.name, events: 12, streams: 3, findings: 0, pending: 0, unaudited: 0 });

      // 1. A skipped event: the checkpoint of a moves past its next event
      //    before the consumer gets it (what a consumer that loses track of
      //    its position does), so only the one after is applied.
      await runner.stop();
      await sql.query(`update ${checkpoints} set revision = 4 where stream_id = $1`, [a]);
      const lost = counted();
      await store.append(a, [lost, counted()], { expectedRevision: 3 });
      // 2. A ledger that counts one more than the store holds.
      await sql.query(`update ${checkpoints} set applied = applied + 1 where stream_id = $1`, [c]);
      await runner.start();
      await waitUntil("a's last event applied", async () => (await rows())[a] === 5, 180_000);
      await runner.stop();
      // 3. An event the model has not had: appended while it is stopped.
      const late = counted();
      await store.append(b, [late], { expectedRevision: 3 });
      // The feed shows a commit once no older transaction of the store's database is open.
      await waitUntil("the feed to show b's event", async () =>
        (await store.readAll(START, 1000)).some((e) => e.id === late.id),
      );

      const young = await auditProjection({ sql, store, projection: p });
      t.like(young, { events: 15, findings: 2, pending: 1, repaired: 0 }, 'b is in flight while young');
      t.deepEqual(
        young.skipped.map((e) => [e.streamId, e.eventId, e.revision]),
        [[a, lost.id, 4]],
      );
      t.deepEqual(young.doubled, [{ streamId: c, inStore: 4, applied: 5 }]);

      const later = () => Date.now() + 600_000;
      const old = await auditProjection({ sql, store, projection: p, now: later });
      t.like(old, { findings: 3, pending: 0 });
      t.deepEqual(
        old.unapplied.map((e) => [e.streamId, e.eventId, e.revision]),
        [[b, late.id, 4]],
      );
      t.deepEqual(await rows(), { [a]: 5, [b]: 4, [c]: 4 }, 'an audit alone changes nothing');

      const repaired = await auditProjection({ sql, store, projection: p, now: later, repair: true });
      t.like(repaired, { findings: 3, repaired: 2 });
      t.deepEqual(await rows(), { [a]: 6, [b]: 5, [c]: 4 });
      const after = await auditProjection({ sql, store, projection: p, now: later });
      t.like(after, { findings: 1, skipped: [], unapplied: [], repaired: 0 });
      t.deepEqual(after.doubled, [{ streamId: c, inStore: 4, applied: 5 }]);

      // The scheduled audit counts what it finds into the metric the alert watches.
      const metrics = createMetrics();
      const audits = scheduledAudits({ sql, store, projections: [p], metrics, logger, everyMs: 20 });
      audits.start();
      const finding = new RegExp(`lectern_projection_audit_findings\\{projection="${p.name}"\\} 1\\n`);
      await waitUntil('the scheduled audit counted its finding', async () =>
        finding.test(await metrics.registry.metrics()),
      );
      await audits.stop();

      // The consumer, started again, gets b's event from the log and drops it: applied once.
      await runner.start();
      await store.append(b, [counted()], { expectedRevision: 4 });
      await waitUntil("b's next event applied", async () => (await rows())[b] === 6, 180_000);
      t.deepEqual(await rows(), { [a]: 6, [b]: 6, [c]: 4 });

      // A checkpoint from before the ledger existed is not audited, nor a finding.
      await sql.query(`update ${checkpoints} set applied = null, digest = null where stream_id = $1`, [c]);
      t.like(await auditProjection({ sql, store, projection: p, now: later }), { findings: 0, unaudited: 1 });

      // A rebuild writes a whole ledger: every stream audited again, and clean.
      const rebuilt = await runner.rebuild();
      t.true(rebuilt.swapped);
      t.like(await auditProjection({ sql, store, projection: p, now: later }), {
        events: 16,
        streams: 3,
        findings: 0,
        unaudited: 0,
      });
    } finally {
      await runner.stop();
      await relay.stop();
    }
  });
};

suite('pglite + sql log', embeddedEngines);

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'projection audit on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'projection audit through Kafka');
if (databaseUrl && brokers)
  suite('postgres + kafka', () =>
    postgresKafkaEngines(databaseUrl, {
      brokers,
      clientId: 'projection-audit-tests',
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      rebalanceTimeout: 6000,
    }),
  );
