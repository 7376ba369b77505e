import { contextOf, topicOf, type RecordedEvent } from '@lectern/schemas';
import {
  START,
  type EventStore,
  type FeedCursor,
  type FeedEvent,
  type Subscription,
} from '../ports/event-store.ts';
import type { MessageLog, OutgoingMessage } from '../ports/message-log.ts';
import { migrate, sqlMigration } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';
import { toLogMessage } from './codec.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { SpanKind, messageSpans, traceparentOf } from './tracing.ts';

export const relayMigrations = [
  sqlMigration(
    '001_relay_checkpoints',
    `create table if not exists relay_checkpoints (
       name text primary key,
       cursor text not null,
       position bigint not null,
       updated_at timestamptz not null default now()
     )`,
    'drop table if exists relay_checkpoints',
  ),
];

/**
 * Produces events to their contexts' topics (`<ns>.<context>.events`, keyed
 * by stream id), creating a topic the first time it is named, with a
 * publish span per trace that continues each event's request. The relay
 * publishes the feed with it; `lectern republish` a range of it again.
 *
 * @example
 *   const produce = eventPublisher({ log, namespace: 'lectern', name: 'default' });
 *   await produce(events);
 */
export const eventPublisher = (opts: {
  log: MessageLog;
  namespace?: string;
  partitions?: number;
  /** Who publishes, on the spans: the relay's name, or `republish`. */
  name: string;
}): ((events: readonly RecordedEvent[]) => Promise<void>) => {
  const knownTopics = new Set<string>();
  return async (events) => {
    const byTopic = new Map<string, RecordedEvent[]>();
    for (const event of events) {
      const topic = topicOf(contextOf(event.type), opts.namespace);
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push(event);
    }
    const missing = [...byTopic.keys()].filter((t) => !knownTopics.has(t));
    if (missing.length) {
      await opts.log.ensureTopics(missing.map((topic) => ({ topic, partitions: opts.partitions ?? 4 })));
      missing.forEach((t) => knownTopics.add(t));
    }
    await Promise.all(
      [...byTopic].map(([topic, list]) => {
        // A publish span per trace in the batch, a child of the request that
        // appended the events; its context replaces the request's in the
        // message's traceparent header, so consumers continue from it (the
        // event's own metadata keeps the request's, as stored).
        const parents = list.map((e) => e.metadata.traceparent);
        const spans = messageSpans(`publish ${topic}`, parents, {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.operation.type': 'send',
            'messaging.destination.name': topic,
            'messaging.batch.message_count': list.length,
            'lectern.relay': opts.name,
          },
        });
        const messages: OutgoingMessage[] = list.map((e) => {
          const m = toLogMessage(e);
          const traceparent = traceparentOf(spans.spanFor(e.metadata.traceparent));
          return traceparent ? { ...m, headers: { ...m.headers, traceparent } } : m;
        });
        return spans.run(() => opts.log.produce(topic, messages));
      }),
    );
  };
};

/**
 * How far the relays of this database have published the feed: the
 * furthest of their checkpoints (every event up to it is in the log), or
 * `null` when none has published anything. A consumer that has committed
 * the log's end offsets taken after this cursor was read has handled every
 * event up to it, which is how a rebuild of a model without store
 * positions (the analytics projector commits log offsets only) agrees on
 * one position with it.
 *
 * @example
 *   const published = await relayedUpTo(sql, store);
 *   if (published !== null && store.compareCursors(published, cursor) >= 0) readEndOffsets();
 */
export const relayedUpTo = async (sql: Sql, store: EventStore): Promise<FeedCursor | null> => {
  const [table] = await sql.query<{ name: string | null }>(
    `select to_regclass('relay_checkpoints')::text as name`,
  );
  if (!table?.name) return null;
  const rows = await sql.query<{ cursor: string }>('select cursor from relay_checkpoints');
  return rows.reduce<FeedCursor | null>(
    (best, r) => (best === null || store.compareCursors(r.cursor, best) > 0 ? r.cursor : best),
    null,
  );
};

/** The relay's default `lingerMs`: Kafka producers' `linger.ms` is 5 ms; ours saves round trips on one thread. */
export const RELAY_LINGER_MS = 20;

export type Relay = Readonly<{ subscription: Subscription; stop(): Promise<void>; isRunning(): boolean }>;

/**
 * Publishes the store's global feed to the log (ARCHITECTURE.md §5.1).
 *
 * 1. Start after the saved checkpoint.
 * 2. For each batch of the feed, produce to each context's topic, keyed by
 *    stream id, and wait for the log's acknowledgement.
 * 3. Only then save the cursor of the batch's last event.
 *
 * A crash between 2 and 3 republishes that batch on restart: the copies
 * carry the same event ids and consumers drop them. Run one relay per store.
 */
export const startRelay = async (opts: {
  store: EventStore;
  log: MessageLog;
  sql: Sql;
  name?: string;
  partitions?: number;
  batchSize?: number;
  /**
   * How long a wake-up by an append waits before the feed is read; default
   * `RELAY_LINGER_MS`. The appends of a burst then go out as one produce, so
   * each consumer group polls, handles and commits them once rather than
   * once each: on the embedded profile's one thread that is most of what an
   * event costs. It adds at most this much to an event's way to the log.
   */
  lingerMs?: number;
  /** Prefix of the topics; default `lectern`. */
  namespace?: string;
  logger: Logger;
  metrics?: Metrics;
}): Promise<Relay> => {
  const name = opts.name ?? 'default';
  await migrate(opts.sql, 'relay', relayMigrations);
  const [saved] = await opts.sql.query<{ cursor: string }>(
    'select cursor from relay_checkpoints where name = $1',
    [name],
  );
  const from: FeedCursor = saved?.cursor ?? START;
  let running = true;
  opts.logger.info({ relay: name, from }, 'relay starting');
  const produce = eventPublisher({
    log: opts.log,
    ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
    ...(opts.partitions === undefined ? {} : { partitions: opts.partitions }),
    name,
  });

  const publish = async (batch: readonly FeedEvent[]): Promise<void> => {
    await produce(batch);
    const last = batch[batch.length - 1]!;
    await opts.sql.query(
      `insert into relay_checkpoints (name, cursor, position, updated_at) values ($1, $2, $3, now())
         on conflict (name) do update set cursor = excluded.cursor, position = excluded.position, updated_at = now()`,
      [name, last.cursor, last.position],
    );
    opts.metrics?.relayPublished.inc(batch.length);
    opts.metrics?.relayLagMs.set(Math.max(0, Date.now() - Date.parse(last.occurredAt)));
  };

  // A log that is down stops the relay's progress, never the relay: it
  // retries the same batch with growing pauses until the log answers.
  const subscription = opts.store.subscribeToAll(
    from,
    async (batch) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await publish(batch);
        } catch (error) {
          if (!running) throw error;
          opts.metrics?.consumerRetries.inc({ consumer: `relay:${name}` });
          opts.logger.warn({ err: error, relay: name, attempt }, 'relay publish failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
        }
      }
    },
    { batchSize: opts.batchSize ?? 1000, lingerMs: opts.lingerMs ?? RELAY_LINGER_MS },
  );
  subscription.done.catch((error: unknown) => {
    running = false;
    opts.logger.error({ err: error, relay: name }, 'relay stopped on an error');
  });
  return {
    subscription,
    isRunning: () => running,
    async stop() {
      running = false;
      await subscription.stop();
    },
  };
};
