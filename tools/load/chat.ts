import { randomUUID } from 'node:crypto';
import { testClient, type TestClient } from '@lectern/realtime/testing/client';
import { summarize, waitUntil } from '../src/bench/stats.ts';
import { client, pacedRun, progress, recorder, type Client, type Plan } from './measure.ts';
import { deliveryWithin, errorRateBelow, none, p95Within } from './thresholds.ts';

/** Messages per second over 100 users: 0.2 per user, far under the flood limit of 2 per user per second. */
export const CHAT_RATE = 20;
export const CHAT_QUICK_RATE = 5;
/** The chat flood limit (20 messages per user per 10 s): the rate may not ask for more. */
const PER_USER_PER_SECOND = 2;
/** How long a message may take to reach every member before it counts as lost. */
const DELIVERY_PATIENCE_MS = 30_000;

type Member = { id: string; token: string; room: string; socket: TestClient | null };
type Pending = { sentAt: number; measured: boolean; waiting: Set<string> };

/**
 * An authenticated socket subscribed to `room`. A room just made may not be
 * in the read model the gateway authorizes with yet: a refusal is asked
 * again until it is (bounded), as the realtime bench does.
 */
/** Sockets opening at once: well under the gateway's 32 unauthenticated per address. */
const CONNECTING_AT_ONCE = 16;

const connect = async (wsUrl: string, member: Member): Promise<TestClient> => {
  const socket = await testClient(wsUrl);
  socket.send({ type: 'auth', token: member.token });
  await socket.next('welcome', (f) => f.type === 'welcome');
  let attempt = 0;
  await waitUntil(
    `a subscription to ${member.room}`,
    async () => {
      const ref = `sub-${attempt++}`;
      socket.send({ type: 'subscribe', ref, channel: `room:${member.room}` });
      const answer = await socket.next('the answer to subscribe', (f) => f.ref === ref);
      if (answer.type === 'subscribed') return true;
      if (answer.code !== 'forbidden') throw new Error(`subscribe: ${JSON.stringify(answer)}`);
      return false;
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return socket;
};

/** `users` users by development tokens, in group rooms of `perRoom`, each room made by its first member. */
const seed = async (http: Client, users: number, perRoom: number): Promise<Member[]> => {
  const members: Member[] = await Promise.all(
    Array.from({ length: users }, async () => {
      const id = randomUUID();
      const r = await http('POST', '/api/dev/token', { body: { sub: id, roles: ['learner'] } });
      return { id, token: r.body.token as string, room: '', socket: null };
    }),
  );
  for (let first = 0; first < users; first += perRoom) {
    const group = members.slice(first, first + perRoom);
    const created = await http('POST', '/api/chat/rooms', {
      token: group[0]!.token,
      body: { name: `load ${first / perRoom}`, members: group.slice(1).map((m) => m.id) },
      expect: 201,
    });
    for (const m of group) m.room = created.body.roomId as string;
  }
  return members;
};

/**
 * chat: `users` users (100; 20 with --quick) each hold a WebSocket,
 * subscribed to their group room of 10 (5). Messages are sent over REST
 * (`POST /api/chat/rooms/:id/messages`, as the chat flows do), senders in
 * turn; each message is timed from its send to its receipt by every other
 * member of the room. After the window, the run waits (bounded) for every
 * message sent, warm-up included, to arrive: what never does is lost.
 */
export const chatScenario = async (url: string, plan: Plan) => {
  const http = client(url);
  const [users, perRoom] = plan.quick ? [20, 5] : [100, 10];
  if (plan.ratePerSecond > users * PER_USER_PER_SECOND * 0.9)
    throw new Error(
      `chat at ${plan.ratePerSecond}/s would pass the flood limit (${PER_USER_PER_SECOND}/s per user, ${users} users)`,
    );
  const members = await seed(http, users, perRoom);
  const wsUrl = `${url.replace(/^http/, 'ws')}/ws`;
  const pending = new Map<string, Pending>();
  /** Numbers the messages: a body names its message to the sockets that receive it. */
  let sent = 0;
  const deliveries: number[] = [];
  const received = (member: Member) => (data: unknown) => {
    const frame = JSON.parse(String(data)) as { type?: string; data?: { message?: { body?: string } } };
    const body = frame.type === 'item' ? frame.data?.message?.body : undefined;
    const message = body === undefined ? undefined : pending.get(body);
    if (!message?.waiting.delete(member.id)) return;
    if (message.measured) deliveries.push(performance.now() - message.sentAt);
    if (message.waiting.size === 0) pending.delete(body!);
  };

  // 1. Connections, CONNECTING_AT_ONCE at a time, each timed from its open to its
  //    subscription. All at once, they would be refused: they come from one
  //    address, and the gateway lets one address hold at most 32 sockets that
  //    have not authenticated yet (maxUnauthenticatedPerAddress).
  const connectMs: number[] = [];
  let connectErrors = 0;
  let firstConnectError: string | undefined;
  try {
    const queue = [...members];
    await Promise.all(
      Array.from({ length: CONNECTING_AT_ONCE }, async () => {
        for (let m = queue.shift(); m; m = queue.shift()) {
          const t = performance.now();
          try {
            m.socket = await connect(wsUrl, m);
            connectMs.push(performance.now() - t);
            m.socket.ws.on('message', received(m));
          } catch (error) {
            connectErrors++;
            firstConnectError ??= String(error);
          }
        }
      }),
    );
    progress(`chat: ${connectMs.length} of ${users} sockets subscribed`);

    // 2. Messages at the asked rate; the receipts come in on the sockets meanwhile.
    const rec = recorder();
    const measured = await pacedRun(
      plan,
      rec,
      async (slot, i) => {
        const sender = members[i % members.length]!;
        // Words and digits only: random hex can spell what the profanity filter refuses.
        const body = `load message ${sent++}`;
        const others = members.filter((m) => m.room === sender.room && m !== sender && m.socket);
        // Expected before the send: an item can reach a socket before the POST's answer does.
        pending.set(body, {
          sentAt: performance.now(),
          measured: slot.measured,
          waiting: new Set(others.map((m) => m.id)),
        });
        await rec
          .time('send', slot, slot.due, () =>
            http('POST', `/api/chat/rooms/${sender.room}/messages`, {
              token: sender.token,
              body: { clientMessageId: randomUUID(), body },
              expect: 201,
            }),
          )
          .catch((error: unknown) => {
            // Refused: nothing to deliver, and counted as an error rather than as lost.
            pending.delete(body);
            throw error;
          });
      },
      ['send'],
    );

    // 3. What was sent arrives, or is lost.
    await waitUntil('every message delivered', async () => pending.size === 0, {
      timeoutMs: DELIVERY_PATIENCE_MS,
      intervalMs: 20,
    }).catch(() => {});
    const messagesLost = [...pending.values()].filter((m) => m.waiting.size > 0).length;
    const deliveriesLost = [...pending.values()].reduce((n, m) => n + m.waiting.size, 0);
    const delivery = summarize(deliveries);
    return {
      ...measured,
      ...(measured.firstError || !firstConnectError ? {} : { firstError: `connect: ${firstConnectError}` }),
      users,
      usersPerRoom: perRoom,
      connections: { opened: connectMs.length, errors: connectErrors, latencyMs: summarize(connectMs) },
      delivery: { received: deliveries.length, latencyMs: delivery },
      messagesLost,
      deliveriesLost,
      thresholds: [
        p95Within('chat', rec.pooled(['send']).p95),
        deliveryWithin(delivery.p95),
        none('connect errors', connectErrors),
        none('messages lost', messagesLost),
        errorRateBelow(measured.errorRate),
      ],
    };
  } finally {
    for (const m of members) m.socket?.close();
  }
};
