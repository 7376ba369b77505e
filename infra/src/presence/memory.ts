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

type Presence = { userId: string; nodeId: string; joinedAt: number; expiresAt: number };
/** A channel's presences by connection, and how many connections each user has there. */
type Channel = { members: Map<string, Presence>; users: Map<string, number> };

/**
 * What the buses of one process share in the embedded profile: the
 * presences of every channel and the listeners of each. It plays the part
 * Redis plays between processes, so the same contract holds for buses on
 * one hub as for buses on one Redis.
 *
 * @example
 *   const hub = memoryPresenceHub();
 *   const presence = hub.bus({ nodeId: 'embedded' });
 */
export const memoryPresenceHub = () => {
  const channels = new Map<string, Channel>();
  /** Each user's claimed connections, with the end of each claim's lease. */
  const claims = new Map<string, Map<string, number>>();
  const listeners = new Map<string, Set<(change: PresenceChange) => void>>();

  // Asynchronous, as a message through Redis is: a listener never runs
  // inside the call that made the change. Microtasks keep the order.
  const publish = (change: PresenceChange) => {
    for (const deliver of listeners.get(change.channel) ?? []) queueMicrotask(() => deliver(change));
  };

  const remove = (channel: string, connectionId: string, reason: 'untracked' | 'expired', now: number) => {
    const c = channels.get(channel);
    const p = c?.members.get(connectionId);
    if (!c || !p) return;
    c.members.delete(connectionId);
    const left = (c.users.get(p.userId) ?? 1) - 1;
    if (left > 0) c.users.set(p.userId, left);
    else c.users.delete(p.userId);
    if (c.members.size === 0) channels.delete(channel);
    publish({
      type: 'leave',
      // Untracked after its lease ran out (and before a sweep saw it): it had expired first.
      reason: reason === 'untracked' && p.expiresAt <= now ? 'expired' : reason,
      channel,
      userId: p.userId,
      connectionId,
      nodeId: p.nodeId,
      userConnections: left,
      at: new Date(now),
    });
  };

  /** Present and renewed until `expiresAt` in each channel; a join where it was not (or had expired). */
  const ensure = (
    who: { userId: string; connectionId: string; nodeId: string },
    list: readonly string[],
    now: number,
    expiresAt: number,
  ) => {
    for (const channel of list) {
      const p = channels.get(channel)?.members.get(who.connectionId);
      if (p && p.expiresAt > now) {
        p.expiresAt = expiresAt;
        continue;
      }
      if (p) remove(channel, who.connectionId, 'expired', now);
      const c = channels.get(channel) ?? { members: new Map(), users: new Map() };
      channels.set(channel, c);
      c.members.set(who.connectionId, { userId: who.userId, nodeId: who.nodeId, joinedAt: now, expiresAt });
      const count = (c.users.get(who.userId) ?? 0) + 1;
      c.users.set(who.userId, count);
      publish({
        type: 'join',
        channel,
        userId: who.userId,
        connectionId: who.connectionId,
        nodeId: who.nodeId,
        userConnections: count,
        at: new Date(now),
      });
    }
  };

  /** The user's live claims, those that ran out dropped. */
  const claimsOf = (userId: string, now: number) => {
    const held = claims.get(userId) ?? new Map<string, number>();
    for (const [connectionId, until] of held) if (until <= now) held.delete(connectionId);
    return held;
  };
  const keepClaims = (userId: string, held: Map<string, number>) => {
    if (held.size > 0) claims.set(userId, held);
    else claims.delete(userId);
  };

  /** Takes a slot if the user has one free (or renews the one the connection holds): all in one turn, so atomic. */
  const claim = (userId: string, connectionId: string, limit: number, now: number, until: number) => {
    const held = claimsOf(userId, now);
    const ok = held.has(connectionId) || held.size < limit;
    if (ok) held.set(connectionId, until);
    keepClaims(userId, held);
    return ok;
  };
  /** A renewal: taken again even if it had run out (the limit is for admission). */
  const renewClaim = (userId: string, connectionId: string, until: number) => {
    const held = claims.get(userId) ?? new Map<string, number>();
    held.set(connectionId, until);
    claims.set(userId, held);
  };
  const release = (userId: string, connectionId: string) => {
    const held = claims.get(userId);
    if (!held) return;
    held.delete(connectionId);
    keepClaims(userId, held);
  };

  const sweep = (now: number) => {
    for (const userId of [...claims.keys()]) keepClaims(userId, claimsOf(userId, now));
    let removed = 0;
    for (const [channel, c] of [...channels])
      for (const [connectionId, p] of [...c.members])
        if (p.expiresAt <= now) {
          remove(channel, connectionId, 'expired', now);
          removed++;
        }
    return removed;
  };

  const list = (wanted: readonly string[], now: number) =>
    new Map<string, readonly PresenceMember[]>(
      wanted.map((channel) => [
        channel,
        groupMembers(
          [...(channels.get(channel)?.members ?? [])]
            .filter(([, p]) => p.expiresAt > now)
            .map(([connectionId, p]) => ({
              userId: p.userId,
              connectionId,
              nodeId: p.nodeId,
              joinedAt: new Date(p.joinedAt),
            })),
        ),
      ]),
    );

  const listen = (wanted: readonly string[], deliver: (change: PresenceChange) => void) => {
    for (const c of wanted) {
      const set = listeners.get(c) ?? new Set();
      set.add(deliver);
      listeners.set(c, set);
    }
    return () => {
      for (const c of wanted) {
        const set = listeners.get(c);
        set?.delete(deliver);
        if (set?.size === 0) listeners.delete(c);
      }
    };
  };

  return {
    /** A bus on this hub: one per process in the embedded profile, two in a test that plays two processes. */
    bus(options: PresenceOptions): PresenceBus {
      const { nodeId, ttlMs, sweepIntervalMs, clock, onError } = presenceSettings(options);
      const local = localConnections();
      const unlisten = new Set<() => void>();
      let closed = false;
      const now = () => clock.now().getTime();
      const open = () => {
        if (closed) throw new Error('presence: the bus is closed');
      };
      const timer = setInterval(() => {
        try {
          sweep(now());
        } catch (error) {
          onError(error, 'sweep');
        }
      }, sweepIntervalMs);
      timer.unref();

      return {
        nodeId,
        async track(connection, wanted) {
          open();
          const { userId, connectionId, channels: all } = local.track(connection, wanted);
          await local.serial(connectionId, async () => {
            const t = now();
            ensure({ userId, connectionId, nodeId }, all, t, t + ttlMs);
          });
        },
        async heartbeat(connectionId) {
          open();
          return local.serial(connectionId, async () => {
            const known = local.get(connectionId);
            if (!known) return false;
            const t = now();
            ensure({ userId: known.userId, connectionId, nodeId }, known.channels, t, t + ttlMs);
            return true;
          });
        },
        async renewClaims() {
          open();
          const t = now();
          const held = local.claimed();
          for (const [connectionId, userId] of held) renewClaim(userId, connectionId, t + ttlMs);
          return held.length;
        },
        async claimConnection(connection, limit) {
          open();
          checkLimit(limit);
          const { userId, connectionId } = local.claim(connection);
          return local.serial(connectionId, async () => {
            const t = now();
            if (!claim(userId, connectionId, limit, t, t + ttlMs)) {
              local.release(connectionId);
              return false;
            }
            local.decided(connectionId);
            return true;
          });
        },
        async releaseConnection(connectionId) {
          open();
          const userId = local.release(connectionId);
          if (userId === undefined) return;
          await local.serial(connectionId, async () => release(userId, connectionId));
        },
        async untrack(connectionId, wanted) {
          open();
          const removed = local.untrack(connectionId, wanted);
          await local.serial(connectionId, async () => {
            const t = now();
            for (const c of removed) remove(c, connectionId, 'untracked', t);
          });
        },
        async list(wanted) {
          open();
          return list(checkChannels(wanted), now());
        },
        async subscribe(wanted, listener: PresenceListener) {
          open();
          let active = true;
          const deliver = (change: PresenceChange) => {
            if (!active || closed) return;
            try {
              listener(change);
            } catch (error) {
              onError(error, `listener of ${change.channel}`);
            }
          };
          const stop = listen(checkChannels(wanted), deliver);
          unlisten.add(stop);
          return {
            async unsubscribe() {
              active = false;
              stop();
              unlisten.delete(stop);
            },
          };
        },
        async sweep() {
          open();
          return sweep(now());
        },
        async ping() {
          open();
        },
        async close() {
          if (closed) return;
          closed = true;
          clearInterval(timer);
          for (const stop of unlisten) stop();
          unlisten.clear();
        },
      };
    },
  };
};
