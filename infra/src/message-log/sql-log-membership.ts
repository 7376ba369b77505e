import { randomUUID } from 'node:crypto';
import type { LogMessage } from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import type { Sql } from '../sql/sql.ts';
import { groupMember, type Lease } from './sql-log-leases.ts';

/** A partition this member holds a lease on, and where its reading stands. */
export type Owned = {
  readonly topic: string;
  readonly partition: number;
  /** The grant of the partition's lease this member reads under; its commits carry it. */
  readonly epoch: string;
  /** Next offset to hand to the handler. */
  position: bigint;
  /** A batch the handler rejected, delivered again as it was once `retryAt` has passed. */
  failed: readonly LogMessage[] | null;
  retryAt: number;
  /** Set when the partition is being given up: no new batch starts on it. */
  releasing: boolean;
  inFlight: Promise<void> | null;
  /** Tells the handler of the batch in hand to finish it (BatchControl.signal). */
  inHand: AbortController | null;
};

export const tpKey = (topic: string, partition: number) => JSON.stringify([topic, partition]);

/**
 * The partitions (as `tpKey`s) that round robin over the live members gives
 * `memberId`. Every member computes it from the same rows, so they agree
 * without talking.
 */
export const roundRobin = (
  memberId: string,
  members: readonly { member_id: string; topics: readonly string[] }[],
  partitions: readonly { topic: string; partition: number }[],
): Set<string> => {
  // Every member sorts the same way (JS code-unit order, not the database collation).
  const sortedMembers = [...members].sort((a, b) =>
    a.member_id < b.member_id ? -1 : a.member_id > b.member_id ? 1 : 0,
  );
  const sortedPartitions = [...partitions].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition,
  );
  const mine = new Set<string>();
  let turn = 0;
  for (const { topic, partition } of sortedPartitions) {
    const eligible = sortedMembers.filter((m) => m.topics.includes(topic));
    if (eligible.length === 0) continue;
    if (eligible[turn % eligible.length]!.member_id === memberId) mine.add(tpKey(topic, partition));
    turn++;
  }
  return mine;
};

export type MembershipSettings = Readonly<{
  groupId: string;
  topics: readonly string[];
  startFrom: 'earliest' | 'latest';
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  clock: Clock | undefined;
  report: (error: unknown, context: string) => void;
  /** Tells the group's other members that its membership changed. */
  announce: () => Promise<void>;
  /** Partitions were granted: there is something to fetch. */
  onGranted: () => void;
}>;

/**
 * One consumer's membership of its group: a heartbeat tick that renews the
 * member and its leases, computes the assignment, releases what is no
 * longer its own (after the batch in hand has committed) and takes the rest
 * through sql-log-leases.ts. `owned` is what the consumer may read.
 *
 * @example
 *   const group = groupMembership(sql, { groupId, topics, startFrom: 'earliest', … });
 *   group.requestTick();
 *   await group.ready;
 */
export const groupMembership = (sql: Sql, settings: MembershipSettings) => {
  const { groupId, topics, startFrom, heartbeatIntervalMs, sessionTimeoutMs, report, announce } = settings;
  const memberId = randomUUID();
  const member = groupMember(sql, { groupId, memberId, sessionTimeoutMs, clock: settings.clock });
  const owned = new Map<string, Owned>();
  let heartbeating = true;
  let joined = false;

  let resolveReady!: () => void;
  let rejectReady!: (error: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Callers that never await `ready` must not see an unhandled rejection.
  ready.catch(() => {});

  /** The batch in hand on `p` should finish now: the partition is leaving, or the consumer is. */
  const hurry = (p: Owned, why: string) => p.inHand?.abort(new Error(`${groupId}: ${why}`));

  const lose = (p: Owned) => {
    p.releasing = true;
    hurry(p, `lost ${p.topic}/${p.partition}`);
    if (owned.get(tpKey(p.topic, p.partition)) === p) owned.delete(tpKey(p.topic, p.partition));
  };

  const releases = new Set<Promise<void>>();
  const releaseAfterBatch = async (p: Owned) => {
    await p.inFlight;
    try {
      await member.release(p);
    } catch (error) {
      // The lease then expires on its own; the next owner waits for that.
      report(error, `releasing ${p.topic}/${p.partition} of ${groupId}`);
    }
    lose(p);
    await announce();
  };

  const tick = async () => {
    // 1. Say we are alive; forget members that stopped saying so.
    const { members, partitions } = await member.heartbeat(topics);
    const desired = roundRobin(memberId, members, partitions);

    // 2. Give up what is no longer ours, once the batch in hand has committed.
    //    In the background: heartbeats must go on while a slow batch finishes.
    for (const p of owned.values()) {
      if (!p.releasing && !desired.has(tpKey(p.topic, p.partition))) {
        p.releasing = true;
        hurry(p, `handing ${p.topic}/${p.partition} over`);
        const release = releaseAfterBatch(p).finally(() => releases.delete(release));
        releases.add(release);
      }
    }

    // 3. Renew the rest; whatever is not renewed, or is held under another
    //    epoch now, was granted again after our lease lapsed.
    const held = new Map((await member.renew()).map((l) => [tpKey(l.topic, l.partition), l.epoch]));
    for (const p of [...owned.values()]) if (held.get(tpKey(p.topic, p.partition)) !== p.epoch) lose(p);

    // 4. Take what is ours and free (or whose holder's lease has lapsed).
    const wanted = [...desired].filter((k) => !owned.has(k)).map((k) => JSON.parse(k) as [string, number]);
    const got = await member.grant(wanted);
    for (const g of got) {
      const position = BigInt(g.committed ?? (startFrom === 'latest' ? g.end : '0'));
      owned.set(tpKey(g.topic, g.partition), {
        topic: g.topic,
        partition: g.partition,
        epoch: g.epoch,
        position,
        failed: null,
        retryAt: 0,
        releasing: false,
        inFlight: null,
        inHand: null,
      });
    }
    if (got.length > 0) settings.onGranted();

    // 5. Tell the others a member arrived, so they hand over without waiting a heartbeat.
    if (!joined) {
      joined = true;
      await announce();
    }
    if ([...desired].every((k) => owned.has(k))) resolveReady();
  };

  let ticking: Promise<void> | null = null;
  let tickAgain = false;
  let tickTimer: NodeJS.Timeout | undefined;
  const requestTick = () => {
    if (!heartbeating) return;
    if (ticking) {
      tickAgain = true;
      return;
    }
    clearTimeout(tickTimer);
    ticking = (async () => {
      do {
        tickAgain = false;
        try {
          await tick();
        } catch (error) {
          report(error, `heartbeat of ${groupId}`);
        }
      } while (tickAgain && heartbeating);
    })().finally(() => {
      ticking = null;
      if (heartbeating) tickTimer = setTimeout(requestTick, heartbeatIntervalMs);
    });
  };

  return {
    owned: owned as ReadonlyMap<string, Owned>,
    /** Resolves once every partition assigned to this member is held. */
    ready,
    /** The consumer stopped before `ready` resolved. */
    cancelReady: (error: Error) => rejectReady(error),
    hurry,
    /** `p` is no longer ours: nothing more is read from it here. */
    lose,
    /** Heartbeats now (the group changed), or right after the tick in progress. */
    requestTick,
    /** Commits `next` on `lease`'s partition; throws LeaseFencedError once the lease was granted again. */
    commit: (lease: Lease, next: bigint) => member.commit(lease, next),
    /** Stops heartbeating, and waits for the tick and the releases in progress. */
    async stopHeartbeat(): Promise<void> {
      heartbeating = false;
      clearTimeout(tickTimer);
      await ticking;
      await Promise.all(releases);
    },
    /** Hands every partition back at once and leaves the group. */
    async leave(): Promise<void> {
      try {
        await member.leave();
        await announce();
      } catch (error) {
        report(error, `leaving ${groupId} (its leases expire after ${sessionTimeoutMs} ms)`);
      }
      owned.clear();
    },
  };
};

export type GroupMembership = ReturnType<typeof groupMembership>;
