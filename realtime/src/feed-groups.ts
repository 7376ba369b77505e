import { GroupNotEmptyError, type MessageLog } from '@lectern/infra/ports/message-log';
import type { Logger } from '@lectern/infra/runtime/logger';

/** What every gateway group of a namespace begins with. */
export const realtimeGroupPrefix = (namespace: string): string => `${namespace}.realtime.`;

/** The consumer group of one gateway process's live feed. */
export const realtimeGroup = (namespace: string, nodeId: string): string =>
  `${realtimeGroupPrefix(namespace)}${nodeId}`;

/** How the groups of gateways that are gone are swept (see {@link groupSweeper}). */
export type GroupSweepSettings = Readonly<{
  /**
   * A gateway group with no member for this long is swept; default 10
   * minutes. Far longer than a live gateway's consumer is ever out of its
   * group (a session timeout, a restart after a crash of the client: seconds).
   */
  staleAfterMs: number;
  /** How often each gateway looks, the first time as it starts; default 5 minutes. */
  everyMs: number;
}>;

export const groupSweepDefaults: GroupSweepSettings = { staleAfterMs: 10 * 60_000, everyMs: 5 * 60_000 };

/**
 * Deletes the consumer groups of gateways that are gone. Each gateway reads
 * the log in a group of its own, named by its process (a restart is a new
 * group), from the end; one that stops cleanly deletes its group, one that
 * is killed cannot, so every gateway sweeps its namespace's realtime groups:
 *
 * 1. A group with a member is never deleted (the log refuses it too,
 *    atomically with a join: `MessageLog.deleteGroup`).
 * 2. A group with no member is stale once its last sign of life is
 *    `staleAfterMs` old: the log's record of it where the log keeps one
 *    (the embedded log), else the first sweep of this gateway that found it
 *    without members (Kafka tells no time of a group), so a gateway that
 *    restarts often leaves Kafka's own expiry (offset retention) to do it.
 * 3. Several gateways sweeping at once is harmless: a group already deleted
 *    is `false`, not an error.
 *
 * Deleting the group of a gateway that is alive but cut off from the log
 * for longer than the bound costs it only its position: it joins again at
 * the end, and a room's gap is read from history (sequencer.ts).
 *
 * @example
 *   const sweeper = groupSweeper({ log, namespace, self: realtimeGroup(namespace, nodeId), staleAfterMs, now, logger });
 *   const deleted = await sweeper.sweep();
 */
export const groupSweeper = (
  o: Readonly<{
    log: MessageLog;
    namespace: string;
    /** This gateway's own group, never swept by itself. */
    self: string;
    staleAfterMs: number;
    now: () => number;
    logger: Logger;
  }>,
) => {
  /** Groups without members and without a time of their own: when this sweeper first found them so. */
  const emptySince = new Map<string, number>();
  return {
    /** One look; the groups it deleted. */
    async sweep(): Promise<readonly string[]> {
      const t = o.now();
      const groups = await o.log.listGroups(realtimeGroupPrefix(o.namespace));
      const present = new Set(groups.map((g) => g.groupId));
      for (const id of emptySince.keys()) if (!present.has(id)) emptySince.delete(id);
      const deleted: string[] = [];
      for (const g of groups) {
        if (g.groupId === o.self) continue;
        if (g.members > 0) {
          emptySince.delete(g.groupId);
          continue;
        }
        let since = g.activeAt;
        if (since === null) {
          since = emptySince.get(g.groupId) ?? t;
          emptySince.set(g.groupId, since);
        }
        if (t - since < o.staleAfterMs) continue;
        try {
          if (await o.log.deleteGroup(g.groupId)) deleted.push(g.groupId);
          emptySince.delete(g.groupId);
        } catch (error) {
          // A gateway came back into it: it is in use again.
          if (error instanceof GroupNotEmptyError) emptySince.delete(g.groupId);
          else
            o.logger.warn({ err: error, groupId: g.groupId }, 'realtime could not sweep a group; next time');
        }
      }
      if (deleted.length > 0)
        o.logger.info({ groups: deleted }, 'realtime swept the groups of gone gateways');
      return deleted;
    },
  };
};
