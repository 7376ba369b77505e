import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { topicOf, type NewEvent } from '@lectern/schemas';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { kafkaLog } from '@lectern/infra/message-log/kafka';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { postgresSql } from '@lectern/infra/sql/index';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Starts a real relay process (the server entry point with only the relay role). */
const startRelayProcess = (env: Record<string, string>): ChildProcess =>
  spawn(process.execPath, [main], {
    // Only the engines named here: the test's own environment may name others.
    env: { PATH: process.env.PATH ?? '', ...env, PORT: '0', LECTERN_ROLES: 'relay', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

const relayCrash = (
  name: string,
  env: () => Promise<{ databaseUrl: string; brokers: string | null; drop(): Promise<void> }>,
) =>
  test(`${name}: a relay killed mid-stream and restarted delivers every event; copies keep their ids`, async (t) => {
    const { databaseUrl, brokers, drop } = await env();
    const namespace = `crash-${randomUUID().slice(0, 8)}`;
    const sql = postgresSql(databaseUrl);
    const store = await sqlEventStore(sql);
    const log: MessageLog = brokers ? kafkaLog({ brokers, clientId: namespace }) : await sqlLog(sql);
    const processEnv = {
      DATABASE_URL: databaseUrl,
      LECTERN_NAMESPACE: namespace,
      ...(brokers ? { KAFKA_BROKERS: brokers } : {}),
    };
    let relay = startRelayProcess(processEnv);
    try {
      // 1. Writers append continuously while the relay publishes.
      const appended: string[] = [];
      const streams = Array.from({ length: 40 }, () => `profile-${randomUUID()}`);
      const event = (i: number): NewEvent => ({
        id: randomUUID(),
        type: 'profile.ProfileUpdated',
        schemaVersion: 1,
        occurredAt: new Date().toISOString(),
        data: { i },
        metadata: {
          correlationId: namespace,
          causationId: null,
          actor: null,
          requestId: null,
          traceparent: null,
        },
      });
      let writing = true;
      const writers = streams.map(async (streamId, w) => {
        for (let i = 0; writing; i++) {
          const batch = [event(i), event(i)];
          await store.append(streamId, batch, { expectedRevision: i === 0 ? 'no_stream' : i * 2 - 1 });
          appended.push(...batch.map((e) => e.id));
          await new Promise((r) => setTimeout(r, 20 + (w % 7)));
        }
      });

      // 2. Once the relay has published part of the stream, kill it hard.
      const published = async () =>
        Number(
          (
            await sql
              .query<{ position: string }>(`select position from relay_checkpoints where name = 'default'`)
              .catch(() => [])
          )[0]?.position ?? 0,
        );
      const deadline = Date.now() + 60_000;
      while ((await published()) < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      t.true((await published()) >= 200, 'the relay published before the kill');
      const killed = new Promise((r) => relay.once('exit', r));
      relay.kill('SIGKILL');
      await killed;
      const atKill = appended.length;

      // 3. Writers go on while the relay is down; restart it; then stop writing
      //    and wait for the relay to reach the head.
      await new Promise((r) => setTimeout(r, 300));
      relay = startRelayProcess(processEnv);
      await new Promise((r) => setTimeout(r, 1000));
      writing = false;
      await Promise.all(writers);
      t.true(appended.length > atKill, 'writers appended while and after the relay was down');
      // The feed is ordered by transaction, then position: the event it ends
      // with need not hold the highest position, so compare cursors.
      const head = await store.headCursor();
      const publishedCursor = async () =>
        (
          await sql
            .query<{ cursor: string }>(`select cursor from relay_checkpoints where name = 'default'`)
            .catch(() => [])
        )[0]?.cursor ?? '';
      while (store.compareCursors(await publishedCursor(), head) < 0 && Date.now() < deadline + 60_000)
        await new Promise((r) => setTimeout(r, 50));
      t.true(
        store.compareCursors(await publishedCursor(), head) >= 0,
        'the restarted relay reached the head',
      );

      // 4. Read the whole topic: every appended id is there; any copy has the same id.
      const received: string[] = [];
      const want = new Set(appended);
      let allSeen!: () => void;
      const done = new Promise<void>((r) => (allSeen = r));
      const seen = new Set<string>();
      const consumer = log.consume({
        groupId: `${namespace}.verify`,
        topics: [topicOf('profile', namespace)],
        handleBatch: async (b) => {
          for (const m of b.messages) {
            const id = JSON.parse(m.value).id as string;
            t.is(m.headers['event-id'], id);
            received.push(id);
            seen.add(id);
          }
          if ([...want].every((id) => seen.has(id))) allSeen();
        },
      });
      await Promise.race([done, new Promise((r) => setTimeout(r, 300_000).unref())]);
      await consumer.stop();
      t.deepEqual(new Set([...seen].filter((id) => want.has(id))).size, want.size, 'every event arrived');
      t.is(seen.size, want.size, 'nothing arrived that was not appended');
      t.log(
        `${appended.length} events appended, ${received.length} delivered, ${received.length - seen.size} duplicates`,
      );
    } finally {
      relay.kill('SIGKILL');
      await log.close();
      await store.close();
      await sql.close();
      await drop();
    }
  });

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'relay crash on PostgreSQL');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'relay crash through Kafka');
if (databaseUrl) {
  relayCrash('postgres log', async () => {
    const db = await freshDatabase(databaseUrl);
    return { databaseUrl: db.url, brokers: null, drop: db.drop };
  });
  if (brokers)
    relayCrash('kafka', async () => {
      const db = await freshDatabase(databaseUrl);
      return { databaseUrl: db.url, brokers, drop: db.drop };
    });
}
