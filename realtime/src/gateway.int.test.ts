import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import { tokenVerifier } from '@lectern/infra/http/auth';
import { sqlLog } from '@lectern/infra/message-log/sql-log';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import type { PresenceBus } from '@lectern/infra/ports/presence-bus';
import { memoryPresenceHub } from '@lectern/infra/presence/memory';
import { toLogMessage } from '@lectern/infra/runtime/codec';
import { createLogger } from '@lectern/infra/runtime/logger';
import type { RealtimeChannelKind } from '@lectern/infra/runtime/realtime';
import { pgliteSql, type Sql } from '@lectern/infra/sql/index';
import { waitUntil } from '@lectern/infra/testing/wait';
import { realtimeGateway, type Gateway, type GatewayLimits } from './gateway.ts';
import { WebSocket } from 'ws';
import { testClient } from './testing/client.ts';

const ISSUER = 'https://identity.lectern.test';
const AUDIENCE = 'lectern-api';

/** Real access tokens: signed with an EdDSA key, checked by the verifier every service uses. */
const tokens = async () => {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const kid = 'k1';
  const verify = tokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' }] },
  });
  const sign = (sub: string, ttlSeconds = 600) =>
    new SignJWT({ roles: ['learner'] })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(privateKey);
  return { verify, sign };
};

/**
 * A channel kind of the test's own, `note:<board>`, shaped like a chat
 * room: its events are on the `demo` context's topic, its history is a
 * read model in PostgreSQL (PGlite) that the test writes as a projection
 * would, and `secret` boards are refused.
 */
const notes = (sql: Sql, table: string): RealtimeChannelKind => ({
  kind: 'note',
  contexts: ['demo'],
  authorize: async (_caller, id) => id !== 'secret',
  route: (e) =>
    e.type === 'demo.Noted'
      ? [{ id: (e.data as { board: string }).board, item: { seq: e.revision + 1, data: e.data } }]
      : [],
  history: {
    projection: 'notes',
    streamOf: (id) => `board-${id}`,
    async changesAfter(id, after, limit) {
      const rows = await sql.query<{ seq: number; data: unknown }>(
        `select seq, data from ${table} where board = $1 and seq > $2 order by seq limit $3`,
        [id, after, limit + 1],
      );
      return { items: rows.slice(0, limit), more: rows.length > limit };
    },
    // The test's notes are in the read model before the log has them (unless a test says not): none to wait for.
    head: async () => null,
  },
});

type Fixture = Readonly<{
  url: string;
  gateway: Gateway;
  log: MessageLog;
  sql: Sql;
  ns: string;
  sign: (sub: string, ttlSeconds?: number) => Promise<string>;
  /** Appends note `seq` to a board: into the read model (unless `projected` is false), then onto the log. */
  note(board: string, seq: number, opts?: { projected?: boolean }): Promise<void>;
  project(board: string, seq: number): Promise<void>;
}>;

// One PGlite and one log for the file; each test has its own namespace, table, gateway and port.
let shared: Promise<{ sql: Sql; log: MessageLog }> | null = null;
const engines = () =>
  (shared ??= (async () => {
    const sql = await pgliteSql(null);
    return { sql, log: await sqlLog(sql, { pollIntervalMs: 20 }) };
  })());
test.after.always(async () => {
  if (!shared) return;
  const { sql, log } = await shared;
  await log.close();
  await sql.close();
});

const start = async (
  t: ExecutionContext,
  limits: Partial<GatewayLimits> = {},
  now?: () => number,
  extraChannels: readonly RealtimeChannelKind[] = [],
  presence: PresenceBus | null = null,
): Promise<Fixture> => {
  const { sql, log } = await engines();
  const ns = `rt${randomUUID().slice(0, 8)}`;
  const table = `notes_${ns}`;
  await sql.query(
    `create table ${table} (board text, seq int, position bigint, data jsonb, primary key (board, seq))`,
  );
  const { verify, sign } = await tokens();
  const eventOf = (board: string, seq: number): RecordedEvent => ({
    id: randomUUID(),
    type: 'demo.Noted',
    schemaVersion: 1,
    streamId: `board-${board}`,
    revision: seq - 1,
    position: seq * 1000 + board.length,
    occurredAt: new Date().toISOString(),
    data: { board, seq, text: `note ${seq}` },
    metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  });
  const project = async (board: string, seq: number) => {
    const e = eventOf(board, seq);
    await sql.query(`insert into ${table} values ($1, $2, $3, $4) on conflict do nothing`, [
      board,
      seq,
      e.position,
      JSON.stringify(e.data),
    ]);
  };
  const gateway = realtimeGateway({
    verify,
    channels: [notes(sql, table), ...extraChannels],
    actions: [],
    log,
    namespace: ns,
    nodeId: 'gw-1',
    // The read model holds the event once its row is there.
    waitFor: async (_projection, streamId, pos) => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const [row] = await sql.query<{ n: number }>(
          `select count(*)::int as n from ${table} where $1 = $3 || board and position >= $2`,
          [streamId, pos, 'board-'],
        );
        if (row!.n > 0) return true;
        await new Promise((r) => setTimeout(r, 20));
      }
      return false;
    },
    readModels: ['notes'],
    presence,
    logger: createLogger({ level: 'silent' }),
    limits,
    ...(now ? { now } : {}),
  });
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  gateway.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await gateway.start();
  t.teardown(async () => {
    await gateway.stop();
    await new Promise((r) => server.close(r));
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    gateway,
    log,
    sql,
    ns,
    sign,
    project,
    async note(board, seq, o = {}) {
      if (o.projected !== false) await project(board, seq);
      await log.produce(topicOf('demo', ns), [toLogMessage(eventOf(board, seq))]);
    },
  };
};

const connect = async (f: Fixture, user = 'user-1') => {
  const c = await testClient(f.url);
  c.send({ type: 'auth', ref: 1, token: await f.sign(user) });
  await c.next('welcome', (x) => x.type === 'welcome');
  return c;
};

test('the token comes in the first frame; a client that sends none, or a bad one, is closed with a code it can act on', async (t) => {
  // A client that says nothing, on a gateway that waits 200 ms for it.
  const quick = await start(t, { authTimeoutMs: 200 });
  const silent = await testClient(quick.url);
  t.deepEqual(await silent.closed(), { code: 4003, reason: 'auth_timeout' });

  const f = await start(t);

  const forged = await testClient(f.url);
  forged.send({ type: 'auth', token: 'eyJhbGciOiJub25lIn0.e30.' });
  t.deepEqual(await forged.closed(), { code: 4001, reason: 'unauthenticated' });

  const early = await testClient(f.url);
  early.send({ type: 'subscribe', channel: 'note:a' });
  t.deepEqual(await early.closed(), { code: 4001, reason: 'unauthenticated' }, 'nothing before auth');

  const ok = await testClient(f.url);
  ok.send({ type: 'auth', ref: 'a1', token: await f.sign('user-9') });
  const welcome = await ok.next('welcome', (x) => x.type === 'welcome');
  t.is(welcome.userId, 'user-9');
  t.is(welcome.ref, 'a1');
  t.regex(String(welcome.connectionId), /^[0-9a-f-]{36}$/);
  ok.close();
});

test('a subscriber gets live items in order; a resume from a cursor gets what it missed from history, then live, each once', async (t) => {
  const f = await start(t);
  const a = await connect(f);
  a.send({ type: 'subscribe', ref: 's', channel: 'note:b1' });
  await a.next('subscribed', (x) => x.type === 'subscribed' && x.ref === 's');
  for (const seq of [1, 2, 3]) await f.note('b1', seq);
  await a.next('item 3', (x) => x.type === 'item' && x.seq === 3);
  t.deepEqual(a.items('note:b1'), [1, 2, 3]);
  a.close();

  // Away for 4, 5 and 6; back with cursor 3, while 7 arrives.
  for (const seq of [4, 5, 6]) await f.note('b1', seq);
  const b = await connect(f);
  b.send({ type: 'subscribe', ref: 's', channel: 'note:b1', cursor: 3 });
  await f.note('b1', 7);
  await b.next('item 7', (x) => x.type === 'item' && x.seq === 7);
  await f.note('b1', 8);
  await b.next('item 8', (x) => x.type === 'item' && x.seq === 8);
  t.deepEqual(b.items('note:b1'), [4, 5, 6, 7, 8]);
  const item = b.frames.find((x) => x.type === 'item' && x.seq === 5)!;
  t.deepEqual(item, {
    type: 'item',
    channel: 'note:b1',
    seq: 5,
    data: { board: 'b1', seq: 5, text: 'note 5' },
  });
});

test('an item the log brings before its read model has it waits for the read model, then comes in order', async (t) => {
  const f = await start(t);
  const a = await connect(f);
  a.send({ type: 'subscribe', channel: 'note:b2', cursor: 0 });
  await a.next('subscribed', (x) => x.type === 'subscribed');
  await f.note('b2', 1);
  await a.next('item 1', (x) => x.type === 'item' && x.seq === 1);
  // 2 never reaches this client live (as if it came before this process joined the log); 3 does, unprojected.
  await f.project('b2', 2);
  await f.note('b2', 3, { projected: false });
  await f.project('b2', 3);
  await a.next('item 3', (x) => x.type === 'item' && x.seq === 3);
  t.deepEqual(a.items('note:b2'), [1, 2, 3]);
});

test('a channel the caller may not read is refused with an error frame; the connection stays', async (t) => {
  const f = await start(t);
  const a = await connect(f);
  a.send({ type: 'subscribe', ref: 'x', channel: 'note:secret' });
  const refused = await a.next('the refusal', (x) => x.type === 'error' && x.ref === 'x');
  t.like(refused, { code: 'forbidden', channel: 'note:secret' });
  a.send({ type: 'subscribe', ref: 'y', channel: 'planet:mars' });
  t.like(await a.next('unknown kind', (x) => x.ref === 'y'), { type: 'error', code: 'unknown_channel' });
  a.send({ type: 'subscribe', ref: 'z', channel: 'note:ok', cursor: -2 });
  t.like(await a.next('bad cursor', (x) => x.ref === 'z'), { type: 'error', code: 'bad_frame' });
  a.ws.send('not json');
  t.like(await a.next('bad json', (x) => x.type === 'error' && x.ref === null), { code: 'bad_frame' });
  a.send({ type: 'ping', ref: 'p' });
  t.like(await a.next('pong', (x) => x.ref === 'p'), { type: 'pong' });
});

/** Holds this process's event loop, as a long GC or a starved CPU does. */
const stall = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

test('a stall of the gateway process is not charged to its clients; a client that answers no ping is closed heartbeat_timeout', async (t) => {
  const f = await start(t, { heartbeatMs: 100 });
  const a = await connect(f);
  // Two stalls longer than a heartbeat, with only a timers phase between them: the late beat after
  // the first pings the client, and the one after the second finds that ping unanswered, since no
  // poll phase came to read the pong. Judged on the wall clock, the client would be cut off.
  for (let i = 0; i < 3; i++) {
    stall(350);
    await new Promise((r) => setTimeout(r, 0));
    stall(350);
    a.send({ type: 'ping', ref: `s${i}` });
    t.like(await a.next(`pong ${i}`, (x) => x.ref === `s${i}`), { type: 'pong' });
  }
  t.is(a.ws.readyState, WebSocket.OPEN, 'still connected after the stalls');

  // A client that is really gone (here: it answers no ping) is still found out.
  const mute = new WebSocket(f.url, { autoPong: false });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    mute.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((r) => mute.once('open', r));
  mute.send(JSON.stringify({ type: 'auth', ref: 1, token: await f.sign('user-mute') }));
  t.deepEqual(await closed, { code: 4031, reason: 'heartbeat_timeout' });
});

test('a flood is answered rate_limited with retryAfter, then closed', async (t) => {
  const f = await start(t, { framesPerSecond: 1, framesBurst: 5 });
  const a = await connect(f);
  for (let i = 0; i < 8; i++) a.send({ type: 'ping', ref: i });
  const limited = await a.next('rate_limited', (x) => x.type === 'error' && x.code === 'rate_limited');
  t.true(typeof limited.retryAfter === 'number' && limited.retryAfter >= 1);
  for (let i = 0; i < 20; i++) a.send({ type: 'ping', ref: i });
  t.deepEqual(await a.closed(), { code: 4029, reason: 'rate_limited' });
});

test('a client that stops reading is closed slow_consumer once its send buffer is full', async (t) => {
  // No heartbeat within the test: a client that does not read answers no ping either, and on a
  // busy machine two missed pings (heartbeat_timeout) could come before the buffer is full.
  const f = await start(t, { maxBufferedBytes: 256 << 10, heartbeatMs: 3_600_000 });
  const a = await connect(f);
  a.send({ type: 'subscribe', channel: 'note:b3' });
  await a.next('subscribed', (x) => x.type === 'subscribed');
  // Stop reading: the kernel's buffers fill, then the gateway's, which is bounded.
  const socket = (a.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  const big = 'x'.repeat(64 << 10);
  let seq = 0;
  const deadline = Date.now() + 120_000;
  while (f.gateway.connections() > 0) {
    if (Date.now() > deadline) return t.fail(`still connected after ${seq} items of 64 KiB`);
    seq += 1;
    await f.log.produce(topicOf('demo', f.ns), [
      toLogMessage({
        id: randomUUID(),
        type: 'demo.Noted',
        schemaVersion: 1,
        streamId: 'board-b3',
        revision: seq - 1,
        position: seq,
        occurredAt: new Date().toISOString(),
        data: { board: 'b3', seq, text: big },
        metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
      }),
    ]);
    // Let the feed deliver before producing more: the buffer, not the log, should fill.
    if (seq % 10 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  t.log(`closed after ${seq} items of 64 KiB`);
  t.deepEqual(f.gateway.closedFor(), { slow_consumer: 1 });
  socket.resume();
  // What reaches the client depends on how much it had left unread: the code, or a cut connection.
  t.true([4008, 1006].includes((await a.closed()).code));
});

test('a token that expires during the connection ends it with token_expired; a fresh one sent in time keeps it', async (t) => {
  // The gateway's clock runs an hour ahead: every token's expiry is already due by it.
  const f = await start(t, {}, () => Date.now() + 3_600_000);
  const a = await testClient(f.url);
  a.send({ type: 'auth', token: await f.sign('user-1') });
  t.deepEqual(await a.closed(), { code: 4002, reason: 'token_expired' });

  const g = await start(t);
  const b = await connect(g, 'user-2');
  b.send({ type: 'auth', ref: 'r', token: await g.sign('user-2', 1200) });
  const renewed = await b.next('renewed', (x) => x.type === 'reply' && x.ref === 'r');
  t.true(Date.parse((renewed.data as { expiresAt: string }).expiresAt) > Date.now() + 1_000_000);
  b.send({ type: 'auth', ref: 's', token: await g.sign('someone-else') });
  t.deepEqual(await b.closed(), { code: 4001, reason: 'unauthenticated' }, 'a token of another user');
});

test('a user may hold at most maxConnectionsPerUser connections', async (t) => {
  const f = await start(t, { maxConnectionsPerUser: 2 });
  await connect(f, 'u');
  await connect(f, 'u');
  const third = await testClient(f.url);
  third.send({ type: 'auth', token: await f.sign('u') });
  t.deepEqual(await third.closed(), { code: 4030, reason: 'too_many_connections' });
  await connect(f, 'v');
  t.pass();
});

/** Tries to authenticate as `user`: the welcome, or how the connection was closed. */
const attempt = async (f: Fixture, user: string) => {
  const c = await testClient(f.url);
  c.send({ type: 'auth', ref: 1, token: await f.sign(user) });
  const welcomed = () => c.frames.find((x) => x.type === 'welcome');
  await c.until(
    'a welcome or a close',
    () => welcomed() !== undefined || c.ws.readyState === WebSocket.CLOSED,
  );
  const welcome = welcomed();
  return welcome
    ? { outcome: 'welcome' as const, client: c, connectionId: String(welcome.connectionId) }
    : { outcome: await c.closed() };
};

test('the per-user limit holds across gateways that share a presence bus; a slot frees when a connection closes, or when its gateway dies', async (t) => {
  // Two gateways on one hub, as two processes on one Redis; time on the buses is the test's.
  let at = Date.UTC(2030, 0, 1);
  const clock = { now: () => new Date(at) };
  const hub = memoryPresenceHub();
  const [busA, busB] = [hub.bus({ nodeId: 'gw-a', clock }), hub.bus({ nodeId: 'gw-b', clock })];
  t.teardown(() => Promise.all([busA.close(), busB.close()]));
  // No heartbeats within the test: only the test renews a claim, or lets it run out.
  const limits = { maxConnectionsPerUser: 2, heartbeatMs: 3_600_000 };
  const a = await start(t, limits, undefined, [], busA);
  const b = await start(t, limits, undefined, [], busB);
  const tooMany = { code: 4030, reason: 'too_many_connections' };

  const [one] = [await connect(a, 'u'), await connect(a, 'u')];
  t.deepEqual((await attempt(b, 'u')).outcome, tooMany, 'at the limit on A: refused on B');
  t.is((await attempt(b, 'v')).outcome, 'welcome', "another user's slots are their own");

  // Closed on A: A gives the slot back as it sees the close, and then B admits.
  one!.close();
  await waitUntil(
    'the slot freed on gateway A, taken on gateway B',
    async () => (await attempt(b, 'u')).outcome === 'welcome',
  );
  t.deepEqual((await attempt(a, 'u')).outcome, tooMany, 'u holds two again, one on each');

  // Gateway A dies without a word (its bus renews nothing); B renews its own, as its heartbeat does.
  await busA.close();
  at += 3_000;
  t.is(await busB.renewClaims(), 2, "B renews its two connections' slots (v's and u's)");
  at += 999; // A's claim has 1 ms left
  t.deepEqual(
    (await attempt(b, 'u')).outcome,
    tooMany,
    "the dead gateway's claim holds until its lease ends",
  );
  at += 1;
  t.is((await attempt(b, 'u')).outcome, 'welcome', "then the dead gateway's slot is free");
  t.deepEqual((await attempt(b, 'u')).outcome, tooMany, "and only that one: B's renewed claim still holds");
});

test("a gateway's heartbeat renews the slots of its open connections, so they outlive their first lease", async (t) => {
  let at = Date.UTC(2030, 0, 1);
  const clock = { now: () => new Date(at) };
  const hub = memoryPresenceHub();
  const [busA, busB] = [hub.bus({ nodeId: 'gw-a', clock }), hub.bus({ nodeId: 'gw-b', clock })];
  t.teardown(() => Promise.all([busA.close(), busB.close()]));
  // The gateway's renewals, counted: the test waits for them rather than for time to pass.
  let renewals = 0;
  const counted: PresenceBus = {
    ...busA,
    renewClaims: async () => {
      const n = await busA.renewClaims();
      renewals++;
      return n;
    },
  };
  const a = await start(t, { maxConnectionsPerUser: 1, heartbeatMs: 100 }, undefined, [], counted);
  const b = await start(t, { maxConnectionsPerUser: 1, heartbeatMs: 3_600_000 }, undefined, [], busB);
  await connect(a, 'u');
  at += 3_000;
  const seen = renewals;
  // Two more renewals: at least one of them began after the clock moved, so it renewed to 3 s + TTL.
  await waitUntil('two renewals by gateway A', () => renewals >= seen + 2);
  at += 1_500; // past the first lease (4 s), within the renewed one
  t.deepEqual(
    (await attempt(b, 'u')).outcome,
    { code: 4030, reason: 'too_many_connections' },
    "the renewed slot still holds u's connection on A",
  );
});

test("with the presence bus unreachable, a connection is let in on its gateway's own count (fail open)", async (t) => {
  const bus = memoryPresenceHub().bus({ nodeId: 'gw-down' });
  await bus.close(); // every call now rejects, as a bus on a Redis that is away does
  const f = await start(t, { maxConnectionsPerUser: 1 }, undefined, [], bus);
  await connect(f, 'u');
  t.deepEqual(
    (await attempt(f, 'u')).outcome,
    { code: 4030, reason: 'too_many_connections' },
    "this gateway's own count still holds",
  );
});

test('a consistency frame is answered once the read model has applied the write; the socket goes on meanwhile', async (t) => {
  const f = await start(t);
  const a = await connect(f);
  // Note 2 of board b9 is at position 2002 (seq × 1000 + the board's length): not projected yet.
  a.send({ type: 'consistency', ref: 'c', readModel: 'notes', stream: 'board-b9', token: '2002' });
  a.send({ type: 'ping', ref: 'p' });
  await a.next('pong while waiting', (x) => x.ref === 'p');
  t.falsy(
    a.frames.find((x) => x.ref === 'c'),
    'not before the write is applied',
  );
  await f.project('b9', 2);
  t.like(await a.next('caught up', (x) => x.ref === 'c'), {
    type: 'reply',
    data: { readModel: 'notes', caughtUp: true },
  });
  a.send({ type: 'consistency', ref: 'x', readModel: 'secrets', stream: 'board-b9', token: '1' });
  t.like(await a.next('unknown', (x) => x.ref === 'x'), { type: 'error', code: 'unknown_read_model' });
});

/**
 * `user:<id>` brought by two contexts, live only: `demo` routes a ping to
 * its user (private when it says so), `demo2` a pong; both let a user have
 * their own channel, and `user:shared` is `'public'` to `demo` but whole to
 * `demo2`: the narrower wins.
 */
const userKinds = (): RealtimeChannelKind[] => {
  const owner = (s: 'public' | true) => async (caller: { userId: string }, id: string) =>
    caller.userId === id || (id === 'shared' ? s : false);
  const route = (type: string) => (e: RecordedEvent) => {
    if (e.type !== type) return [];
    const d = e.data as { user: string; private?: boolean };
    return [{ id: d.user, item: { seq: e.position, data: d, ...(d.private ? { private: true } : {}) } }];
  };
  return [
    { kind: 'user', contexts: ['demo'], authorize: owner('public'), route: route('demo.Ping') },
    { kind: 'user', contexts: ['demo2'], authorize: owner(true), route: route('demo2.Pong') },
  ];
};

test('a live-only channel several contexts bring: each routes to it, each item once, private items only to full access', async (t) => {
  const f = await start(t, {}, undefined, userKinds());
  const emit = (ctx: string, type: string, stream: string, position: number, data: object) =>
    f.log.produce(topicOf(ctx, f.ns), [
      toLogMessage({
        id: randomUUID(),
        type,
        schemaVersion: 1,
        streamId: stream,
        revision: 0,
        position,
        occurredAt: new Date().toISOString(),
        data,
        metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
      }),
    ]);
  const a = await connect(f, 'ann');
  a.send({ type: 'subscribe', ref: 'other', channel: 'user:bob' });
  t.like(await a.next('refused', (x) => x.ref === 'other'), { type: 'error', code: 'forbidden' });
  for (const channel of ['user:ann', 'user:shared']) {
    a.send({ type: 'subscribe', ref: channel, channel });
    await a.next(`subscribed to ${channel}`, (x) => x.type === 'subscribed' && x.ref === channel);
  }

  // Out of the log's global order (two streams), and one event delivered twice.
  await emit('demo', 'demo.Ping', 's1', 50, { user: 'ann', n: 1 });
  await emit('demo', 'demo.Ping', 's2', 40, { user: 'ann', n: 2 });
  await emit('demo', 'demo.Ping', 's1', 50, { user: 'ann', n: 1 });
  await emit('demo2', 'demo2.Pong', 's3', 45, { user: 'ann', n: 3 });
  await emit('demo', 'demo.Ping', 's4', 60, { user: 'shared', n: 4, private: true });
  await emit('demo', 'demo.Ping', 's4', 61, { user: 'shared', n: 5 });
  // The copy of 50 went before this on its stream, so once this is here the copy was dropped, not late.
  await emit('demo', 'demo.Ping', 's1', 70, { user: 'ann', n: 6 });
  await a.next('the last ping', (x) => x.type === 'item' && x.seq === 70);
  await a.next('the pong', (x) => x.type === 'item' && x.seq === 45);
  await a.next('the public ping', (x) => x.type === 'item' && x.seq === 61);
  t.deepEqual(
    a.items('user:ann').sort((x, y) => x - y),
    [40, 45, 50, 70],
  );
  t.deepEqual(a.items('user:shared'), [61], 'the private item went to no one with public access');
  a.close();

  // The owner's own channel has full access: a private item reaches them.
  const b = await connect(f, 'bob');
  b.send({ type: 'subscribe', ref: 'own', channel: 'user:bob' });
  await b.next('subscribed', (x) => x.ref === 'own');
  await emit('demo', 'demo.Ping', 's5', 80, { user: 'bob', n: 7, private: true });
  t.like(await b.next('the private ping', (x) => x.type === 'item' && x.seq === 80), {
    channel: 'user:bob',
    data: { n: 7 },
  });
  b.close();
});

test('a channel kind brought twice may not have history or presence', async (t) => {
  const { sql, log } = await engines();
  const { verify } = await tokens();
  const make = (channels: RealtimeChannelKind[]) =>
    realtimeGateway({
      verify,
      channels,
      actions: [],
      log,
      namespace: 'twice',
      nodeId: 'gw',
      waitFor: async () => true,
      presence: null,
      logger: createLogger({ level: 'silent' }),
    });
  t.throws(() => make([notes(sql, 'x'), notes(sql, 'y')]), { message: /note is brought more than once/ });
  t.notThrows(() => make(userKinds()));
});

test('connections from one address that have not authenticated are bounded; an upgrade past it is 429', async (t) => {
  const f = await start(t, { maxUnauthenticatedPerAddress: 2, authTimeoutMs: 3_600_000 });
  const [a, b] = [await testClient(f.url), await testClient(f.url)];
  const refused = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(f.url);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error('a third unauthenticated socket was let in')));
    ws.on('error', () => {});
  });
  t.is(refused, 429);
  t.deepEqual(f.gateway.closedFor(), { too_many_unauthenticated: 1 });
  // One of them authenticates: it no longer counts, and another may come in.
  a.send({ type: 'auth', ref: 1, token: await f.sign('user-1') });
  await a.next('welcome', (x) => x.type === 'welcome');
  const c = await testClient(f.url);
  // …and one that leaves makes room too.
  b.close();
  for (const deadline = Date.now() + 30_000; f.gateway.connections() > 2;) {
    if (Date.now() > deadline) return t.fail('the gateway never saw the close');
    await new Promise((r) => setTimeout(r, 10));
  }
  await t.notThrowsAsync(async () => (await testClient(f.url)).close());
  for (const x of [a, c]) x.close();
});

/**
 * `memo:<board>`: the notes of the test's table again, with an author per
 * note (odd or even seq), a subscriber filter by author that events on the
 * log change, and `complete` on every third note (as chat signs a
 * message's attachments), counted.
 */
const memos = (
  sql: Sql,
  table: () => string,
  blocked: ReadonlyMap<string, readonly string[]>,
  completed: number[],
): RealtimeChannelKind => {
  const authorOf = (seq: number) => (seq % 2 === 0 ? 'even' : 'odd');
  const base = () => notes(sql, table()).history!;
  return {
    kind: 'memo',
    contexts: ['demo'],
    authorize: async () => true,
    route: (e) => {
      if (e.type !== 'demo.Noted') return [];
      const { board, seq } = e.data as { board: string; seq: number };
      return [{ id: board, item: { seq, data: e.data, author: authorOf(seq) } }];
    },
    complete: (_id, item) => {
      if (item.seq % 3 !== 0) return null;
      completed.push(item.seq);
      return Promise.resolve({ ...item, data: { ...(item.data as object), signed: `s${item.seq}` } });
    },
    filter: {
      changes: (e) => (e.type === 'demo.Blocked' ? [(e.data as { user: string }).user] : []),
      of: async (caller) => {
        const hidden = new Set(blocked.get(caller.userId) ?? []);
        return {
          accepts: (item) => item.author === undefined || !hidden.has(item.author),
          observe: (e) => hidden.add((e.data as { author: string }).author),
        };
      },
    },
    history: {
      ...base(),
      async changesAfter(id, after, limit) {
        const page = await base().changesAfter(id, after, limit);
        return { ...page, items: page.items.map((i) => ({ ...i, author: authorOf(i.seq) })) };
      },
    },
  };
};

test("a kind's subscriber filter hides items live and on a resume, changed in log order; an item is completed once for all its subscribers", async (t) => {
  const { sql } = await engines();
  let table = '';
  /** Whom each user blocks when a filter is read (what chat reads from the user's blocklist stream). */
  const blocked = new Map<string, string[]>();
  const completed: number[] = [];
  const f = await start(t, {}, undefined, [memos(sql, () => table, blocked, completed)]);
  table = `notes_${f.ns}`;
  const [one, two] = [await connect(f, 'user-1'), await connect(f, 'user-2')];
  for (const c of [one, two]) {
    c.send({ type: 'subscribe', ref: 's', channel: 'memo:m' });
    await c.next('subscribed', (x) => x.ref === 's');
  }
  for (const seq of [1, 2]) await f.note('m', seq);
  await one.next('item 2', (x) => x.channel === 'memo:m' && x.seq === 2);

  // user-1 blocks the even author: on the board's stream, so the log keeps it in order with the notes.
  const block: RecordedEvent = {
    id: randomUUID(),
    type: 'demo.Blocked',
    schemaVersion: 1,
    streamId: 'board-m',
    revision: 0,
    position: 2500,
    occurredAt: new Date().toISOString(),
    data: { user: 'user-1', author: 'even' },
    metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  };
  await f.log.produce(topicOf('demo', f.ns), [toLogMessage(block)]);
  for (const seq of [3, 4, 5, 6, 7]) await f.note('m', seq);
  await two.next('item 7', (x) => x.channel === 'memo:m' && x.seq === 7);
  await one.next('item 7', (x) => x.channel === 'memo:m' && x.seq === 7);
  t.deepEqual(two.items('memo:m'), [1, 2, 3, 4, 5, 6, 7]);
  t.deepEqual(one.items('memo:m'), [1, 2, 3, 5, 7], 'the even notes after the block are hidden from user-1');

  // Completed once per event, whatever the number of subscribers; both got the completed data, in order.
  t.deepEqual(completed, [3, 6]);
  for (const c of [one, two])
    t.like(
      c.frames.find((x) => x.channel === 'memo:m' && x.seq === 3),
      { data: { seq: 3, signed: 's3' } },
    );
  t.like(
    two.frames.find((x) => x.channel === 'memo:m' && x.seq === 6),
    { data: { signed: 's6' } },
  );

  // Nobody here on memo:other: its note is routed, and not completed.
  two.send({ type: 'subscribe', ref: 'o', channel: 'note:other' });
  await two.next('subscribed', (x) => x.ref === 'o');
  await f.note('other', 3);
  await two.next('note 3 of other', (x) => x.channel === 'note:other' && x.seq === 3);
  t.deepEqual(completed, [3, 6]);

  // A resume from the start agrees with the live feed: the filter, read anew, holds the block.
  blocked.set('user-1', ['even']);
  one.close();
  const back = await connect(f, 'user-1');
  back.send({ type: 'subscribe', ref: 'r', channel: 'memo:m', cursor: 0 });
  await back.next('item 7', (x) => x.channel === 'memo:m' && x.seq === 7);
  await f.note('m', 8);
  await f.note('m', 9);
  await back.next('item 9', (x) => x.channel === 'memo:m' && x.seq === 9);
  t.deepEqual(back.items('memo:m'), [1, 3, 5, 7, 9]);
});

test('a live item is serialized once for all the subscribers of its channel, and each gets the same frame', async (t) => {
  const serialized = new Map<number, number>();
  const counted: RealtimeChannelKind = {
    kind: 'tally',
    contexts: ['demo'],
    authorize: async () => true,
    route: (e) => {
      if (e.type !== 'demo.Noted') return [];
      const { board, seq } = e.data as { board: string; seq: number };
      const data = {
        board,
        seq,
        toJSON: () => {
          serialized.set(seq, (serialized.get(seq) ?? 0) + 1);
          return { board, seq };
        },
      };
      return [{ id: board, item: { seq, data } }];
    },
  };
  const f = await start(t, {}, undefined, [counted]);
  const clients = [await connect(f, 'user-1'), await connect(f, 'user-2'), await connect(f, 'user-3')];
  for (const c of clients) {
    c.send({ type: 'subscribe', ref: 's', channel: 'tally:b' });
    await c.next('subscribed', (x) => x.ref === 's');
  }
  for (const seq of [1, 2, 3]) await f.note('b', seq, { projected: false });
  for (const c of clients) await c.next('item 3', (x) => x.channel === 'tally:b' && x.seq === 3);
  for (const c of clients) t.deepEqual(c.items('tally:b'), [1, 2, 3]);
  t.deepEqual(clients[0]!.frames.filter((x) => x.type === 'item')[1], {
    type: 'item',
    channel: 'tally:b',
    seq: 2,
    data: { board: 'b', seq: 2 },
  });
  t.deepEqual([...serialized.entries()].sort(), [
    [1, 1],
    [2, 1],
    [3, 1],
  ]);
});
