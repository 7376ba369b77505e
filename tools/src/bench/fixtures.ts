import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { createMetrics, type Metrics } from '@lectern/infra/runtime/metrics';
import { startRelay } from '@lectern/infra/runtime/relay';
import type { Sql } from '@lectern/infra/sql/sql';
import { quietLogger } from './engines.ts';
import { benchUser, profileUpdated } from './events.ts';
import { perSecond, round, sleep } from './stats.ts';

/**
 * Fills a store with `events` profile events: `events / perStream` users,
 * each appended as one batch (so filling is quick; what is measured later
 * reads them back one by one).
 */
export const prefill = async (
  store: EventStore,
  opts: { events: number; perStream: number; concurrency: number },
): Promise<{ events: number; streams: number; seconds: number }> => {
  const started = performance.now();
  const streams = Math.ceil(opts.events / opts.perStream);
  let next = 0;
  let written = 0;
  const worker = async (): Promise<void> => {
    while (next < streams) {
      next++;
      const user = benchUser();
      const count = Math.min(opts.perStream, opts.events - written);
      if (count <= 0) return;
      written += count;
      await store.append(
        user.streamId,
        Array.from({ length: count }, (_, r) => profileUpdated(user, r)),
        { expectedRevision: 'no_stream' },
      );
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { events: written, streams, seconds: round((performance.now() - started) / 1000, 2) };
};

export const counterValue = async (
  counter: Metrics['relayPublished'] | Metrics['projectionApplied'],
  label?: string,
): Promise<number> => {
  const { values } = await counter.get();
  return values
    .filter((v) => label === undefined || v.labels.projection === label)
    .reduce((n, v) => n + v.value, 0);
};

export type RelayRun = Readonly<{
  events: number;
  seconds: number;
  perSecond: number;
  /** The log's end offsets summed over the topic's partitions after the run: what the log holds. */
  messagesInLog: number;
}>;

/**
 * Starts the relay on a store holding `expected` events and times it from
 * `startRelay` until its saved checkpoint is the store's head cursor.
 */
export const relayToHead = async (opts: {
  store: EventStore;
  sql: Sql;
  log: MessageLog;
  topic: string;
  /** Prefix of the relay's topics (`<namespace>.<context>.events`). */
  namespace: string;
  expected: number;
  timeoutMs: number;
}): Promise<RelayRun> => {
  const metrics = createMetrics();
  const name = 'bench';
  const started = performance.now();
  const relay = await startRelay({
    store: opts.store,
    log: opts.log,
    sql: opts.sql,
    name,
    namespace: opts.namespace,
    logger: quietLogger(),
    metrics,
  });
  try {
    // The published counter moves right after each checkpoint is saved: watch
    // it (no queries competing with the relay), then confirm the checkpoint.
    for (;;) {
      if ((await counterValue(metrics.relayPublished)) >= opts.expected) break;
      if (!relay.isRunning()) throw new Error('relay stopped before reaching the head');
      if (performance.now() - started > opts.timeoutMs)
        throw new Error(`relay did not reach the head within ${opts.timeoutMs} ms`);
      await sleep(2);
    }
    const seconds = (performance.now() - started) / 1000;
    // The head is read now, not before the start: the feed only shows
    // transactions older than the oldest one of the store's database still
    // running, so a head read earlier can lag.
    const head = await opts.store.headCursor();
    const [row] = await opts.sql.query<{ cursor: string }>(
      'select cursor from relay_checkpoints where name = $1',
      [name],
    );
    if (!row || opts.store.compareCursors(row.cursor, head) !== 0)
      throw new Error(`relay checkpoint ${row?.cursor ?? 'none'} is not the head ${head}`);
    const ends = await opts.log.lag(`${opts.namespace}.bench.nobody`, opts.topic);
    const messagesInLog = ends.reduce((n, p) => n + Number(p.end), 0);
    return {
      events: opts.expected,
      seconds: round(seconds, 3),
      perSecond: perSecond(opts.expected, seconds * 1000),
      messagesInLog,
    };
  } finally {
    await relay.stop();
  }
};
