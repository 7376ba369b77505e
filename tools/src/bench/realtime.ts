import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chatMessagesProjection, changesAfter, historyPage } from '@lectern/chat-projection-messages';
import { liveTables } from '@lectern/infra/runtime/projection-runner';
import { postgresSql } from '@lectern/infra/sql/index';
import { testClient, type TestClient } from '@lectern/realtime/testing/client';
import { startServerProcess, type ServerProcess } from '@lectern/server/process';
import { topicOf } from '@lectern/schemas';
import { toLogMessage } from '@lectern/infra/runtime/codec';
import { throwawayDatabase, type Engines } from './engines.ts';
import { dropKafkaNamespace, openKafkaLog, openSqlLog } from './logs.ts';
import { perSecond, progress, round, summarize } from './stats.ts';

export type RealtimePlan = Readonly<{
  history: Readonly<{ messages: number; bigRoom: number; pages: number }>;
  fanout: Readonly<{ rooms: number; membersPerRoom: number; messagesPerRoom: number }>;
  idle: Readonly<{ connections: number }>;
  latency: Readonly<{ samples: number; senders: number }>;
  presence: Readonly<{ samples: number }>;
}>;

/**
 * History at size: `messages` rows in the messages read model on
 * PostgreSQL, `bigRoom` of them in one room and the rest in rooms of 1,000,
 * made with `generate_series` (the read model's own DDL and indexes, search
 * vectors included). Then pages of 50 from random places of the big room,
 * as REST and a resume read them: `before` a seq, and `changesAfter` a seq.
 */
const history = async (databaseUrl: string, plan: RealtimePlan['history']) => {
  const db = await throwawayDatabase(databaseUrl);
  const sql = postgresSql(db.url);
  try {
    const tables = liveTables(chatMessagesProjection);
    await sql.query(chatMessagesProjection.ddl(tables));
    const table = tables.chat_messages!;
    const big = randomUUID();
    const started = performance.now();
    progress(`realtime history: ${plan.messages} messages, ${plan.bigRoom} in one room`);
    const insert = async (room: string | null, from: number, count: number) =>
      sql.query(
        `insert into ${table} (room_id, seq, message_id, sender_id, body, sent_at, updated_seq, tsv)
         select coalesce($1::uuid, md5('room' || (g / 1000))::uuid), case when $1::uuid is null then g % 1000 else g end,
                md5('m' || g || coalesce($1::text, ''))::uuid, md5('u' || (g % 97))::uuid,
                'message ' || g || ' about lesson ' || (g % 50), now(), case when $1::uuid is null then g % 1000 else g end,
                to_tsvector('simple', 'message ' || g || ' about lesson ' || (g % 50))
         from generate_series($2::bigint, $3::bigint) g`,
        [room, from, from + count - 1],
      );
    const chunk = 200_000;
    for (let i = 0; i < plan.bigRoom; i += chunk) await insert(big, i, Math.min(chunk, plan.bigRoom - i));
    const rest = plan.messages - plan.bigRoom;
    for (let i = 0; i < rest; i += chunk) await insert(null, i, Math.min(chunk, rest - i));
    await sql.query(`analyze ${table}`);
    const seeded = (performance.now() - started) / 1000;
    progress(`realtime history: seeded in ${round(seeded, 1)} s`);
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < plan.pages; i++) {
      const at = Math.floor(Math.random() * plan.bigRoom);
      let t = performance.now();
      const page = await historyPage(sql, big, { before: at, limit: 50 });
      before.push(performance.now() - t);
      if (at >= 50 && page.items.length !== 50)
        throw new Error(`a page before ${at} held ${page.items.length}`);
      t = performance.now();
      await changesAfter(sql, big, at, 50);
      after.push(performance.now() - t);
    }
    return {
      messages: plan.messages,
      inOneRoom: plan.bigRoom,
      seedSeconds: round(seeded, 1),
      pageOf50BeforeMs: summarize(before),
      changesAfterOf50Ms: summarize(after),
    };
  } finally {
    await sql.close();
    await db.drop();
  }
};

/** A deployment: one process for commands, relay and projections, and `gateways` realtime processes. */
const deploy = async (engines: Engines, gateways: number) => {
  const db = await throwawayDatabase(engines.databaseUrl!);
  const namespace = `bench-${db.name}`;
  const dirs: string[] = [];
  const env = {
    DATABASE_URL: db.url,
    LECTERN_NAMESPACE: namespace,
    ...(engines.kafkaBrokers ? { KAFKA_BROKERS: engines.kafkaBrokers.join(',') } : {}),
    ...(process.env.REDIS_URL
      ? { REDIS_URL: process.env.REDIS_URL, REDIS_PASSWORD_FILE: process.env.REDIS_PASSWORD_FILE ?? '' }
      : {}),
  };
  const start = async (roles: string) => {
    const dir = await mkdtemp(join(tmpdir(), 'lectern-bench-rt-'));
    dirs.push(dir);
    return startServerProcess({ ...env, LECTERN_DATA_DIR: dir, LECTERN_ROLES: roles });
  };
  const core = await start('api,relay,projections');
  const gws: ServerProcess[] = [];
  for (let i = 0; i < gateways; i++) gws.push(await start('realtime'));
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${core.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const user = async () => {
    const sub = randomUUID();
    return { id: sub, token: (await post('/api/dev/token', { sub, roles: ['learner'] })).token as string };
  };
  return {
    core,
    gateways: gws,
    namespace,
    /** The deployment's log, as the bench's own client (for events fed straight to it). */
    openLog: () =>
      engines.kafkaBrokers
        ? openKafkaLog(engines.kafkaBrokers, `lectern-bench-rt-${db.name}`)
        : openSqlLog(postgresSql(db.url)),
    post,
    user,
    async stop() {
      for (const p of [...gws, core]) await p.stop();
      for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
      if (engines.kafkaBrokers) await dropKafkaNamespace(engines.kafkaBrokers, namespace).catch(() => {});
      await db.drop();
    },
  };
};
type Deployment = Awaited<ReturnType<typeof deploy>>;

const wsOf = (p: ServerProcess) => `${p.url.replace(/^http/, 'ws')}/ws`;

/**
 * An authenticated socket subscribed to `channels`. A room just made may not
 * be in the read model the gateway authorizes with yet: a refusal is asked
 * again until it is (bounded).
 */
const connect = async (
  p: ServerProcess,
  token: string,
  channels: readonly string[] = [],
): Promise<TestClient> => {
  const c = await testClient(wsOf(p));
  c.send({ type: 'auth', token });
  await c.next('welcome', (f) => f.type === 'welcome', 300_000);
  for (const channel of channels)
    for (let attempt = 0; ; attempt++) {
      const ref = `${channel}#${attempt}`;
      c.send({ type: 'subscribe', ref, channel });
      const answer = await c.next('subscribed', (f) => f.ref === ref, 300_000);
      if (answer.type === 'subscribed') break;
      if (answer.code !== 'forbidden' || attempt > 600)
        throw new Error(`subscribe: ${JSON.stringify(answer)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  return c;
};

/** A group room of `members` users (the first one owns it). */
const room = async (d: Deployment, members: readonly { id: string; token: string }[]) => {
  const [owner, ...rest] = members;
  const created = await d.post(
    '/api/chat/rooms',
    { name: 'bench', members: rest.map((m) => m.id) },
    owner!.token,
  );
  return created.roomId as string;
};

/**
 * Fan-out: `membersPerRoom` connections in each of `rooms` rooms, all on
 * one gateway; every member sends its share of messages over the socket
 * (the limit allows 20 per user per 10 s, so the senders are many). The
 * figure is items delivered to sockets per second, from the first send to
 * the last item received by the last member.
 */
const fanout = async (d: Deployment, plan: RealtimePlan['fanout']) => {
  const rooms: { id: string; clients: TestClient[]; tokens: { id: string; token: string }[] }[] = [];
  for (let r = 0; r < plan.rooms; r++) {
    const members = await Promise.all(Array.from({ length: plan.membersPerRoom }, () => d.user()));
    const id = await room(d, members);
    rooms.push({ id, clients: [], tokens: members });
  }
  // Membership reaches the read model the gateway authorizes with.
  for (const r of rooms)
    for (const m of r.tokens) r.clients.push(await connect(d.gateways[0]!, m.token, [`room:${r.id}`]));
  progress(`realtime fan-out: ${rooms.length * plan.membersPerRoom} connections subscribed`);
  const started = performance.now();
  await Promise.all(
    rooms.map(async (r) => {
      for (let i = 0; i < plan.messagesPerRoom; i++) {
        const sender = r.clients[i % r.clients.length]!;
        sender.send({
          type: 'chat.send',
          ref: `s${i}`,
          data: { roomId: r.id, clientMessageId: randomUUID(), body: `fan-out ${i}` },
        });
      }
    }),
  );
  const items = () =>
    rooms.reduce((n, r) => n + r.clients.reduce((m, c) => m + c.items(`room:${r.id}`).length, 0), 0);
  // Each send is answered: a reply, or an error frame with its code (a frame over the connection's
  // rate is answered too, without its ref). Only accepted ones are delivered.
  const answers = (type: string) =>
    rooms.flatMap((r) => r.clients.flatMap((c) => c.frames.filter((f) => f.type === type)));
  const deadline = Date.now() + 600_000;
  const accepted = () => answers('reply').length;
  while (
    accepted() + answers('error').length < plan.rooms * plan.messagesPerRoom ||
    items() < accepted() * plan.membersPerRoom
  ) {
    if (Date.now() > deadline)
      throw new Error(`fan-out: ${items()} of ${accepted() * plan.membersPerRoom} items after 10 minutes`);
    // Counting scans every frame held: often enough to time a 30 s run, seldom enough not to
    // compete with the gateway for the same two cores.
    await new Promise((r) => setTimeout(r, 100));
  }
  const ms = performance.now() - started;
  const delivered = items();
  const refused: Record<string, number> = {};
  for (const f of answers('error')) refused[String(f.code)] = (refused[String(f.code)] ?? 0) + 1;
  const endToEnd = {
    messages: plan.rooms * plan.messagesPerRoom,
    accepted: accepted(),
    refused,
    delivered,
    seconds: round(ms / 1000, 2),
    deliveredPerSecond: perSecond(delivered, ms),
  };
  progress(`realtime fan-out, sent over the socket: ${JSON.stringify(endToEnd)}`);
  try {
    return {
      connections: plan.rooms * plan.membersPerRoom,
      rooms: plan.rooms,
      sentOverTheSocket: endToEnd,
      fedToTheLog: await fedToTheLog(d, rooms, plan.messagesPerRoom),
    };
  } finally {
    for (const r of rooms) for (const c of r.clients) c.close();
  }
};

/**
 * The gateway alone: `perRoom` more messages per room produced straight to
 * the chat topic, as the relay would publish them (the next seqs of each
 * room's stream, so every subscriber takes them live, in order), as fast as
 * the log takes them. The write path (append, relay) is out of the figure;
 * what is left is the log to the gateway to the sockets.
 */
const fedToTheLog = async (
  d: Deployment,
  rooms: readonly { id: string; clients: TestClient[] }[],
  perRoom: number,
) => {
  const log = await d.openLog();
  try {
    const channelOf = (roomId: string) => `room:${roomId}`;
    const last = new Map(
      rooms.map((r) => [r.id, Math.max(-1, ...r.clients.flatMap((c) => c.items(channelOf(r.id))))]),
    );
    const items = () =>
      rooms.reduce((n, r) => n + r.clients.reduce((m, c) => m + c.items(channelOf(r.id)).length, 0), 0);
    const before = items();
    const expected = rooms.reduce((n, r) => n + r.clients.length * perRoom, 0);
    const topic = topicOf('chat', d.namespace);
    const sender = randomUUID();
    const started = performance.now();
    for (let i = 0; i < perRoom; i += 100) {
      const batch = rooms.flatMap((r) =>
        Array.from({ length: Math.min(100, perRoom - i) }, (_, k) => {
          const revision = last.get(r.id)! + 1 + i + k;
          return toLogMessage({
            id: randomUUID(),
            type: 'chat.MessageSent',
            schemaVersion: 1,
            streamId: `chatmessages-${r.id}`,
            revision,
            position: 1e12 + revision,
            occurredAt: new Date().toISOString(),
            data: { roomId: r.id, messageId: randomUUID(), senderId: sender, body: `fed ${revision}` },
            metadata: {
              correlationId: sender,
              causationId: null,
              actor: null,
              requestId: null,
              traceparent: null,
            },
          });
        }),
      );
      await log.produce(topic, batch);
    }
    const produced = performance.now() - started;
    const deadline = Date.now() + 600_000;
    while (items() - before < expected) {
      if (Date.now() > deadline)
        throw new Error(`fed to the log: ${items() - before} of ${expected} items after 10 minutes`);
      await new Promise((r) => setTimeout(r, 100)); // as above
    }
    const ms = performance.now() - started;
    return {
      messages: rooms.length * perRoom,
      delivered: expected,
      producedInSeconds: round(produced / 1000, 2),
      seconds: round(ms / 1000, 2),
      deliveredPerSecond: perSecond(expected, ms),
    };
  } finally {
    await log.close();
  }
};

/** Resident memory of a process, from /proc (Linux). */
const rssOf = async (pid: number) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
};

/** This process's soft limit on open files (each socket the bench holds is one), from /proc (Linux). */
const openFilesLimit = async () => {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const soft = /Max open files\s+(\d+|unlimited)/.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
};

/** Idle connections: `connections` authenticated sockets held on one gateway; its memory before and after. */
const idle = async (d: Deployment, plan: RealtimePlan['idle']) => {
  const gw = d.gateways[1] ?? d.gateways[0]!;
  // The bench holds the client end of every socket: past its file limit it could not count them.
  const fileLimit = await openFilesLimit();
  // Beside the sockets: the engines' connections, the gateways' pipes, the /proc reads.
  if (plan.connections + 2000 > fileLimit)
    return {
      asked: plan.connections,
      skipped: `this process may open ${fileLimit} files; run \`ulimit -n ${plan.connections * 2 + 2000}\` (as root) first`,
    };
  const before = await rssOf(gw.child.pid!);
  const held: TestClient[] = [];
  let failed: string | null = null;
  // One user would meet the per-user limit (20, across the gateways): 10 connections per user, each minted once.
  const tokens = await Promise.all(Array.from({ length: Math.ceil(plan.connections / 10) }, () => d.user()));
  for (let i = 0; i < plan.connections && !failed; i++) {
    try {
      held.push(await connect(gw, tokens[i % tokens.length]!.token));
    } catch (error) {
      failed = (error as Error).message;
    }
    if (i % 1000 === 999) progress(`realtime idle: ${i + 1} connections`);
  }
  await new Promise((r) => setTimeout(r, 2000));
  const after = await rssOf(gw.child.pid!);
  const open = held.filter((c) => c.ws.readyState === c.ws.OPEN).length;
  for (const c of held) c.close();
  return {
    asked: plan.connections,
    held: open,
    stoppedBy: failed,
    rssBeforeMiB: round(before / 2 ** 20, 1),
    rssAfterMiB: round(after / 2 ** 20, 1),
    bytesPerConnection: open ? Math.round((after - before) / open) : null,
  };
};

/**
 * Send → delivered across two gateway processes: a member on gateway 1
 * sends over its socket; the time until a member on gateway 2 has the
 * item. Senders rotate so the per-user limit is not what is measured.
 */
const crossLatency = async (d: Deployment, plan: RealtimePlan['latency']) => {
  const senders = await Promise.all(Array.from({ length: plan.senders }, () => d.user()));
  const reader = await d.user();
  const roomId = await room(d, [...senders, reader]);
  const channel = `room:${roomId}`;
  const out = await Promise.all(senders.map((s) => connect(d.gateways[0]!, s.token)));
  const inbox = await connect(d.gateways[1]!, reader.token, [channel]);
  const samples: number[] = [];
  let round = performance.now();
  for (let i = 0; i < plan.samples; i++) {
    const seen = inbox.items(channel).length;
    const t = performance.now();
    out[i % out.length]!.send({
      type: 'chat.send',
      ref: i,
      data: { roomId, clientMessageId: randomUUID(), body: `latency ${i}` },
    });
    await inbox.until(`item ${i}`, () => inbox.items(channel).length > seen);
    samples.push(performance.now() - t);
    // Each sender sends once a round; at most 20 per user per 10 s means a round of at least 500 ms (600, with room).
    if (i % out.length === out.length - 1) {
      await new Promise((r) => setTimeout(r, Math.max(0, 600 - (performance.now() - round))));
      round = performance.now();
    }
  }
  for (const c of [...out, inbox]) c.close();
  return { sendToDeliveredMs: summarize(samples) };
};

/** Presence across processes: a member subscribing on gateway 1, seen joining by a member on gateway 2. */
const presence = async (d: Deployment, plan: RealtimePlan['presence']) => {
  const [watcher, visitor] = [await d.user(), await d.user()];
  const roomId = await room(d, [watcher, visitor]);
  const channel = `room:${roomId}`;
  const w = await connect(d.gateways[1]!, watcher.token, [channel]);
  const changes = (type: 'join' | 'leave') =>
    w.frames.filter((f) => {
      const c = f.change as { userId?: string; type?: string } | undefined;
      return f.type === 'presence' && c?.userId === visitor.id && c.type === type;
    }).length;
  const samples: number[] = [];
  for (let i = 0; i < plan.samples; i++) {
    const [joined, left] = [changes('join'), changes('leave')];
    const v = await connect(d.gateways[0]!, visitor.token);
    const t = performance.now();
    v.send({ type: 'subscribe', ref: 'p', channel });
    await w.until('the join', () => changes('join') > joined);
    samples.push(performance.now() - t);
    v.close();
    await w.until('the leave', () => changes('leave') > left);
  }
  w.close();
  return { joinSeenAcrossMs: summarize(samples) };
};

/**
 * `npm run bench -- realtime`: history at 10M messages on PostgreSQL, then
 * a deployment of one core process and two gateways (PostgreSQL, Kafka
 * when KAFKA_BROKERS is set, Redis when REDIS_URL is): fan-out, idle
 * connections, send → delivered across gateways, presence across gateways.
 */
export const realtimeSection = async (engines: Engines, plan: RealtimePlan) => {
  if (!engines.databaseUrl) return { skipped: 'DATABASE_URL is not set' };
  if (!process.env.REDIS_URL)
    return { skipped: 'REDIS_URL is not set (presence across gateways needs Redis)' };
  // BENCH_REALTIME=fanout (or history, latency, presence, idle; comma-separated) runs those parts only.
  const only = process.env.BENCH_REALTIME?.split(',').map((p) => p.trim());
  const runs = (part: string) => !only || only.includes(part);
  const result: Record<string, unknown> = {};
  if (runs('history')) result.history = await history(engines.databaseUrl, plan.history);
  const d = await deploy(engines, 2);
  try {
    result.log = engines.kafkaBrokers ? 'kafka' : 'table log';
    // A part that fails says so in its place; the parts after it still run.
    const part = async (name: string, key: string, measure: () => Promise<unknown>) => {
      if (!runs(name)) return;
      try {
        result[key] = await measure();
        progress(`realtime ${name}: ${JSON.stringify(result[key])}`);
      } catch (error) {
        progress(`realtime ${name} failed: ${(error as Error).stack ?? String(error)}`);
        result[key] = { error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    };
    await part('fanout', 'fanout', () => fanout(d, plan.fanout));
    await part('latency', 'crossGatewayLatency', () => crossLatency(d, plan.latency));
    await part('presence', 'presence', () => presence(d, plan.presence));
    await part('idle', 'idle', () => idle(d, plan.idle));
  } finally {
    await d.stop();
  }
  return result;
};
