import { topicOf, type RecordedEvent } from '@lectern/schemas';
import type { Consumer, MessageLog } from '@lectern/infra/ports/message-log';
import { fromLogMessage } from '@lectern/infra/runtime/codec';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { RealtimeChannelKind } from '@lectern/infra/runtime/realtime';

/**
 * The gateway's live feed: every event of the contexts its channel kinds
 * name, in a consumer group of this process's own that starts at the end
 * of the log (what came before a client's cursor is read from history),
 * each handed to `deliver` with the kinds its topic concerns. A message
 * that is not an event is logged and skipped: no channel can show it, and
 * it must not stop the feed. Null when no kind names a context.
 */
export const startLiveFeed = async (
  o: Readonly<{
    log: MessageLog;
    namespace: string;
    nodeId: string;
    kinds: readonly RealtimeChannelKind[];
    logger: Logger;
    deliver(event: RecordedEvent, kinds: readonly RealtimeChannelKind[]): void;
  }>,
): Promise<Consumer | null> => {
  const contexts = [...new Set(o.kinds.flatMap((k) => k.contexts))].sort();
  if (contexts.length === 0) return null;
  const byTopic = new Map(
    contexts.map((ctx) => [topicOf(ctx, o.namespace), o.kinds.filter((k) => k.contexts.includes(ctx))]),
  );
  await o.log.ensureTopics([...byTopic.keys()].map((topic) => ({ topic, partitions: 4 })));
  const consumer = o.log.consume({
    groupId: `${o.namespace}.realtime.${o.nodeId}`,
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
        o.deliver(event, routed);
      }
    },
  });
  await consumer.ready;
  return consumer;
};
