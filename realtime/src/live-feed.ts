import { topicOf, type RecordedEvent } from '@lectern/schemas';
import { GroupNotEmptyError, type Consumer, type MessageLog } from '@lectern/infra/ports/message-log';
import { fromLogMessage } from '@lectern/infra/runtime/codec';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { RealtimeChannelKind } from '@lectern/infra/runtime/realtime';
import { groupSweeper, realtimeGroup, type GroupSweepSettings } from './feed-groups.ts';

/**
 * The gateway's live feed: every event of the contexts its channel kinds
 * name, in a consumer group of this process's own that starts at the end
 * of the log (what came before a client's cursor is read from history),
 * each handed to `deliver` with the kinds its topic concerns. A message
 * that is not an event is logged and skipped: no channel can show it, and
 * it must not stop the feed. Null when no kind names a context.
 *
 * The group is this process's alone, so it is no use to anyone once the
 * feed stops: `stop()` deletes it. Every feed also sweeps, as it starts and
 * then every `sweep.everyMs`, the groups of gateways that died without
 * deleting theirs (feed-groups.ts).
 */
export const startLiveFeed = async (
  o: Readonly<{
    log: MessageLog;
    namespace: string;
    nodeId: string;
    kinds: readonly RealtimeChannelKind[];
    logger: Logger;
    /** `traceparent`: the message's (the relay's publish span), which deliveries continue. */
    deliver(event: RecordedEvent, kinds: readonly RealtimeChannelKind[], traceparent?: string): void;
    sweep: GroupSweepSettings;
    /** Epoch milliseconds, for the sweep. */
    now: () => number;
    /**
     * How long `stop()` keeps trying to delete the group while the log still
     * counts this process's member in it: a leave that did not reach the
     * coordinator (a stalled process, a rebalance under way) lasts until the
     * member's session times out. Default 15 s; past it the sweep deletes it.
     */
    leaveWithinMs?: number;
  }>,
): Promise<Consumer | null> => {
  const contexts = [...new Set(o.kinds.flatMap((k) => k.contexts))].sort();
  if (contexts.length === 0) return null;
  const byTopic = new Map(
    contexts.map((ctx) => [topicOf(ctx, o.namespace), o.kinds.filter((k) => k.contexts.includes(ctx))]),
  );
  await o.log.ensureTopics([...byTopic.keys()].map((topic) => ({ topic, partitions: 4 })));
  const groupId = realtimeGroup(o.namespace, o.nodeId);
  const consumer = o.log.consume({
    groupId,
    topics: [...byTopic.keys()],
    startFrom: 'latest',
    handleBatch: async (batch) => {
      const routed = byTopic.get(batch.topic) ?? [];
      for (const m of batch.messages) {
        let event: RecordedEvent;
        try {
          event = fromLogMessage(m);
        } catch (err) {
          o.logger.warn(
            { err, topic: m.topic, offset: m.offset },
            'realtime skipped a message that is not an event',
          );
          continue;
        }
        o.deliver(event, routed, m.headers.traceparent);
      }
    },
  });
  await consumer.ready;

  const sweeper = groupSweeper({
    log: o.log,
    namespace: o.namespace,
    self: groupId,
    staleAfterMs: o.sweep.staleAfterMs,
    now: o.now,
    logger: o.logger,
  });
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    sweeping = sweeping
      .then(() => sweeper.sweep())
      .catch((err: unknown) => o.logger.warn({ err }, 'realtime group sweep failed; next time'));
  };
  sweep();
  const timer = setInterval(sweep, o.sweep.everyMs);
  timer.unref();

  let stopping: Promise<void> | null = null;
  return {
    ready: consumer.ready,
    isRunning: () => consumer.isRunning(),
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(timer);
        await sweeping;
        await consumer.stop();
        // Left for a later sweep when it cannot go now (the log unreachable,
        // or its member outliving `leaveWithinMs`).
        await deleteOwnGroup(o.log, groupId, o.leaveWithinMs ?? 15_000).catch((err: unknown) =>
          o.logger.warn({ err, groupId }, 'realtime left its group behind'),
        );
      })()),
  };
};

/**
 * Deletes the group of a consumer that has just stopped. Its member may
 * still be counted until its leave lands or its session times out: a
 * refusal for members is asked again, every 250 ms, for at most `withinMs`
 * (wall time: this waits on the log's own session clock).
 */
const deleteOwnGroup = async (log: MessageLog, groupId: string, withinMs: number): Promise<void> => {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      await log.deleteGroup(groupId);
      return;
    } catch (err) {
      if (!(err instanceof GroupNotEmptyError) || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
};
