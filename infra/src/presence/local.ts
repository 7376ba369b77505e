import { checkChannels, checkPresenceId, type PresenceConnection } from '../ports/presence-bus.ts';

/**
 * The connections one bus tracks, kept in its own process: what a heartbeat
 * renews, and the truth the shared state converges to. Each change is made
 * here first, then in the shared state; if that fails, the next heartbeat
 * (or the lease's expiry) brings the two together again.
 *
 * Operations on one connection run one after another: a heartbeat that read
 * the channels before an untrack must not reach the shared state after it
 * and bring the connection back.
 *
 * The connection claims it holds (a user's connection slots) are kept the
 * same way: here first, so a claim the shared state missed (the engine was
 * away) is recorded by the next renewal.
 */
export const localConnections = () => {
  const connections = new Map<string, { userId: string; channels: Set<string> }>();
  /**
   * Claimed connections, by connection id: their user, and whether the claim
   * is decided (granted, or left unknown by an engine that was away). Only
   * decided claims are renewed: renewing one still being decided would
   * take its slot without the limit being checked.
   */
  const claims = new Map<string, { userId: string; decided: boolean }>();
  const sameUser = (connectionId: string, userId: string) => {
    const other = connections.get(connectionId)?.userId ?? claims.get(connectionId)?.userId;
    if (other !== undefined && other !== userId)
      throw new TypeError(`presence: connection ${connectionId} is tracked for another user`);
  };
  const queues = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier operation on `connectionId` has settled. */
  const serial = <T>(connectionId: string, fn: () => Promise<T>): Promise<T> => {
    const previous = queues.get(connectionId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.then(
      () => {},
      () => {},
    );
    queues.set(connectionId, settled);
    void settled.then(() => {
      if (queues.get(connectionId) === settled) queues.delete(connectionId);
    });
    return next;
  };

  return {
    serial,
    /** Adds channels; returns every channel of the connection. */
    track(connection: PresenceConnection, channels: readonly string[]) {
      const userId = checkPresenceId('userId', connection.userId);
      const connectionId = checkPresenceId('connectionId', connection.connectionId);
      const wanted = checkChannels(channels);
      const known = connections.get(connectionId);
      sameUser(connectionId, userId);
      const entry = known ?? { userId, channels: new Set<string>() };
      for (const c of wanted) entry.channels.add(c);
      connections.set(connectionId, entry);
      return { userId, connectionId, channels: [...entry.channels] };
    },
    /** The connection's user and channels, if this bus tracks it. */
    get(connectionId: string) {
      const entry = connections.get(checkPresenceId('connectionId', connectionId));
      return entry && { userId: entry.userId, channels: [...entry.channels] };
    },
    /** Records a claim for the connection (its user checked), undecided unless it was already; returns the checked ids. */
    claim(connection: PresenceConnection) {
      const userId = checkPresenceId('userId', connection.userId);
      const connectionId = checkPresenceId('connectionId', connection.connectionId);
      sameUser(connectionId, userId);
      if (!claims.has(connectionId)) claims.set(connectionId, { userId, decided: false });
      return { userId, connectionId };
    },
    /** The claim is granted (or its outcome unknown): renewals include it from now on. */
    decided(connectionId: string) {
      const claim = claims.get(connectionId);
      if (claim) claim.decided = true;
    },
    /** Every decided claim: [connection, user] pairs. */
    claimed: () => [...claims].filter(([, c]) => c.decided).map(([id, c]) => [id, c.userId] as const),
    /** Forgets the connection's claim; returns its user, if there was one. */
    release(connectionId: string) {
      const userId = claims.get(checkPresenceId('connectionId', connectionId))?.userId;
      claims.delete(connectionId);
      return userId;
    },
    /** Removes channels (all when none are given); returns those it was in. */
    untrack(connectionId: string, channels?: readonly string[]) {
      const entry = connections.get(checkPresenceId('connectionId', connectionId));
      const asked = channels === undefined ? undefined : checkChannels(channels);
      if (!entry) return [];
      const removed = asked ? asked.filter((c) => entry.channels.has(c)) : [...entry.channels];
      for (const c of removed) entry.channels.delete(c);
      if (entry.channels.size === 0) connections.delete(connectionId);
      return removed;
    },
  };
};
