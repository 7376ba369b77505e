import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import {
  checkChannels,
  checkLimit,
  presenceSettings,
  type PresenceBus,
  type PresenceChange,
  type PresenceListener,
  type PresenceMember,
  type PresenceOptions,
} from '../ports/presence-bus.ts';
import { localConnections } from './local.ts';
import { groupMembers } from './members.ts';

export type RedisPresenceOptions = PresenceOptions &
  Readonly<{
    /** `redis://[user@]host:port[/db]`; the password is not in it. */
    url: string;
    /** Read by the caller from its file (`REDIS_PASSWORD_FILE`), never from the environment. */
    password?: string;
    /**
     * Prefix of every key and pub/sub channel of this bus; buses that are to
     * see each other use the same one (one per deployment namespace).
     * Default `lectern:presence:`.
     */
    keyPrefix?: string;
  }>;

/*
 * The data, per channel C (keys are the prefix, then a kind, `|`, the
 * channel; `|` is in no channel name, so no two kinds can collide):
 *
 *   z|C  sorted set   connection id → its lease's end (epoch ms)
 *   m|C  hash         connection id → {"u": user, "n": node, "j": joined at}
 *   u|C  hash         user id → how many of their connections are in C
 *   e|C  pub/sub      the changes of C, as JSON
 *   expiry  sorted set  `<connection>|<C>` → lease end, for every channel:
 *                        what a sweep reads, so no process has to know the channels
 *
 * and per user U, the connections that claimed one of U's slots:
 *
 *   c|U     sorted set   connection id → its claim's end (epoch ms)
 *   claims  sorted set   `<connection>|<U>` → claim end, for every user: what a sweep reads
 *
 * A claim counts the live members of c|U and adds itself in the same
 * script, so two gateways admitting at once cannot both take the last slot.
 *
 * Centrifugo keeps presence the same way (a sorted set of expiries beside a
 * hash of data, cleaned in Lua). Every change is one script that changes the
 * data and publishes the change together, so a join or leave is published
 * exactly once whichever process sweeps, and never without its state. Empty
 * hashes and sets vanish by themselves: a channel nobody is in costs nothing.
 *
 * The scripts build key names from the prefix, so they need one Redis (or
 * a primary with replicas), not a Redis Cluster.
 */
const PRELUDE = `
local P, NOW_S = ARGV[1], ARGV[2]
local NOW = tonumber(NOW_S)
local EXPIRY = P .. 'expiry'
local CLAIMS = P .. 'claims'
local function key(kind, c) return P .. kind .. '|' .. c end

local function unclaim(user, conn)
  redis.call('ZREM', key('c', user), conn)
  redis.call('ZREM', CLAIMS, conn .. '|' .. user)
end
local function reclaim(user, conn, until_s)
  redis.call('ZADD', key('c', user), until_s, conn)
  redis.call('ZADD', CLAIMS, until_s, conn .. '|' .. user)
end

local function remove(c, conn, reason)
  local raw = redis.call('HGET', key('m', c), conn)
  redis.call('ZREM', EXPIRY, conn .. '|' .. c)
  if not raw then return end
  local lease = tonumber(redis.call('ZSCORE', key('z', c), conn))
  redis.call('ZREM', key('z', c), conn)
  redis.call('HDEL', key('m', c), conn)
  local info = cjson.decode(raw)
  local left = redis.call('HINCRBY', key('u', c), info.u, -1)
  if left <= 0 then
    redis.call('HDEL', key('u', c), info.u)
    left = 0
  end
  -- Untracked after its lease ran out (and before a sweep saw it): it had expired first.
  if reason == 'untracked' and lease and lease <= NOW then reason = 'expired' end
  redis.call('PUBLISH', key('e', c), cjson.encode({type = 'leave', reason = reason, channel = c,
    userId = info.u, connectionId = conn, nodeId = info.n, userConnections = left, at = NOW}))
end
`;

/** ARGV: prefix, now, connection, user, node, lease end, channels… */
const ENSURE = `${PRELUDE}
local conn, user, node, until_s = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
for i = 7, #ARGV do
  local c = ARGV[i]
  local lease = redis.call('ZSCORE', key('z', c), conn)
  if lease and tonumber(lease) > NOW then
    redis.call('ZADD', key('z', c), until_s, conn)
    redis.call('ZADD', EXPIRY, until_s, conn .. '|' .. c)
  else
    if lease then remove(c, conn, 'expired') end
    redis.call('ZADD', key('z', c), until_s, conn)
    redis.call('HSET', key('m', c), conn, cjson.encode({u = user, n = node, j = NOW}))
    redis.call('ZADD', EXPIRY, until_s, conn .. '|' .. c)
    local count = redis.call('HINCRBY', key('u', c), user, 1)
    redis.call('PUBLISH', key('e', c), cjson.encode({type = 'join', channel = c, userId = user,
      connectionId = conn, nodeId = node, userConnections = count, at = NOW}))
  end
end
return 1
`;

/** ARGV: prefix, now, connection, channels… */
const UNTRACK = `${PRELUDE}
for i = 4, #ARGV do remove(ARGV[i], ARGV[3], 'untracked') end
return 1
`;

/** ARGV: prefix, now, connection, user, limit, lease end; returns 1 if the connection holds a slot now, 0 if the user has none free. */
const CLAIM = `${PRELUDE}
local conn, user, limit, until_s = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local held = key('c', user)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', held, '-inf', NOW_S)) do unclaim(user, gone) end
if not redis.call('ZSCORE', held, conn) and redis.call('ZCARD', held) >= limit then return 0 end
reclaim(user, conn, until_s)
return 1
`;

/** ARGV: prefix, now, lease end, then connection and user of each claim. Renewed even if it had run out (the limit is for admission). */
const RENEW = `${PRELUDE}
for i = 4, #ARGV, 2 do reclaim(ARGV[i + 1], ARGV[i], ARGV[3]) end
return 1
`;

/** ARGV: prefix, now, connection, user. */
const RELEASE = `${PRELUDE}
unclaim(ARGV[4], ARGV[3])
return 1
`;

/** ARGV: prefix, now, most to remove; returns how many presence leases, and how many claims, had run out. */
const SWEEP = `${PRELUDE}
local most = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', NOW_S, 'LIMIT', 0, most)
for _, member in ipairs(due) do
  local bar = string.find(member, '|', 1, true)
  remove(string.sub(member, bar + 1), string.sub(member, 1, bar - 1), 'expired')
end
local claims = redis.call('ZRANGEBYSCORE', CLAIMS, '-inf', NOW_S, 'LIMIT', 0, most)
for _, member in ipairs(claims) do
  local bar = string.find(member, '|', 1, true)
  unclaim(string.sub(member, bar + 1), string.sub(member, 1, bar - 1))
end
return {#due, #claims}
`;

/** ARGV: prefix, now, channels…; returns, per channel, [connection, data, connection, data, …] of live leases. */
const LIST = `${PRELUDE}
local out = {}
for i = 3, #ARGV do
  local c = ARGV[i]
  local conns = redis.call('ZRANGEBYSCORE', key('z', c), '(' .. NOW_S, '+inf')
  local row = {}
  -- HMGET in slices: unpack() of a whole large room would overflow Lua's stack.
  for from = 1, #conns, 1000 do
    local slice = {}
    for j = from, math.min(from + 999, #conns) do slice[#slice + 1] = conns[j] end
    local infos = redis.call('HMGET', key('m', c), unpack(slice))
    for j, conn in ipairs(slice) do
      if infos[j] then
        row[#row + 1] = conn
        row[#row + 1] = infos[j]
      end
    end
  end
  out[#out + 1] = row
end
return out
`;

/** How many expired leases one sweep script removes; a sweep repeats while there are more. */
const SWEEP_BATCH = 500;
/** How many claims one renewal script renews, so that no one script holds Redis for long. */
const RENEW_BATCH = 1_000;

type Script = Readonly<{ source: string; sha1: string }>;
const script = (source: string): Script => ({
  source,
  sha1: createHash('sha1').update(source).digest('hex'),
});
const scripts = {
  ensure: script(ENSURE),
  untrack: script(UNTRACK),
  claim: script(CLAIM),
  renew: script(RENEW),
  release: script(RELEASE),
  sweep: script(SWEEP),
  list: script(LIST),
};

type WireChange = {
  type: 'join' | 'leave';
  reason?: 'untracked' | 'expired';
  channel: string;
  userId: string;
  connectionId: string;
  nodeId: string;
  userConnections: number;
  at: number;
};

const changeOf = (json: string): PresenceChange => {
  const w = JSON.parse(json) as WireChange;
  const common = {
    channel: String(w.channel),
    userId: String(w.userId),
    connectionId: String(w.connectionId),
    nodeId: String(w.nodeId),
    userConnections: Number(w.userConnections),
    at: new Date(Number(w.at)),
  };
  return w.type === 'join'
    ? { type: 'join', ...common }
    : { type: 'leave', reason: w.reason === 'untracked' ? 'untracked' : 'expired', ...common };
};

/**
 * The options that point node-redis at `url` as its user, with `password`
 * (else the URL's own, if it has one). node-redis takes the credentials of
 * a URL over its `password` option, even a URL that names only the user,
 * so the user is taken out of the URL and given on its own.
 */
export const redisTarget = (url: string, password?: string) => {
  const target = new URL(url);
  const username = decodeURIComponent(target.username);
  const secret = password ?? (target.password ? decodeURIComponent(target.password) : undefined);
  target.username = '';
  target.password = '';
  return {
    url: target.toString(),
    ...(username ? { username } : {}),
    ...(secret === undefined ? {} : { password: secret }),
  };
};

/**
 * The PresenceBus on Redis (6 or later; CI runs 7.0): one connection for commands and
 * scripts, one for pub/sub. Opening fails if Redis cannot be reached or
 * refuses the credentials; once open, the client reconnects by itself and
 * resubscribes.
 *
 * @example
 *   const presence = await openRedisPresenceBus({
 *     url: process.env.REDIS_URL!, password: readFileSync(process.env.REDIS_PASSWORD_FILE!, 'utf8').trim(),
 *     nodeId: `realtime-${hostname()}`, keyPrefix: `${namespace}:presence:`,
 *   });
 */
export const openRedisPresenceBus = async (options: RedisPresenceOptions): Promise<PresenceBus> => {
  const { nodeId, ttlMs, sweepIntervalMs, clock, onError } = presenceSettings(options);
  const prefix = options.keyPrefix ?? 'lectern:presence:';
  let opened = false;
  const client = createClient({
    ...redisTarget(options.url, options.password),
    name: `lectern-presence-${nodeId}`,
    // While Redis is away a call fails at once rather than waiting in a
    // queue: presence converges by the next heartbeat anyway, and a caller
    // should not hold a socket's handling for an outage.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 5_000,
      // Opening fails at once (a wrong URL, a server that is down); an open
      // bus retries with a capped backoff, however long Redis is away.
      reconnectStrategy: (retries, cause) => (opened ? Math.min(50 * 2 ** retries, 2_000) : cause),
    },
  });
  client.on('error', (error: unknown) => {
    if (opened) onError(error, 'redis');
  });
  await client.connect();
  const subscriber = client.duplicate();
  subscriber.on('error', (error: unknown) => {
    if (opened) onError(error, 'redis subscriber');
  });
  try {
    await subscriber.connect();
  } catch (error) {
    client.destroy();
    throw error;
  }
  opened = true;

  const now = () => clock.now().getTime();
  /** Runs a script by its SHA-1, sending its source only when Redis does not have it (first use, or a restarted server). */
  const run = async (s: Script, args: readonly (string | number)[]): Promise<unknown> => {
    const argv = [prefix, ...args].map(String);
    try {
      return await client.evalSha(s.sha1, { arguments: argv });
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(s.source, { arguments: argv });
    }
  };

  const local = localConnections();
  /** The last renewal of claims, settled or not: a release waits for it. */
  let renewing: Promise<void> = Promise.resolve();
  let closed = false;
  const open = () => {
    if (closed) throw new Error('presence: the bus is closed');
  };

  // 1. Sweeping: every bus looks for run-out leases; the script makes sure
  //    each is removed, and its leave published, once.
  let sweeping: Promise<void> | undefined;
  const sweep = async () => {
    let total = 0;
    for (;;) {
      const [presences, claims] = (await run(scripts.sweep, [now(), SWEEP_BATCH])) as [number, number];
      total += Number(presences);
      if (closed || (Number(presences) < SWEEP_BATCH && Number(claims) < SWEEP_BATCH)) return total;
    }
  };
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = sweep()
      .then(() => {})
      .catch((error: unknown) => onError(error, 'sweep'))
      .finally(() => {
        sweeping = undefined;
      });
  }, sweepIntervalMs);
  timer.unref();

  // 2. Delivery: one Redis subscription per channel, shared by this bus's
  //    listeners of it. Subscribing and unsubscribing run one after another,
  //    so a channel is never unsubscribed under a listener just added.
  const listeners = new Map<string, Set<PresenceListener>>();
  let subscriptions: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = subscriptions.then(fn, fn);
    subscriptions = next.catch(() => {});
    return next;
  };
  const dispatch = (message: string) => {
    let change: PresenceChange;
    try {
      change = changeOf(message);
    } catch (error) {
      onError(error, 'message');
      return;
    }
    for (const listener of [...(listeners.get(change.channel) ?? [])]) {
      try {
        listener(change);
      } catch (error) {
        onError(error, `listener of ${change.channel}`);
      }
    }
  };
  const eventsOf = (channel: string) => `${prefix}e|${channel}`;

  return {
    nodeId,
    async track(connection, channels) {
      open();
      const { userId, connectionId, channels: all } = local.track(connection, channels);
      await local.serial(connectionId, async () => {
        const t = now();
        await run(scripts.ensure, [t, connectionId, userId, nodeId, t + ttlMs, ...all]);
      });
    },
    async heartbeat(connectionId) {
      open();
      return local.serial(connectionId, async () => {
        const known = local.get(connectionId);
        if (!known) return false;
        const t = now();
        await run(scripts.ensure, [t, connectionId, known.userId, nodeId, t + ttlMs, ...known.channels]);
        return true;
      });
    },
    async claimConnection(connection, limit) {
      open();
      checkLimit(limit);
      const { userId, connectionId } = local.claim(connection);
      return local.serial(connectionId, async () => {
        const t = now();
        let granted: boolean;
        try {
          granted = Number(await run(scripts.claim, [t, connectionId, userId, limit, t + ttlMs])) === 1;
        } catch (error) {
          // Unknown: remembered, so the next renewal records it if the caller keeps the connection.
          local.decided(connectionId);
          throw error;
        }
        if (granted) local.decided(connectionId);
        else local.release(connectionId);
        return granted;
      });
    },
    async renewClaims() {
      open();
      const held = local.claimed();
      const renewal = (async () => {
        for (let from = 0; from < held.length; from += RENEW_BATCH) {
          const t = now();
          const pairs = held.slice(from, from + RENEW_BATCH).flat();
          await run(scripts.renew, [t, t + ttlMs, ...pairs]);
        }
      })();
      renewing = Promise.all([renewing, renewal.catch(() => {})]).then(() => {});
      await renewal;
      return held.length;
    },
    async releaseConnection(connectionId) {
      open();
      const userId = local.release(connectionId);
      if (userId === undefined) return;
      // After a renewal that read the claim before this release, which would otherwise put it back.
      const before = renewing;
      await local.serial(connectionId, async () => {
        await before;
        await run(scripts.release, [now(), connectionId, userId]);
      });
    },
    async untrack(connectionId, channels) {
      open();
      const removed = local.untrack(connectionId, channels);
      if (removed.length === 0) return;
      await local.serial(connectionId, async () => {
        await run(scripts.untrack, [now(), connectionId, ...removed]);
      });
    },
    async list(channels) {
      open();
      const wanted = checkChannels(channels);
      const rows = wanted.length === 0 ? [] : ((await run(scripts.list, [now(), ...wanted])) as string[][]);
      return new Map<string, readonly PresenceMember[]>(
        wanted.map((channel, i) => {
          const row = rows[i] ?? [];
          const entries = [];
          for (let j = 0; j + 1 < row.length; j += 2) {
            const info = JSON.parse(row[j + 1]!) as { u: string; n: string; j: number };
            entries.push({
              userId: info.u,
              connectionId: row[j]!,
              nodeId: info.n,
              joinedAt: new Date(info.j),
            });
          }
          return [channel, groupMembers(entries)];
        }),
      );
    },
    async subscribe(channels, listener) {
      open();
      const wanted = checkChannels(channels);
      // A listener of its own per subscription, so that the same function
      // subscribed twice is unsubscribed once per subscription.
      const mine: PresenceListener = (change) => listener(change);
      await serially(async () => {
        const fresh = wanted.filter((c) => !listeners.has(c));
        for (const c of wanted) listeners.set(c, (listeners.get(c) ?? new Set()).add(mine));
        try {
          if (fresh.length > 0) await subscriber.subscribe(fresh.map(eventsOf), dispatch);
        } catch (error) {
          for (const c of wanted) listeners.get(c)?.delete(mine);
          for (const c of fresh) listeners.delete(c);
          throw error;
        }
      });
      return {
        unsubscribe: () =>
          serially(async () => {
            const done: string[] = [];
            for (const c of wanted) {
              const set = listeners.get(c);
              if (!set?.delete(mine) || set.size > 0) continue;
              listeners.delete(c);
              done.push(c);
            }
            if (done.length > 0 && !closed) await subscriber.unsubscribe(done.map(eventsOf), dispatch);
          }),
      };
    },
    async sweep() {
      open();
      return sweep();
    },
    async ping() {
      open();
      await client.ping();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await sweeping;
      await subscriptions;
      listeners.clear();
      await Promise.allSettled([subscriber.close(), client.close()]);
    },
  };
};
