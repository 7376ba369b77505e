import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { waitUntil } from '@lectern/infra/testing/wait';
import { testClient, type Frame, type TestClient } from '@lectern/realtime/testing/client';
import { startServerProcess, type ServerProcess } from '../src/process.ts';
import { jsonClient } from './http-client.ts';
import { PATIENT_READS } from './patient-reads.ts';

/**
 * The realtime tier across processes (issue 12, line 4): two gateway
 * processes beside one that takes commands and projects, on PostgreSQL
 * with the table log or with Kafka, presence in Redis. A message sent on
 * one gateway reaches members on the other; a gateway killed with SIGKILL
 * mid-conversation costs its clients nothing: they reconnect to the other
 * with their cursors and get every message once.
 */

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL (realtime processes)');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka (realtime processes)');
const redisUrl = requireEngine(test, 'REDIS_URL', 'Redis (realtime processes)');

type Deployment = Readonly<{
  core: ServerProcess;
  gateways: ServerProcess[];
  http: ReturnType<typeof jsonClient>;
  stop(): Promise<void>;
}>;

/** A process in a data folder of its own (chDB serves one process per folder). */
const processOf = async (env: Record<string, string>) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-rt-'));
  const server = await startServerProcess({ LECTERN_DATA_DIR: dir, ...PATIENT_READS, ...env });
  return {
    server,
    cleanup: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
};

const deploy = async (
  withKafka: boolean,
  gatewayEnv: Readonly<Record<string, string>> = {},
): Promise<Deployment> => {
  const db = await freshDatabase(databaseUrl!);
  const shared = {
    DATABASE_URL: db.url,
    LECTERN_NAMESPACE: `rt-${db.name}`,
    REDIS_URL: redisUrl!,
    REDIS_PASSWORD_FILE: process.env.REDIS_PASSWORD_FILE ?? '',
    ...(withKafka ? { KAFKA_BROKERS: brokers! } : {}),
  };
  const core = await processOf({ ...shared, LECTERN_ROLES: 'api,relay,projections' });
  const gateways = [
    await processOf({ ...shared, ...gatewayEnv, LECTERN_ROLES: 'realtime' }),
    await processOf({ ...shared, ...gatewayEnv, LECTERN_ROLES: 'realtime' }),
  ];
  return {
    core: core.server,
    gateways: gateways.map((g) => g.server),
    http: jsonClient(() => core.server.url),
    stop: async () => {
      for (const p of [...gateways, core]) await p.cleanup();
      await db.drop();
    },
  };
};

const wsOf = (p: ServerProcess) => `${p.url.replace(/^http/, 'ws')}/ws`;

type Room = Readonly<{ id: string; consistencyToken: string }>;

/** Authenticated, with the rooms read model caught up with the room's creation, then subscribed. */
const connect = async (p: ServerProcess, token: string, room: Room, cursor: number | null) => {
  const c = await testClient(wsOf(p));
  c.send({ type: 'auth', token });
  await c.next('welcome', (f) => f.type === 'welcome');
  c.send({
    type: 'consistency',
    ref: 'c',
    readModel: 'chat_rooms',
    stream: `chatroom-${room.id}`,
    token: room.consistencyToken,
  });
  const caught = await c.next('the rooms read model', (f) => f.ref === 'c');
  if ((caught.data as { caughtUp?: boolean } | undefined)?.caughtUp !== true)
    throw new Error(`the rooms read model did not catch up: ${JSON.stringify(caught)}`);
  c.send({ type: 'subscribe', ref: 's', channel: `room:${room.id}`, cursor });
  const reply = await c.next('subscribed', (f) => f.ref === 's');
  if (reply.type !== 'subscribed') throw new Error(`not subscribed: ${JSON.stringify(reply)}`);
  return c;
};

const seqs = (c: TestClient, roomId: string) =>
  c.frames.filter((f) => f.type === 'item' && f.channel === `room:${roomId}`).map((f) => f.seq as number);
const lastSeq = (c: TestClient, roomId: string) => seqs(c, roomId).at(-1) ?? -1;

const setup = async (d: Deployment) => {
  const token = async () => {
    const sub = randomUUID();
    const res = await d.http('POST', '/api/dev/token', { body: { sub, roles: ['learner'] } });
    return { id: sub, token: res.body!.token as string };
  };
  const [ada, bob] = [await token(), await token()];
  const opened = await d.http('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } });
  const room: Room = {
    id: opened.body!.roomId as string,
    consistencyToken: opened.headers.get('x-consistency-token')!,
  };
  return { ada, bob, room, roomId: room.id };
};

const across = (name: string, withKafka: boolean) => {
  test.serial(
    `${name}: a message sent on one gateway reaches a member on the other; presence crosses too`,
    async (t) => {
      const d = await deploy(withKafka);
      try {
        const { ada, bob, room, roomId } = await setup(d);
        const a = await connect(d.gateways[0]!, ada.token, room, -1);
        const b = await connect(d.gateways[1]!, bob.token, room, -1);
        const online = await a.next(
          'bob online, seen from the other gateway',
          (f) => f.type === 'presence' && (f.change as { userId: string }).userId === bob.id,
        );
        t.like(online.change, { type: 'join', online: true });
        a.send({
          type: 'chat.send',
          ref: 'm',
          data: { roomId, clientMessageId: randomUUID(), body: 'across' },
        });
        t.like(await a.next('reply', (f) => f.ref === 'm'), { type: 'reply', data: { seq: 0 } });
        const got = await b.next('the message on gateway 2', (f) => f.type === 'item' && f.seq === 0);
        t.like((got.data as { message: object }).message, { body: 'across', senderId: ada.id });
        a.close();
        b.close();
      } finally {
        await d.stop();
      }
    },
  );

  test.serial(
    `${name}: a gateway killed mid-conversation: its clients resume on the other, every message once`,
    async (t) => {
      const d = await deploy(withKafka);
      try {
        const { ada, bob, room, roomId } = await setup(d);
        const [doomed, survivor] = d.gateways as [ServerProcess, ServerProcess];
        const watcher = await connect(survivor, ada.token, room, -1);
        let b = await connect(doomed, bob.token, room, -1);
        const first = b;
        // Ada and Bob take turns, so neither passes chat's send limit (SEND_LIMIT).
        const n = 36;
        let killed = false;
        const sender = (async () => {
          for (let i = 0; i < n; i++) {
            const res = await d.http('POST', `/api/chat/rooms/${roomId}/messages`, {
              token: (i % 2 === 0 ? ada : bob).token,
              body: { clientMessageId: randomUUID(), body: `m${i}` },
            });
            if (res.status !== 201)
              throw new Error(`message ${i}: ${res.status} ${JSON.stringify(res.body)}`);
            // A dozen messages in, with some delivered: the gateway dies, no goodbye.
            if (i === 12) {
              await first.next('some delivered', (f) => f.type === 'item' && (f.seq as number) >= 5);
              doomed.child.kill('SIGKILL');
              killed = true;
            }
          }
        })();
        // A sender that fails ends the test with its reason, not with a wait for a kill that never came.
        const cut = await Promise.race([first.closed(), sender.then(() => first.closed())]);
        t.is(cut.code, 1006, 'the connection was cut, not closed');
        t.true(killed);
        // Reconnect to the other gateway from the last seq received.
        const cursor = lastSeq(first, roomId);
        b = await connect(survivor, bob.token, room, cursor);
        await sender;
        await b.next(`message ${n - 1}`, (f) => f.type === 'item' && f.seq === n - 1);
        const all = [...seqs(first, roomId), ...seqs(b, roomId)];
        t.deepEqual(
          all,
          Array.from({ length: n }, (_, i) => i),
          'every message once, in order',
        );
        t.log(
          `${seqs(first, roomId).length} before the kill, ${seqs(b, roomId).length} after, from cursor ${cursor}`,
        );
        // The killed gateway's presence expires: its connection leaves, seen on the survivor.
        const gone = await watcher.next(
          'bob gone from the killed gateway',
          (f: Frame) =>
            f.type === 'presence' &&
            (f.change as { type: string; reason?: string }).type === 'leave' &&
            (f.change as { reason?: string }).reason === 'expired',
        );
        t.like(gone.change, { userId: bob.id });
        watcher.close();
        b.close();
      } finally {
        await d.stop();
      }
    },
  );
};

/** Authenticates as the token's user: the welcome (the client stays open), or how the gateway closed it. */
const attempt = async (p: ServerProcess, token: string) => {
  const c = await testClient(wsOf(p));
  c.send({ type: 'auth', token });
  const welcomed = () => c.frames.some((f) => f.type === 'welcome');
  await c.until('a welcome or a close', () => welcomed() || c.ws.readyState === c.ws.CLOSED);
  return welcomed() ? ('welcome' as const) : await c.closed();
};

const TOO_MANY = { code: 4030, reason: 'too_many_connections' };

// The limit is about admission, not the log: the table log's deployment is enough.
if (databaseUrl && redisUrl)
  test.serial(
    'postgres+table log+redis: the per-user connection limit holds across gateway processes, and a killed one gives its slots back',
    async (t) => {
      const d = await deploy(false, { LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER: '2' });
      try {
        const [a, b] = d.gateways as [ServerProcess, ServerProcess];
        const { ada } = await setup(d);
        const onA = [await testClient(wsOf(a)), await testClient(wsOf(a))];
        for (const c of onA) {
          c.send({ type: 'auth', token: ada.token });
          await c.next('welcome on gateway A', (f) => f.type === 'welcome');
        }
        t.deepEqual(await attempt(b, ada.token), TOO_MANY, 'at the limit on A: refused on B');

        // One closed on A: B admits once A has given its slot back.
        onA[0]!.close();
        await waitUntil(
          'the slot freed on A, taken on B',
          async () => (await attempt(b, ada.token)) === 'welcome',
        );
        t.deepEqual(await attempt(b, ada.token), TOO_MANY, 'one on A and one on B: at the limit again');
        t.deepEqual(await attempt(a, ada.token), TOO_MANY);

        // A dies without a word: nothing renews its connection's claim, which runs out within the
        // lease (4 s); B's own, renewed by its pongs, holds.
        a.child.kill('SIGKILL');
        await a.exited;
        await waitUntil(
          "the killed gateway's slot, taken on B",
          async () => (await attempt(b, ada.token)) === 'welcome',
        );
        t.deepEqual(
          await attempt(b, ada.token),
          TOO_MANY,
          "B's two hold: only the killed gateway's slot was freed",
        );
      } finally {
        await d.stop();
      }
    },
  );

if (databaseUrl && redisUrl) across('postgres+table log+redis', false);
if (databaseUrl && brokers && redisUrl) across('postgres+kafka+redis', true);
