import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { decodeJwt } from 'jose';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { RecordedEvent } from '@lectern/schemas';
import type { VerifiedToken } from '@lectern/infra/http/auth';
import type { Consumer, MessageLog } from '@lectern/infra/ports/message-log';
import type { PresenceBus } from '@lectern/infra/ports/presence-bus';
import { Problem } from '@lectern/infra/runtime/errors';
import { SpanKind, startSpan } from '@lectern/infra/runtime/tracing';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { Metrics } from '@lectern/infra/runtime/metrics';
import type {
  ChannelAccess,
  ChannelItem,
  RealtimeAction,
  RealtimeChannelKind,
  SubscriberFilter,
} from '@lectern/infra/runtime/realtime';
import { accessOf, kindsByName } from './kinds.ts';
import { gatewayDefaults, spendFrame, tally, type FrameBudget, type GatewayLimits } from './limits.ts';
import { groupSweepDefaults, type GroupSweepSettings } from './feed-groups.ts';
import { startLiveFeed } from './live-feed.ts';
import { presenceRelay } from './presence-relay.ts';
import {
  CLOSE,
  errorFrame,
  parseChannel,
  parseClientFrame,
  refOfText,
  type ClientFrame,
} from './protocol.ts';
import { sequencer, type Sequencer } from './sequencer.ts';

export { gatewayDefaults, type GatewayLimits } from './limits.ts';

export type GatewayOptions = Readonly<{
  verify: (token: string) => Promise<VerifiedToken>;
  channels: readonly RealtimeChannelKind[];
  actions: readonly RealtimeAction[];
  log: MessageLog;
  namespace: string;
  /** This process, unique among gateways (its consumer group and its presence node). */
  nodeId: string;
  /** The read models a `consistency` frame may name (every SQL projection of the deployment). */
  readModels?: readonly string[];
  /** Whether a read model has applied an event (the platform's `waitFor`). */
  waitFor: (projection: string, streamId: string, position: number) => Promise<boolean>;
  presence: PresenceBus | null;
  logger: Logger;
  metrics?: Metrics;
  limits?: Partial<GatewayLimits>;
  /** Epoch milliseconds; default Date.now. */
  now?: () => number;
  /** Makes connection ids; default crypto.randomUUID. */
  uuid?: () => string;
  /** How the consumer groups of gateways that are gone are swept; defaults in feed-groups.ts. */
  groupSweep?: Partial<GroupSweepSettings>;
  /** The path the socket is served at; default `/ws`. */
  path?: string;
  /**
   * The client's address, as the HTTP server sees it (behind a trusted
   * proxy, from `X-Forwarded-For`); default the socket's peer.
   */
  addressOf?: (req: IncomingMessage) => string;
}>;

type Connection = {
  id: string;
  /** Cleared when the first `auth` frame arrives (its check may take a while). */
  authTimer: NodeJS.Timeout | null;
  ws: WebSocket;
  /** The upgraded socket under `ws`: corked while a turn's frames to it are sent (`sendText`). */
  socket: Duplex;
  caller: VerifiedToken | null;
  token: string;
  subs: Map<string, Subscription>;
  alive: boolean;
  /** Pings in a row it has not answered (two end it), counted only on heartbeats that came on time. */
  missed: number;
  budget: FrameBudget;
  timers: NodeJS.Timeout[];
  closed: boolean;
  /** Its presence and its slot are removed already (the gateway is stopping): the close need not. */
  untracked: boolean;
  /** Where it came from; counted in `unauthenticated` until it authenticates or closes. */
  address: string;
  pending: boolean;
  /** Subscriber filters being read for it: the filter changes the log brings meanwhile, held for them. */
  loadingFilters: Set<Readonly<{ kind: RealtimeChannelKind; held: RecordedEvent[] }>>;
};

type Subscription = {
  conn: Connection;
  channel: string;
  seq: Sequencer;
  /** Given `'public'` access: items marked private are not offered to it. */
  publicOnly: boolean;
  /** What of the channel its subscriber is shown (its kind's `filter`); null for everything. */
  filter: SubscriberFilter | null;
  kind: RealtimeChannelKind | null;
};

export type Gateway = Readonly<{
  /** Serves `/ws` on `server` (upgrades to other paths are left alone). */
  attach(server: Server): void;
  /** Joins the log (its own group, from the end), starts heartbeats and sweeps gone gateways' groups. */
  start(): Promise<void>;
  /**
   * Refuses new connections and closes every open one with 1001 `going_away`
   * (a client reconnects elsewhere). Called as the HTTP server starts to
   * drain: its upgraded sockets are not HTTP connections, so the drain
   * neither waits for them to finish nor can cut them.
   */
  goAway(): void;
  /** Goes away, then leaves the log and deletes its group. */
  stop(): Promise<void>;
  /** Open connections (authenticated or not). */
  connections(): number;
  /** Connections this gateway closed, by reason (`slow_consumer`, `token_expired`…), since it was made. */
  closedFor(): Readonly<Record<string, number>>;
}>;

/** The `type` of a frame's JSON, if it has one (a consistency wait is not queued behind other frames). */
const parseType = (text: string): unknown => {
  try {
    return (JSON.parse(text) as { type?: unknown } | null)?.type;
  } catch {
    return undefined;
  }
};

/**
 * The WebSocket gateway (ARCHITECTURE §2 `realtime/`): authenticates each
 * connection with an access token sent in its first frame (never in the
 * URL), subscribes it to the channels the contexts offer (each subscription
 * authorized by its kind), delivers what the log brings, in order and each
 * once from the client's cursor (see sequencer.ts), runs the contexts'
 * actions, and keeps every connection bounded: a send buffer, a frame rate,
 * a subscription count, connections per user, heartbeats.
 *
 * Each gateway process reads every event of the contexts its channels name,
 * in a consumer group of its own that starts at the end of the log: what
 * happened before a client's cursor comes from durable history, not the log.
 *
 * @example
 *   const gateway = realtimeGateway({ verify, channels, actions, log, namespace, nodeId, waitFor, presence, logger });
 *   gateway.attach(httpServer);
 *   await gateway.start();
 */
export const realtimeGateway = (opts: GatewayOptions): Gateway => {
  const limits: GatewayLimits = { ...gatewayDefaults, ...opts.limits };
  const now = opts.now ?? Date.now;
  const uuid = opts.uuid ?? (() => crypto.randomUUID());
  const path = opts.path ?? '/ws';
  const log = opts.logger.child({ component: 'realtime' });
  const kinds = kindsByName(opts.channels);
  /** Whether the channel tracks presence (only a kind brought once may: see kindsByName). */
  const withPresenceKind = (channel: string) =>
    kinds.get(parseChannel(channel)!.kind)?.[0]?.presence === true;
  const actions = new Map(opts.actions.map((a) => [a.type, a]));
  const connections = new Map<string, Connection>();
  const perUser = tally();
  /** Connections not yet authenticated, by address. */
  const unauthenticated = tally();
  const settle = (c: Connection) => {
    if (!c.pending) return;
    c.pending = false;
    unauthenticated.remove(c.address);
  };
  const addressOf = opts.addressOf ?? ((req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown');
  /** Subscriptions by channel, across connections: where a live item goes. */
  const channels = new Map<string, Set<Subscription>>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    clientTracking: false,
  });
  let consumer: Consumer | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let stopping = false;

  // --- sending --------------------------------------------------------------

  /**
   * `fn` after `ms` of this process's own time: a timer that fires late (the
   * process stalled, and what the peer sent meanwhile may be unread) waits
   * `ms` again, at most twice, so a peer is not charged for our stall.
   */
  const afterOwnTime = (ms: number, fn: () => void, again = 2) => {
    const due = performance.now() + ms;
    setTimeout(() => {
      if (again > 0 && performance.now() - due > ms / 2) afterOwnTime(ms, fn, again - 1);
      else fn();
    }, ms).unref();
  };

  const closes: Record<string, number> = {};
  const close = (c: Connection, how: Readonly<{ code: number; reason: string }>) => {
    if (c.closed) return;
    c.closed = true;
    closes[how.reason] = (closes[how.reason] ?? 0) + 1;
    opts.metrics?.realtimeClosed.inc({ reason: how.reason });
    c.ws.close(how.code, how.reason);
    // A client that does not read will not read the close frame either.
    afterOwnTime(2_000, () => c.ws.terminate());
  };

  /**
   * Connections whose socket is corked in this turn of the event loop: every
   * frame sent to one while the turn lasts (a log batch delivered to its
   * rooms, say) leaves in one write when the turn ends, instead of one
   * write, and one wake-up of the peer, per frame.
   */
  const corked: Connection[] = [];
  const uncorkAll = () => {
    for (const c of corked.splice(0)) c.socket.uncork();
  };
  const cork = (c: Connection) => {
    // Corked already in this turn (a stream counts its corks; the sender's own are undone at once).
    if (c.socket.writableCorked > 0) return;
    c.socket.cork();
    if (corked.push(c) === 1) process.nextTick(uncorkAll);
  };

  /** The frames-sent counter of each frame type, looked up once. */
  const sentOfType = new Map<string, { inc(): void } | undefined>();
  /** Sends a text frame: a string, or its UTF-8 bytes already made (shared by many sends, never copied). */
  const sendText = (c: Connection, text: string | Buffer, type: string) => {
    if (c.closed || c.ws.readyState !== WebSocket.OPEN) return;
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    if (c.ws.bufferedAmount + bytes > limits.maxBufferedBytes) {
      log.warn({ connectionId: c.id, buffered: c.ws.bufferedAmount }, 'realtime client too slow; closing');
      return close(c, CLOSE.slowConsumer);
    }
    cork(c);
    c.ws.send(text, { binary: false });
    let counter = sentOfType.get(type);
    if (!sentOfType.has(type))
      sentOfType.set(type, (counter = opts.metrics?.realtimeFramesSent.labels({ type })));
    counter?.inc();
  };
  const send = (c: Connection, frame: object) =>
    sendText(c, JSON.stringify(frame), (frame as { type?: string }).type ?? 'unknown');

  /**
   * A live item's frame, made once however many subscribers it goes to:
   * every subscription of a channel is offered the same item (the same
   * `data`, channel and seq), so the frame is kept with its data and its
   * bytes are handed to each socket as they are.
   */
  const frames = new WeakMap<object, Readonly<{ channel: string; seq: number; frame: Buffer }>>();
  const itemFrame = (channel: string, item: ChannelItem): Buffer => {
    const data = item.data;
    const cacheable = typeof data === 'object' && data !== null;
    const hit = cacheable ? frames.get(data) : undefined;
    if (hit && hit.channel === channel && hit.seq === item.seq) return hit.frame;
    const frame = Buffer.from(
      `{"type":"item","channel":${JSON.stringify(channel)},"seq":${item.seq},"data":${JSON.stringify(data ?? null)}}`,
    );
    if (cacheable) frames.set(data, { channel, seq: item.seq, frame });
    return frame;
  };

  // --- presence -------------------------------------------------------------

  const relay = opts.presence
    ? presenceRelay({
        bus: opts.presence,
        logger: log,
        fanOut: (channel, frame) => {
          for (const s of channels.get(channel) ?? []) send(s.conn, frame);
        },
      })
    : null;

  // --- subscriptions ----------------------------------------------------------

  const drop = (s: Subscription) => {
    s.seq.close();
    s.conn.subs.delete(s.channel);
    const set = channels.get(s.channel);
    set?.delete(s);
    if (set && set.size === 0) {
      channels.delete(s.channel);
      relay?.unfollow(s.channel);
    }
  };

  const subscribe = async (c: Connection, f: Extract<ClientFrame, { type: 'subscribe' }>) => {
    const { kind: name, id } = parseChannel(f.channel)!;
    const group = kinds.get(name);
    if (!group) throw new Problem('not_found', 'unknown_channel', `There is no channel kind ${name}.`);
    if (!c.subs.has(f.channel) && c.subs.size >= limits.maxSubscriptions)
      throw new Problem(
        'conflict',
        'too_many_subscriptions',
        `At most ${limits.maxSubscriptions} channels per connection.`,
      );
    const access = await accessOf(group, c.caller!, id);
    if (access === false)
      throw new Problem('forbidden', 'forbidden', `You may not subscribe to ${f.channel}.`);
    if (c.closed) return;
    // One kind of this name (kindsByName allows a filter only then): its filter of this subscriber.
    const kind = group.length === 1 ? group[0]! : null;
    if (!kind?.filter) return register(c, f, id, group, access, null);
    // Changes the log brings while the filter is read (and until the subscription is registered) are held for it.
    const loading = { kind, held: [] as RecordedEvent[] };
    c.loadingFilters.add(loading);
    try {
      const filter = await kind.filter.of(c.caller!, id);
      if (filter) for (const e of loading.held.splice(0)) filter.observe(e);
      await register(c, f, id, group, access, filter, () => {
        if (filter) for (const e of loading.held.splice(0)) filter.observe(e);
        c.loadingFilters.delete(loading);
      });
    } finally {
      c.loadingFilters.delete(loading);
    }
  };

  /** The rest of a subscription, once it is allowed; `registering` runs in the same turn as it is registered. */
  const register = async (
    c: Connection,
    f: Extract<ClientFrame, { type: 'subscribe' }>,
    id: string,
    group: readonly RealtimeChannelKind[],
    access: Exclude<ChannelAccess, false>,
    filter: SubscriberFilter | null,
    registering?: () => void,
  ) => {
    if (c.closed) return;
    const previous = c.subs.get(f.channel);
    if (previous) drop(previous);
    const withPresence = withPresenceKind(f.channel) && opts.presence !== null;
    if (withPresence) {
      // Heard before `subscribed` goes out, so a client sees every join and leave after its
      // reply. Presence is best effort: with Redis away, items still flow, and the next
      // subscriber to the channel tries again.
      try {
        await relay!.follow(f.channel);
      } catch (err) {
        log.warn({ err, channel: f.channel }, 'presence unavailable; subscribed without it');
      }
      if (c.closed) {
        if (!channels.get(f.channel)?.size) relay!.unfollow(f.channel);
        return;
      }
    }
    const history = group.length === 1 ? group[0]!.history : undefined;
    send(c, { type: 'subscribed', ref: f.ref, channel: f.channel, cursor: f.cursor });
    const sub: Subscription = {
      conn: c,
      channel: f.channel,
      publicOnly: access === 'public',
      seq: sequencer({
        cursor: history ? f.cursor : null,
        history: history
          ? {
              changesAfter: (after, limit) => history.changesAfter(id, after, limit),
              caughtUp: (position) => opts.waitFor(history.projection, history.streamOf(id), position),
              head: () => history.head(id),
            }
          : null,
        // A hidden item moves the sequencer on all the same: the subscriber just does not get it.
        send: (item) => {
          if (!filter || filter.accepts(item)) sendText(c, itemFrame(f.channel, item), 'item');
        },
        fail: (err) => {
          log.warn({ err, connectionId: c.id, channel: f.channel }, 'realtime resume failed');
          send(c, {
            ...errorFrame(
              new Problem(
                'unavailable',
                'resume_failed',
                'The channel could not be resumed; subscribe again.',
              ),
              null,
            ),
            channel: f.channel,
          });
          drop(sub);
        },
      }),
      filter,
      kind: group.length === 1 ? group[0]! : null,
    };
    registering?.();
    c.subs.set(f.channel, sub);
    let set = channels.get(f.channel);
    if (!set) channels.set(f.channel, (set = new Set()));
    set.add(sub);
    if (withPresence) {
      // Tracked once heard and registered, so the subscriber sees its own join too; with Redis
      // away, the next heartbeat tracks again.
      await opts
        .presence!.track({ userId: c.caller!.userId, connectionId: c.id }, [f.channel])
        .catch((err: unknown) => log.warn({ err, channel: f.channel }, 'presence track failed'));
    }
  };

  const unsubscribe = async (c: Connection, channel: string) => {
    const s = c.subs.get(channel);
    if (!s) return;
    drop(s);
    if (opts.presence && withPresenceKind(channel)) await opts.presence.untrack(c.id, [channel]);
  };

  // --- frames ---------------------------------------------------------------

  const authenticate = async (c: Connection, token: string): Promise<VerifiedToken | null> => {
    try {
      return await opts.verify(token);
    } catch (error) {
      const expired = error instanceof Problem && error.code === 'token_expired';
      close(c, expired ? CLOSE.tokenExpired : CLOSE.unauthenticated);
      return null;
    }
  };

  /** Ends the connection when its token expires (a fresh `auth` frame moves this on). */
  const expireAt = (c: Connection, token: string) => {
    const exp = decodeJwt(token).exp;
    if (typeof exp !== 'number') return;
    for (const t of c.timers.splice(0)) clearTimeout(t);
    // setTimeout takes at most 2^31 - 1 ms (24.8 days); past that it would fire at once.
    const t = setTimeout(
      () => close(c, CLOSE.tokenExpired),
      Math.min(2 ** 31 - 1, Math.max(0, exp * 1000 - now())),
    );
    t.unref();
    c.timers.push(t);
  };

  const onAuth = async (c: Connection, f: Extract<ClientFrame, { type: 'auth' }>) => {
    const first = c.caller === null;
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = null;
    const caller = await authenticate(c, f.token);
    if (!caller || c.closed) return;
    if (!first) {
      if (caller.userId !== c.caller!.userId) return close(c, CLOSE.unauthenticated);
      c.token = f.token;
      expireAt(c, f.token);
      return send(c, { type: 'reply', ref: f.ref, data: { expiresAt: expiry(f.token) } });
    }
    if (perUser.count(caller.userId) >= limits.maxConnectionsPerUser)
      return close(c, CLOSE.tooManyConnections);
    // Counted here before the bus is asked, so two connections of one user racing on this process
    // are both counted; and on the bus, so the limit holds across processes.
    perUser.add(caller.userId);
    const admitted = await claimSlot(c, caller.userId);
    if (!admitted || c.closed) {
      perUser.remove(caller.userId);
      // Closed while the bus was asked: the close did not know the user, so the slot is given back here.
      if (admitted) void releaseSlot(c);
      else close(c, CLOSE.tooManyConnections);
      return;
    }
    settle(c);
    c.caller = caller;
    c.token = f.token;
    expireAt(c, f.token);
    send(c, {
      type: 'welcome',
      ref: f.ref,
      connectionId: c.id,
      userId: caller.userId,
      heartbeatMs: limits.heartbeatMs,
      expiresAt: expiry(f.token),
    });
  };

  /**
   * Claims one of the user's connection slots on the presence bus, which
   * every gateway process shares. If the bus cannot answer (Redis is away),
   * the connection is let in on this process's own count: fail open, as
   * presence is best effort everywhere in the gateway (docs/contexts/chat.md,
   * Limits). The bus remembers the claim and records it at the next renewal.
   */
  const claimSlot = async (c: Connection, userId: string): Promise<boolean> => {
    if (!opts.presence) return true;
    try {
      return await opts.presence.claimConnection(
        { userId, connectionId: c.id },
        limits.maxConnectionsPerUser,
      );
    } catch (err) {
      log.warn(
        { err, connectionId: c.id },
        "connection limit not checked across processes (presence unavailable); admitted on this process's count",
      );
      return true;
    }
  };
  /**
   * Renews the slot of every connection open here, in a few round trips
   * for them all (not one per connection): a slot lives while this process
   * does and its connection is open; a client that vanished is closed by
   * the heartbeat, which gives its slot back. One renewal at a time.
   */
  let renewingSlots = false;
  const renewSlots = () => {
    if (!opts.presence || renewingSlots) return;
    renewingSlots = true;
    opts.presence
      .renewClaims()
      .catch((err: unknown) => log.warn({ err }, 'presence connection renewal failed'))
      .finally(() => {
        renewingSlots = false;
      });
  };
  const releaseSlot = (c: Connection) =>
    opts.presence
      ?.releaseConnection(c.id)
      .catch((err: unknown) => log.warn({ err }, 'presence connection release failed'));

  const expiry = (token: string) => {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' ? new Date(exp * 1000).toISOString() : null;
  };

  /** Spends one frame from the connection's budget; false when it is spent (answered), or closed for a flood. */
  const admit = (c: Connection): boolean => {
    const spent = spendFrame(c.budget, now(), limits);
    if (spent.outcome === 'ok') return true;
    if (spent.outcome === 'flood') close(c, CLOSE.flood);
    else
      send(
        c,
        errorFrame(
          new Problem('rate_limited', 'rate_limited', 'Too many frames; slow down.', {
            retryAfterSeconds: spent.retryAfterSeconds,
          }),
          null,
        ),
      );
    return false;
  };

  const onFrame = async (c: Connection, text: string) => {
    let f: ClientFrame;
    try {
      f = parseClientFrame(text);
    } catch (error) {
      return send(c, errorFrame(error, refOfText(text)));
    }
    if (c.caller === null && f.type !== 'auth') return close(c, CLOSE.unauthenticated);
    try {
      switch (f.type) {
        case 'auth':
          return await onAuth(c, f);
        case 'ping':
          return send(c, { type: 'pong', ref: f.ref });
        case 'consistency': {
          if (!(opts.readModels ?? []).includes(f.readModel))
            throw new Problem('not_found', 'unknown_read_model', `There is no read model ${f.readModel}.`);
          const caughtUp = await opts.waitFor(f.readModel, f.stream, f.position);
          return send(c, { type: 'reply', ref: f.ref, data: { readModel: f.readModel, caughtUp } });
        }
        case 'subscribe':
          return await subscribe(c, f);
        case 'unsubscribe':
          await unsubscribe(c, f.channel);
          return send(c, { type: 'unsubscribed', ref: f.ref, channel: f.channel });
        case 'presence': {
          const s = c.subs.get(f.channel);
          if (!s || !opts.presence || !withPresenceKind(f.channel))
            throw new Problem(
              'conflict',
              'not_subscribed',
              `Subscribe to ${f.channel} (a channel with presence) first.`,
            );
          const members = (await opts.presence.list([f.channel])).get(f.channel) ?? [];
          return send(c, {
            type: 'reply',
            ref: f.ref,
            data: {
              channel: f.channel,
              members: members.map((m) => ({ userId: m.userId, connections: m.connections.length })),
            },
          });
        }
        case 'action': {
          const action = actions.get(f.action);
          if (!action) throw new Problem('not_found', 'unknown_action', `There is no action ${f.action}.`);
          const data = await action.handle({ caller: c.caller!, connectionId: c.id, token: c.token }, f.data);
          return send(c, { type: 'reply', ref: f.ref, data });
        }
      }
    } catch (error) {
      if (!(error instanceof Problem))
        log.error({ err: error, connectionId: c.id, frame: f.type }, 'realtime frame failed');
      send(c, errorFrame(error, f.ref, 'channel' in f ? { channel: f.channel } : {}));
    }
  };

  // --- connections ----------------------------------------------------------

  const onConnection = (ws: WebSocket, socket: Duplex, address: string) => {
    const c: Connection = {
      id: uuid(),
      authTimer: null,
      ws,
      socket,
      caller: null,
      token: '',
      subs: new Map(),
      alive: true,
      missed: 0,
      budget: { tokens: limits.framesBurst, refilledAt: now() },
      timers: [],
      closed: false,
      untracked: false,
      address,
      pending: true,
      loadingFilters: new Set(),
    };
    unauthenticated.add(address);
    connections.set(c.id, c);
    opts.metrics?.realtimeConnections.set(connections.size);
    c.authTimer = setTimeout(() => c.caller === null && close(c, CLOSE.authTimeout), limits.authTimeoutMs);
    c.authTimer.unref();
    // Frames of one connection are handled one after the other, in order,
    // except a consistency wait, which holds nothing else up.
    let chain: Promise<void> = Promise.resolve();
    ws.on('message', (data: RawData, binary: boolean) => {
      c.alive = true;
      if (c.closed || !admit(c)) return;
      if (binary)
        return send(c, errorFrame(new Problem('validation', 'bad_frame', 'Frames are JSON text.'), null));
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data).toString('utf8');
      if (text.includes('"consistency"') && parseType(text) === 'consistency') {
        void onFrame(c, text).catch((err: unknown) =>
          log.error({ err, connectionId: c.id }, 'realtime frame failed'),
        );
        return;
      }
      chain = chain
        .then(() => onFrame(c, text))
        .catch((err: unknown) => log.error({ err, connectionId: c.id }, 'realtime frame failed'));
    });
    ws.on('pong', () => {
      c.alive = true;
      if (opts.presence && c.caller && c.subs.size > 0)
        opts.presence.heartbeat(c.id).catch((err: unknown) => log.warn({ err }, 'presence heartbeat failed'));
    });
    ws.on('error', (err) => log.warn({ err, connectionId: c.id }, 'realtime socket error'));
    ws.on('close', () => {
      c.closed = true;
      settle(c);
      if (c.authTimer) clearTimeout(c.authTimer);
      for (const t of c.timers) clearTimeout(t);
      for (const s of [...c.subs.values()]) drop(s);
      connections.delete(c.id);
      opts.metrics?.realtimeConnections.set(connections.size);
      if (c.caller) {
        perUser.remove(c.caller.userId);
        if (!c.untracked) {
          opts.presence?.untrack(c.id).catch((err: unknown) => log.warn({ err }, 'presence untrack failed'));
          void releaseSlot(c);
        }
      }
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== path) return;
    if (stopping) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    const address = addressOf(req);
    if (unauthenticated.count(address) >= limits.maxUnauthenticatedPerAddress) {
      closes.too_many_unauthenticated = (closes.too_many_unauthenticated ?? 0) + 1;
      opts.metrics?.realtimeClosed.inc({ reason: 'too_many_unauthenticated' });
      socket.end(
        'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, socket, address));
  };

  // --- the live feed --------------------------------------------------------

  /** Offers an item to its channel's subscribers here (one given `'public'` access skips a private item). */
  const offer = (channel: string, item: ChannelItem, position: number) => {
    for (const s of channels.get(channel) ?? [])
      if (!(item.private && s.publicOnly)) s.seq.offer({ ...item, position });
  };

  /** Hands an event that changes users' filters to their subscriptions of `kind`, and to filters being read. */
  const changeFilters = (event: RecordedEvent, kind: RealtimeChannelKind) => {
    const users = new Set(kind.filter!.changes(event));
    if (users.size === 0) return;
    // Such events are rare (a user blocks someone): a pass over the connections is cheap enough.
    for (const c of connections.values()) {
      if (!c.caller || !users.has(c.caller.userId)) continue;
      for (const s of c.subs.values()) if (s.kind === kind) s.filter?.observe(event);
      for (const l of c.loadingFilters) if (l.kind === kind) l.held.push(event);
    }
  };

  /**
   * One event of the log: the subscriptions it revokes, the filters it
   * changes, then its items. An item the kind completes (`complete`: a
   * signed URL) goes out when that resolves; the promise says when all
   * have (undefined when none needed it).
   */
  const handle = (
    event: RecordedEvent,
    routed: readonly RealtimeChannelKind[],
    traceparent: string | undefined,
  ): Promise<void> | undefined => {
    const completing: Promise<void>[] = [];
    // Every kind's revocations and filter changes before any item of the event: an item that says
    // a filter changed (a user's own channel) reaches no one ahead of the change.
    for (const kind of routed) {
      try {
        for (const r of kind.revoke?.(event) ?? []) {
          const channel = `${kind.kind}:${r.id}`;
          for (const s of [...(channels.get(channel) ?? [])])
            if (s.conn.caller?.userId === r.userId) {
              drop(s);
              send(s.conn, { type: 'unsubscribed', ref: null, channel, reason: 'revoked' });
              if (kind.presence && opts.presence)
                opts.presence
                  .untrack(s.conn.id, [channel])
                  .catch((err: unknown) => log.warn({ err }, 'presence untrack failed'));
            }
        }
        if (kind.filter) changeFilters(event, kind);
      } catch (err) {
        log.error(
          { err, eventId: event.id, kind: kind.kind },
          'realtime revoke or filter change failed for this kind; its items still go out',
        );
      }
    }
    for (const kind of routed) {
      let deliveries;
      try {
        deliveries = kind.route(event);
      } catch (err) {
        log.error(
          { err, eventId: event.id, kind: kind.kind },
          'realtime route failed; event skipped for this kind',
        );
        continue;
      }
      for (const d of deliveries) {
        const channel = `${kind.kind}:${d.id}`;
        // Nobody here to see it: nothing to complete or offer.
        const subscribers = channels.get(channel)?.size ?? 0;
        if (!subscribers) continue;
        // A delivery span continues the trace of the message (the relay's
        // publish); it names the kind, never the channel's id (a user's, a room's).
        const traced = startSpan(`deliver ${kind.kind}`, {
          kind: SpanKind.PRODUCER,
          parent: traceparent,
          attributes: {
            'lectern.realtime.kind': kind.kind,
            'lectern.realtime.subscribers': subscribers,
            'lectern.event.type': event.type,
          },
        });
        let completed: Promise<ChannelItem> | null = null;
        try {
          completed = kind.complete?.(d.id, d.item) ?? null;
        } catch (err) {
          log.warn(
            { err, eventId: event.id, kind: kind.kind },
            'realtime complete failed; item sent as routed',
          );
        }
        if (!completed) {
          offer(channel, d.item, event.position);
          traced.span.end();
          continue;
        }
        completing.push(
          completed
            .catch((err: unknown) => {
              log.warn(
                { err, eventId: event.id, kind: kind.kind },
                'realtime complete failed; item sent as routed',
              );
              return d.item;
            })
            .then((item) => offer(channel, item, event.position))
            .finally(() => traced.span.end()),
        );
      }
    }
    return completing.length === 0 ? undefined : Promise.all(completing).then(() => undefined);
  };

  /**
   * Events in log order, each handled in full before the next: at once
   * while nothing is being completed, queued behind an item that is (its
   * URLs are being signed), so no later item, revocation or filter change
   * overtakes it.
   */
  const queue: [RecordedEvent, readonly RealtimeChannelKind[], string | undefined][] = [];
  let draining = false;
  const drain = async () => {
    draining = true;
    try {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const busy = handle(...next);
        if (busy) await busy.catch((err: unknown) => log.error({ err }, 'realtime delivery failed'));
      }
    } finally {
      draining = false;
    }
  };
  const deliver = (event: RecordedEvent, routed: readonly RealtimeChannelKind[], traceparent?: string) => {
    queue.push([event, routed, traceparent]);
    if (!draining) void drain();
  };

  const goAway = () => {
    stopping = true;
    for (const c of connections.values()) close(c, CLOSE.goingAway);
  };

  return {
    attach(server) {
      server.on('upgrade', onUpgrade);
    },

    async start() {
      consumer = await startLiveFeed({
        log: opts.log,
        namespace: opts.namespace,
        nodeId: opts.nodeId,
        kinds: opts.channels,
        logger: log,
        deliver,
        sweep: { ...groupSweepDefaults, ...opts.groupSweep },
        now,
      });
      // A heartbeat that comes late means this process stalled (a long GC, a busy machine): the
      // pongs sent meanwhile may still be unread, so such a beat pings again but counts no miss.
      // A client is judged on our time, never charged for our own stall.
      let lastBeat = performance.now();
      heartbeat = setInterval(() => {
        const at = performance.now();
        const onTime = at - lastBeat < limits.heartbeatMs * 1.5;
        lastBeat = at;
        for (const c of connections.values()) {
          if (c.closed) continue;
          if (c.alive) c.missed = 0;
          else if (onTime) c.missed++;
          if (c.missed >= 2) {
            close(c, CLOSE.heartbeatTimeout);
            c.ws.terminate();
            continue;
          }
          c.alive = false;
          c.ws.ping();
        }
        renewSlots();
      }, limits.heartbeatMs);
      heartbeat.unref();
    },

    goAway,

    async stop() {
      goAway();
      if (heartbeat) clearInterval(heartbeat);
      // Now, not as each socket's close comes in: the bus may be closed by then, and the other
      // processes should see these users leave at once rather than expire.
      await Promise.all(
        [...connections.values()]
          .filter((c) => c.caller && !c.untracked)
          .map((c) => {
            c.untracked = true;
            return Promise.all([
              opts.presence
                ?.untrack(c.id)
                .catch((err: unknown) => log.warn({ err }, 'presence untrack failed')),
              releaseSlot(c),
            ]);
          }),
      );
      await consumer?.stop();
      consumer = null;
      relay?.unfollowAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },

    connections: () => connections.size,
    closedFor: () => ({ ...closes }),
  };
};
