import type { ChannelItem, ChannelPage } from '@lectern/infra/runtime/realtime';

/** A live item as the log brought it: the item and the global position of its event. */
export type LiveItem = ChannelItem & Readonly<{ position: number }>;

export type SequencerOptions = Readonly<{
  /** The last seq the client has; null to start with the next live item. */
  cursor: number | null;
  /**
   * The channel's durable history, for a resumable kind: `changesAfter` and
   * `caughtUp(position)`, true once the read model has applied the event at
   * that global position (false when it did not within its bound).
   */
  history: Readonly<{
    changesAfter(after: number, limit: number): Promise<ChannelPage>;
    caughtUp(position: number): Promise<boolean>;
    /** The position of the channel's newest event now (null for none): a resume reads once the read model has it. */
    head(): Promise<number | null>;
  }> | null;
  /** Hands an item to the client, in seq order, each once (a subscriber's filter may still hold it back). */
  send(item: ChannelItem): void;
  /** A history read failed; the sequencer is stopped. */
  fail(error: unknown): void;
  /** Items per history read; default 200. */
  pageSize?: number;
  /** Live items held while history is read; past it they are dropped and read from history. Default 10 000. */
  maxPending?: number;
  /** A live-only channel's seqs remembered to drop a redelivery; default 4096. */
  recent?: number;
}>;

export type Sequencer = Readonly<{
  /** A live item for this channel, in the order the log delivered it. */
  offer(item: LiveItem): void;
  /** The last seq sent (or the cursor it started from). */
  cursor(): number | null;
  /** Resolves when no history read is under way (for tests and shutdown). */
  idle(): Promise<void>;
  close(): void;
}>;

/**
 * One subscription's order: every item of the channel after the client's
 * cursor, each once, in seq order, whether it comes from the live feed or
 * from history (see infra's runtime/realtime.ts for the rule).
 *
 * 1. With a cursor on a resumable channel, history is read from it first,
 *    once the read model has the channel's newest event (its `head` when
 *    the subscription came: written, maybe shown live before it, and so
 *    owed to the client); live items arriving meanwhile are held.
 * 2. A live item `cursor + 1` is sent; one at or below the cursor is a copy
 *    and dropped; one past `cursor + 1` is a gap (the client was away, or this
 *    process joined the log after its cursor): held, and history is read up
 *    to it once the read model has applied its event.
 * 3. After a read, held items go out in order; a gap still open (the read
 *    model had not applied it yet) is read again.
 * 4. A live-only channel (no history) sends each live item it has not sent
 *    yet, in the order the log brings them: its seqs are unique but may
 *    come out of order (events of several streams, on several partitions),
 *    so only a seq among the last `recent` sent is dropped (a redelivery).
 *
 * @example
 *   const s = sequencer({ cursor: 41, history, send: (i) => frame(i), fail: close });
 *   feed.on((item) => s.offer(item));
 */
/** What `send` is handed: the item without its position (its author kept, for a subscriber's filter). */
const sendable = (item: ChannelItem): ChannelItem =>
  item.author === undefined
    ? { seq: item.seq, data: item.data }
    : { seq: item.seq, data: item.data, author: item.author };

export const sequencer = (opts: SequencerOptions): Sequencer => {
  const pageSize = opts.pageSize ?? 200;
  const maxPending = opts.maxPending ?? 10_000;
  let cursor = opts.cursor;
  let closed = false;
  let reading: Promise<void> | null = null;
  /** Held live items by seq; `newest` is the highest position among them. */
  const pending = new Map<number, LiveItem>();
  let newest = 0;
  /** A gap past what `pending` holds: items were dropped for room, so history must cover them. */
  let dropped = 0;
  /** A live-only channel's last sent seqs, oldest first (a Set keeps insertion order). */
  const sent = new Set<number>();
  const recent = opts.recent ?? 4096;

  const deliverLive = (item: ChannelItem) => {
    if (closed || sent.has(item.seq)) return;
    sent.add(item.seq);
    if (sent.size > recent) sent.delete(sent.values().next().value!);
    cursor = cursor === null ? item.seq : Math.max(cursor, item.seq);
    opts.send(sendable(item));
  };

  const deliver = (item: ChannelItem) => {
    if (closed || cursor === null || item.seq <= cursor) return;
    cursor = item.seq;
    opts.send(sendable(item));
  };

  /** Sends held items that follow the cursor; true when a gap is left. */
  const drain = (): boolean => {
    for (const seq of [...pending.keys()]) if (cursor !== null && seq <= cursor) pending.delete(seq);
    while (cursor !== null && pending.has(cursor + 1)) {
      const next = pending.get(cursor + 1)!;
      pending.delete(cursor + 1);
      deliver(next);
    }
    return pending.size > 0 || (cursor !== null && dropped > cursor);
  };

  /** Thrown when history lacks an item the live feed has shown, though the read model has applied it. */
  const missing = (after: number) =>
    new Error(`the channel's history has nothing after seq ${after}, yet a later item went by live`);

  /**
   * Reads history after the cursor (first waiting, when `waitFor` is given,
   * until the read model has applied that position), then sends what is held.
   * Clears `reading` itself, in the same turn as the last check, so an item
   * offered at any moment either sees a read under way or is sent at once.
   */
  const read = async (waitFor: number | null | 'head'): Promise<void> => {
    const history = opts.history!;
    let target = waitFor === 'head' ? await history.head() : waitFor;
    for (;;) {
      const applied = target === null ? true : await history.caughtUp(target);
      const from = cursor;
      for (;;) {
        if (closed) return;
        const page = await history.changesAfter(cursor!, pageSize);
        if (closed) return;
        for (const item of page.items) deliver(item);
        if (!page.more || page.items.length === 0) break;
      }
      if (!drain()) {
        reading = null;
        return;
      }
      // Applied, yet nothing new to read: the history will never hold the gap.
      if (applied && target !== null && cursor === from) throw missing(cursor!);
      // Not applied within its bound (a busy read model): read again, waiting once more.
      target = Math.max(newest, target ?? 0);
      newest = 0;
    }
  };

  const startRead = (waitFor: number | null | 'head') => {
    if (reading || closed) return;
    reading = read(waitFor).catch((error: unknown) => {
      reading = null;
      if (closed) return;
      closed = true;
      opts.fail(error);
    });
  };

  if (opts.history && cursor !== null) startRead('head');

  return {
    offer(item) {
      if (closed) return;
      if (!opts.history) return deliverLive(item);
      // No cursor: the channel starts, for this client, with this item.
      cursor ??= item.seq - 1;
      if (item.seq <= cursor) return;
      if (!reading && item.seq === cursor + 1 && pending.size === 0) return deliver(item);
      if (pending.size < maxPending) pending.set(item.seq, item);
      else dropped = Math.max(dropped, item.seq);
      newest = Math.max(newest, item.position);
      startRead(item.position);
    },
    cursor: () => cursor,
    idle: async () => {
      while (reading) await reading;
    },
    close() {
      closed = true;
      pending.clear();
      sent.clear();
    },
  };
};
