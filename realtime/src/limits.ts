/** What bounds each connection, and the gateway as a whole (see docs/architecture.md, "Per connection, bounded"). */
export type GatewayLimits = Readonly<{
  /** The `auth` frame must come within this; default 10 s. */
  authTimeoutMs: number;
  /**
   * A ping this often; two unanswered in a row end the connection. Default 1.5 s (a dead client is
   * gone within 4.5 s). A heartbeat that comes late (this process stalled) counts no miss.
   */
  heartbeatMs: number;
  /** Bytes the socket may hold unsent before the client counts as too slow; default 1 MiB. */
  maxBufferedBytes: number;
  /** Largest frame a client may send; default 64 KiB. */
  maxFrameBytes: number;
  /**
   * Connections one user may hold open, across every gateway process that
   * shares the presence bus (claimed on it as each authenticates), and on
   * this process alone while the bus cannot be reached; default 20.
   */
  maxConnectionsPerUser: number;
  /** Channels one connection may subscribe to; default 200. */
  maxSubscriptions: number;
  /** Frames a client may send per second, sustained; default 20. */
  framesPerSecond: number;
  /** …and at once; default 40. Past twice this, the connection is closed. */
  framesBurst: number;
  /**
   * Connections from one address not yet authenticated; default 32. Past
   * it an upgrade is answered 429, so a stranger cannot hold thousands of
   * sockets open for the 10 s each is given to authenticate.
   */
  maxUnauthenticatedPerAddress: number;
}>;

export const gatewayDefaults: GatewayLimits = {
  authTimeoutMs: 10_000,
  heartbeatMs: 1_500,
  maxBufferedBytes: 1 << 20,
  maxFrameBytes: 64 << 10,
  maxConnectionsPerUser: 20,
  maxSubscriptions: 200,
  framesPerSecond: 20,
  framesBurst: 40,
  maxUnauthenticatedPerAddress: 32,
};

/** Open things by key (connections per user, unauthenticated sockets per address); a key at 0 takes no room. */
export type Tally = Readonly<{
  count(key: string): number;
  add(key: string): void;
  remove(key: string): void;
}>;

export const tally = (): Tally => {
  const counts = new Map<string, number>();
  return {
    count: (key) => counts.get(key) ?? 0,
    add: (key) => void counts.set(key, (counts.get(key) ?? 0) + 1),
    remove(key) {
      const n = (counts.get(key) ?? 1) - 1;
      if (n > 0) counts.set(key, n);
      else counts.delete(key);
    },
  };
};

/** A connection's frame budget: a token bucket refilled at `framesPerSecond`, holding at most `framesBurst`. */
export type FrameBudget = { tokens: number; refilledAt: number };

/**
 * Spends one frame at time `t`: `ok`; `slow down` with the seconds until a
 * frame is affordable again; or `flood` once the client is a burst past
 * empty (it ignored the answers).
 */
export const spendFrame = (
  budget: FrameBudget,
  t: number,
  limits: Pick<GatewayLimits, 'framesPerSecond' | 'framesBurst'>,
):
  | Readonly<{ outcome: 'ok' }>
  | Readonly<{ outcome: 'flood' }>
  | Readonly<{ outcome: 'slow down'; retryAfterSeconds: number }> => {
  budget.tokens = Math.min(
    limits.framesBurst,
    budget.tokens + ((t - budget.refilledAt) / 1000) * limits.framesPerSecond,
  );
  budget.refilledAt = t;
  budget.tokens -= 1;
  if (budget.tokens >= 0) return { outcome: 'ok' };
  if (budget.tokens < -limits.framesBurst) return { outcome: 'flood' };
  return { outcome: 'slow down', retryAfterSeconds: Math.ceil(-budget.tokens / limits.framesPerSecond) };
};
