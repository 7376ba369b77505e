import type { Batch, Consumer, ConsumerOptions, LogHeaders, LogMessage } from '../ports/message-log.ts';
import type { Clock } from '../runtime/ids.ts';
import type { Sql } from '../sql/sql.ts';
import { consumeSpans } from '../runtime/tracing.ts';
import { LeaseFencedError } from './sql-log-leases.ts';
import { groupMembership, tpKey, type Owned } from './sql-log-membership.ts';
import { notifyGroup, wakeup, type Notifications, type Subscriber } from './sql-log-notifications.ts';

type Row = {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  value: string;
  headers: LogHeaders;
  ts: number;
};

export type ConsumerSettings = Readonly<{
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  pollIntervalMs: number;
  clock: Clock | undefined;
  report: (error: unknown, context: string) => void;
  notifications: Notifications;
  /** Called once the consumer has stopped and left its group. */
  onStopped: () => void;
}>;

/**
 * One consumer of the SQL log: fetches from the partitions its group
 * membership holds, hands each batch to the handler, commits it under the
 * epoch it was fetched under, and delivers a rejected batch again after
 * `retryDelayMs`. `opts.maxBatchSize` arrives validated.
 *
 * @example
 *   const c = sqlConsumer(sql, { groupId, topics, maxBatchSize: 100, handleBatch }, settings);
 *   await c.ready;
 */
export const sqlConsumer = (
  sql: Sql,
  opts: ConsumerOptions & Readonly<{ maxBatchSize: number }>,
  settings: ConsumerSettings,
): Consumer => {
  const { groupId, handleBatch, maxBatchSize } = opts;
  const { pollIntervalMs, report, notifications } = settings;
  const topics = [...new Set(opts.topics)].sort();
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const wake = wakeup();
  const group = groupMembership(sql, {
    groupId,
    topics,
    startFrom: opts.startFrom ?? 'earliest',
    heartbeatIntervalMs: settings.heartbeatIntervalMs,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    clock: settings.clock,
    report,
    announce: () => notifications.notify(notifyGroup(groupId)),
    onGranted: () => wake.notify(),
  });
  const { owned, hurry } = group;
  let running = true;

  const handle = async (p: Owned, messages: readonly LogMessage[]): Promise<void> => {
    const batch: Batch = { topic: p.topic, partition: p.partition, messages };
    const control = new AbortController();
    p.inHand = control;
    if (p.releasing || !running) hurry(p, 'stopping');
    try {
      await consumeSpans('lectern-sql-log', groupId, batch).run(() =>
        handleBatch(batch, { signal: control.signal }),
      );
    } catch (error) {
      p.failed = messages;
      p.retryAt = Date.now() + retryDelayMs;
      report(
        error,
        `handleBatch of ${groupId} on ${p.topic}/${p.partition} (retrying in ${retryDelayMs} ms)`,
      );
      return;
    } finally {
      p.inHand = null;
    }
    const next = BigInt(messages[messages.length - 1]!.offset) + 1n;
    try {
      await group.commit(p, next);
      p.failed = null;
      p.position = next;
    } catch (error) {
      if (error instanceof LeaseFencedError) {
        // The lease's current holder delivers this batch again; we read no further here.
        group.lose(p);
        report(error, `commit of ${groupId} on ${p.topic}/${p.partition}`);
        return;
      }
      // Handled but maybe not committed: deliver again rather than risk a loss.
      p.failed = messages;
      p.retryAt = Date.now() + retryDelayMs;
      report(error, `commit of ${groupId} on ${p.topic}/${p.partition}`);
    }
  };

  const fetchBatches = async (from: readonly Owned[]) => {
    const rows = await sql.query<Row>(
      `select x.topic, x.partition, x."offset"::text as "offset", x.key, x.value, x.headers,
              (extract(epoch from x.appended_at) * 1000)::float8 as ts
       from jsonb_to_recordset($1::jsonb) as f(t text, p int, o text)
       cross join lateral (
         select * from message_log.messages m
         where m.topic = f.t and m.partition = f.p and m."offset" >= f.o::bigint
         order by m."offset" limit $2) x
       order by x.topic, x.partition, x."offset"`,
      [
        JSON.stringify(from.map((p) => ({ t: p.topic, p: p.partition, o: p.position.toString() }))),
        maxBatchSize,
      ],
    );
    const byPartition = new Map<string, LogMessage[]>();
    for (const r of rows) {
      const k = tpKey(r.topic, r.partition);
      let list = byPartition.get(k);
      if (!list) byPartition.set(k, (list = []));
      list.push({
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        key: r.key,
        value: r.value,
        headers: r.headers,
        timestamp: Math.floor(Number(r.ts)),
      });
    }
    return from.flatMap((p) => {
      const messages = byPartition.get(tpKey(p.topic, p.partition));
      return messages ? [{ p, messages }] : [];
    });
  };

  /**
   * One round over the partitions we own: `'more'` when a partition may hold
   * more than it handed out (a full batch, or a retry waiting), `'drained'`
   * when it handed out short batches only, `'idle'` when nothing.
   */
  const pollOnce = async (): Promise<'more' | 'drained' | 'idle'> => {
    const now = Date.now();
    const due = [...owned.values()].filter((p) => !p.releasing && p.retryAt <= now);
    const fresh = due.filter((p) => !p.failed);
    const batches = [
      ...due.flatMap((p) => (p.failed ? [{ p, messages: p.failed }] : [])),
      ...(fresh.length > 0 ? await fetchBatches(fresh) : []),
    ];
    for (const { p, messages } of batches) {
      // 1. A stopping consumer finishes the batch in hand but starts no other.
      if (!running) break;
      // 2. A partition being released (or lost) meanwhile is someone else's now.
      if (p.releasing || owned.get(tpKey(p.topic, p.partition)) !== p) continue;
      const run = handle(p, messages);
      p.inFlight = run;
      await run;
      p.inFlight = null;
    }
    if (batches.length === 0) return 'idle';
    const full = batches.some(({ messages }) => messages.length >= maxBatchSize);
    return full || due.some((p) => p.failed) ? 'more' : 'drained';
  };

  const nextWait = () => {
    const now = Date.now();
    let wait = pollIntervalMs;
    for (const p of owned.values()) if (p.failed && !p.releasing) wait = Math.min(wait, p.retryAt - now);
    return wait;
  };

  const loop = async () => {
    await listening;
    while (running) {
      // Cleared before the fetch, so a produce during it or during the
      // handler still wakes the wait below (the wake-up is sticky).
      wake.clear();
      let round: 'more' | 'drained' | 'idle' = 'idle';
      try {
        if (owned.size > 0) round = await pollOnce();
      } catch (error) {
        report(error, `fetch of ${groupId}`);
      }
      // After short batches the partitions are drained: fetching again at
      // once would only read nothing; wait for the next produce instead.
      if (round !== 'more' && running) await wake.wait(nextWait());
    }
  };

  const subscriber: Subscriber = {
    topics: new Set(topics),
    groupId,
    onData: () => wake.notify(),
    onGroup: () => group.requestTick(),
  };
  // Listen before the first heartbeat, so no NOTIFY after `ready` is missed.
  const listening = notifications.subscribe(subscriber).then(group.requestTick);
  const loopDone = loop();

  let stopping: Promise<void> | null = null;
  return {
    ready: group.ready,
    isRunning: () => running,
    stop() {
      stopping ??= (async () => {
        // 1. Stop fetching; the batch in hand finishes and commits.
        running = false;
        group.cancelReady(new Error(`consumer of ${groupId} stopped before it was ready`));
        for (const p of owned.values()) hurry(p, 'stopping');
        wake.notify();
        await loopDone;
        // 2. Stop heartbeating, then leave: hand every partition back at once.
        await group.stopHeartbeat();
        notifications.unsubscribe(subscriber);
        await group.leave();
        settings.onStopped();
      })();
      return stopping;
    },
  };
};
