import { systemClock, type Clock } from '../runtime/ids.ts';

/**
 * Who is online, across every realtime process: each gateway tracks its own
 * WebSocket connections in channels (a room, a user's own channel, a
 * course), any process lists who is present in a channel, and every change
 * (a join, a leave) is published to the subscribers of its channel in every
 * process. Redis in the single-node and distributed profiles; in process
 * for the embedded profile.
 *
 * The model is Phoenix Presence's and Centrifugo's:
 *
 * - A **presence is a connection in a channel**, grouped by user when
 *   listed (Phoenix's key and metas): a user with two tabs open is one
 *   member with two connections, online until both are gone.
 * - **Liveness is a lease.** A connection stays present `ttlMs` after its
 *   last {@link PresenceBus.track} or {@link PresenceBus.heartbeat}; the
 *   gateway calls `heartbeat` as its client's heartbeats arrive. A client
 *   that stops (a closed laptop) and a gateway that dies (kill -9) are the
 *   same case: nothing renews the lease, the connection drops out of every
 *   list at its expiry, and a leave with reason `expired` is published
 *   within `sweepIntervalMs` after. The defaults ({@link presenceDefaults})
 *   keep that under 5 s.
 * - **Every change is published once**, with the state change it describes
 *   (on Redis in one script), so no process can see one without the other,
 *   however many processes sweep expired connections.
 * - Expiry is computed by the adapter from its injected {@link Clock}, so
 *   tests move time instead of waiting; processes are assumed to agree on
 *   the time to well under the TTL (NTP).
 *
 * Ids (users, connections, nodes) are 1 to 128 characters of
 * `A-Z a-z 0-9 . _ : @ -`; channels 1 to 200 of the same and `/`. Anything
 * else is a `TypeError`: these come from our own code, never from a client.
 *
 * @example
 *   // The gateway, when a client subscribes to a room it may read:
 *   const sub = await presence.subscribe([`room:${roomId}`], (c) => socket.send(frameOf(c)));
 *   await presence.track({ userId, connectionId }, [`room:${roomId}`, `user:${userId}`]);
 *   const members = (await presence.list([`room:${roomId}`])).get(`room:${roomId}`);
 *   // on each client heartbeat:   await presence.heartbeat(connectionId);
 *   // when the socket closes:     await presence.untrack(connectionId); await sub.unsubscribe();
 *
 * The same leases bound how many connections a user holds across every
 * process ({@link PresenceBus.claimConnection}): a connection claims one of
 * the user's slots when it authenticates, its gateway renews all its claims
 * at once on each of its heartbeats, and a claim nothing renews (a gateway
 * killed with -9) frees its slot at its lease's end.
 *
 * @example
 *   // The gateway, when a connection authenticates:
 *   if (!(await presence.claimConnection({ userId, connectionId }, 20))) socket.close(4030, 'too_many_connections');
 *   // on each gateway heartbeat:    await presence.renewClaims();
 *   // when it closes:               await presence.releaseConnection(connectionId);
 */

/** A connection as the gateway announces it. */
export type PresenceConnection = Readonly<{
  /** Who: the access token's subject. */
  userId: string;
  /** One WebSocket connection, unique across processes (a UUID). */
  connectionId: string;
}>;

/** One connection of a member, as listed. */
export type PresenceEntry = Readonly<{
  connectionId: string;
  /** The bus (the process) that tracks it. */
  nodeId: string;
  /** When it joined the channel, by the clock of the bus that tracks it. */
  joinedAt: Date;
}>;

/** A user present in a channel, with each of their connections there. */
export type PresenceMember = Readonly<{ userId: string; connections: readonly PresenceEntry[] }>;

type ChangeOf<T> = Readonly<{
  type: T;
  channel: string;
  userId: string;
  connectionId: string;
  nodeId: string;
  /**
   * The user's connections in the channel after this change: 1 on a join
   * means the user came online there, 0 on a leave that they went offline.
   */
  userConnections: number;
  /** When the change was made, by the clock of the bus that made it. */
  at: Date;
}>;

/**
 * A connection joined or left a channel. `untracked`: the gateway said so;
 * `expired`: its lease ran out (its client or its process stopped).
 */
export type PresenceChange =
  ChangeOf<'join'> | (ChangeOf<'leave'> & Readonly<{ reason: 'untracked' | 'expired' }>);

export type PresenceListener = (change: PresenceChange) => void;

export type PresenceSubscription = Readonly<{
  /** Stops delivery to this listener; other subscriptions are unaffected. */
  unsubscribe(): Promise<void>;
}>;

/** What every adapter is opened with. */
export type PresenceOptions = Readonly<{
  /** The process this bus speaks for (its role and host, or a UUID); carried by every connection it tracks. */
  nodeId: string;
  /** How long a connection stays present after its last track or heartbeat; default {@link presenceDefaults}. */
  ttlMs?: number;
  /** How often this bus looks for expired connections to announce; default {@link presenceDefaults}. */
  sweepIntervalMs?: number;
  /** Expiry is computed and compared by this clock; default the system's. */
  clock?: Clock;
  /** Failures the bus survives (a sweep that failed, a listener that threw); default stderr. */
  onError?: (error: unknown, context: string) => void;
}>;

/**
 * A crashed client is announced gone at most `ttlMs + sweepIntervalMs`
 * (4.5 s) after its last heartbeat, inside the 5 s the realtime tier
 * promises; a gateway renews each connection at least every `ttlMs / 3`
 * so a late heartbeat or two never drops a live client.
 */
export const presenceDefaults = { ttlMs: 4_000, sweepIntervalMs: 500 } as const;

/**
 * @example see the top of this file.
 */
export interface PresenceBus {
  /** The node id every connection this bus tracks carries. */
  readonly nodeId: string;
  /**
   * Makes the connection present in `channels` (a join is published for
   * each channel it was not in yet) and renews its lease in every channel
   * it is in. Tracking the same connection again adds channels; it must be
   * the same user.
   */
  track(connection: PresenceConnection, channels: readonly string[]): Promise<void>;
  /**
   * Renews the lease of a connection this bus tracks, in all its channels.
   * If its lease had already run out (a process paused for longer than the
   * TTL), it is announced as joining again. False when this bus tracks no
   * such connection. Rejects while the engine is unreachable; the next
   * heartbeat puts everything back.
   */
  heartbeat(connectionId: string): Promise<boolean>;
  /**
   * Takes one of the user's `limit` connection slots for `connectionId`,
   * counted across every bus of the deployment: true if it took one (or
   * held it already, which renews it), false if the user holds `limit`
   * live claims already. Atomic: however many buses claim for one user at
   * once, no more than `limit` succeed. The claim is a lease of `ttlMs`,
   * renewed by {@link renewClaims}; one nothing renews (its process died)
   * stops counting at its lease's end, and a sweep removes it. Rejects while
   * the engine is unreachable; the bus still remembers the claim, so the
   * caller may admit the connection anyway and the next `renewClaims`
   * records it, or release it. A `TypeError` for a bad id or a `limit` that
   * is not a positive integer, or a connection this bus tracks for another
   * user.
   */
  claimConnection(connection: PresenceConnection, limit: number): Promise<boolean>;
  /**
   * Renews every claim this bus holds, for `ttlMs`, in as few round trips
   * as it can (the gateway calls it on each of its heartbeats: a claim
   * lives while its process does and its connection is open). A claim that
   * had run out (a process paused for longer than the TTL) or that the
   * engine never recorded is taken again, even past the limit: the limit is
   * checked when a connection is admitted, and one that is open stays
   * open. Returns how many claims it renewed. Rejects while the engine is
   * unreachable; the next call puts everything back.
   */
  renewClaims(): Promise<number>;
  /** Gives the connection's slot back at once (rather than at its lease's end). Idempotent. */
  releaseConnection(connectionId: string): Promise<void>;
  /**
   * Removes the connection from `channels`, or from all of them (a leave
   * is published for each). Idempotent.
   */
  untrack(connectionId: string, channels?: readonly string[]): Promise<void>;
  /**
   * Who is present in each channel now, grouped by user (sorted by user,
   * then connection); every channel asked for is in the map, if only with
   * an empty list. To follow a channel without a gap, subscribe first, then
   * list, and apply changes by connection id (a join of a connection already
   * listed, or a leave of one not listed, is a no-op).
   */
  list(channels: readonly string[]): Promise<ReadonlyMap<string, readonly PresenceMember[]>>;
  /**
   * Delivers every change made in `channels` by any bus (this one too)
   * after the returned promise resolves, in the order each channel's
   * changes were made. A listener that throws is reported to `onError`.
   * Delivery is at most once: changes made while a Redis connection is
   * down are not replayed, so after a reconnect a consumer lists again.
   */
  subscribe(channels: readonly string[], listener: PresenceListener): Promise<PresenceSubscription>;
  /**
   * Removes the presences whose lease has run out and announces their
   * leaves, and removes the connection claims that ran out; returns how
   * many presences. The bus does this by itself every
   * `sweepIntervalMs`; a presence is announced once however many buses sweep.
   */
  sweep(): Promise<number>;
  /** Resolves when the engine answers (for /readyz). */
  ping(): Promise<void>;
  /**
   * Stops sweeping and delivering and closes connections. It does not
   * untrack: a gateway shutting down untracks each connection as it closes
   * it, and whatever is left expires as if the process had died.
   */
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const CHANNEL = /^[A-Za-z0-9._:@/-]{1,200}$/;

/** Throws a TypeError unless `value` is a valid id (user, connection, node). */
export const checkPresenceId = (what: string, value: string): string => {
  if (typeof value !== 'string' || !ID.test(value))
    throw new TypeError(
      `presence: ${what} must be 1 to 128 of A-Z a-z 0-9 . _ : @ - (got ${JSON.stringify(value)})`,
    );
  return value;
};

/** Throws a TypeError unless every channel name is valid; returns them without duplicates. */
export const checkChannels = (channels: readonly string[]): readonly string[] => {
  for (const c of channels)
    if (typeof c !== 'string' || !CHANNEL.test(c))
      throw new TypeError(
        `presence: a channel must be 1 to 200 of A-Z a-z 0-9 . _ : @ / - (got ${JSON.stringify(c)})`,
      );
  return [...new Set(channels)];
};

/** Throws a TypeError unless `limit` is a positive integer (a connection limit). */
export const checkLimit = (limit: number): number => {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new TypeError(`presence: a connection limit must be a positive integer (got ${limit})`);
  return limit;
};

/** The options with their defaults, checked. */
export const presenceSettings = (options: PresenceOptions) => {
  const ttlMs = options.ttlMs ?? presenceDefaults.ttlMs;
  const sweepIntervalMs = options.sweepIntervalMs ?? presenceDefaults.sweepIntervalMs;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new TypeError(`presence: ttlMs must be a positive integer (got ${ttlMs})`);
  if (!Number.isSafeInteger(sweepIntervalMs) || sweepIntervalMs < 1)
    throw new TypeError(`presence: sweepIntervalMs must be a positive integer (got ${sweepIntervalMs})`);
  return {
    nodeId: checkPresenceId('nodeId', options.nodeId),
    ttlMs,
    sweepIntervalMs,
    clock: options.clock ?? systemClock,
    onError:
      options.onError ??
      ((error: unknown, context: string) =>
        process.stderr.write(
          `presence ${context}: ${error instanceof Error ? error.message : String(error)}\n`,
        )),
  };
};
