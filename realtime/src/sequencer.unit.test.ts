import test from 'ava';
import type { ChannelItem } from '@lectern/infra/runtime/realtime';
import { sequencer, type LiveItem } from './sequencer.ts';

const item = (seq: number): LiveItem => ({ seq, data: { n: seq }, position: seq * 10 });

/**
 * A channel's history as a read model holds it: items up to `applied`, read
 * in pages; `gate` holds reads back until the test lets them go.
 */
const historyOf = (upTo: number) => {
  const state = { applied: upTo, reads: 0, waits: [] as number[] };
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  return {
    state,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release: () => open(),
    history: {
      async changesAfter(after: number, limit: number) {
        state.reads += 1;
        await gate;
        const items: ChannelItem[] = [];
        for (let s = after + 1; s <= state.applied && items.length < limit; s++) items.push(item(s));
        const last = items.at(-1)?.seq ?? after;
        return { items: items.map(({ seq, data }) => ({ seq, data })), more: last < state.applied };
      },
      async caughtUp(position: number) {
        state.waits.push(position);
        return state.applied * 10 >= position;
      },
      // The store's newest event is what the read model has (see the test of a resume that waits).
      head: async () => state.applied * 10,
    },
  };
};

const collect = () => {
  const sent: number[] = [];
  const failures: unknown[] = [];
  return {
    sent,
    failures,
    send: (i: ChannelItem) => void sent.push(i.seq),
    fail: (e: unknown) => void failures.push(e),
  };
};

test('a resume reads history from the cursor, in pages, then goes on live; copies are dropped', async (t) => {
  const h = historyOf(5);
  const c = collect();
  const s = sequencer({ cursor: 2, history: h.history, send: c.send, fail: c.fail, pageSize: 2 });
  await s.idle();
  t.deepEqual(c.sent, [3, 4, 5]);
  t.is(h.state.reads, 2, 'two pages of two, the second one short');
  s.offer(item(5));
  s.offer(item(6));
  s.offer(item(6));
  await s.idle();
  t.deepEqual(c.sent, [3, 4, 5, 6]);
  t.is(s.cursor(), 6);
});

test('live items that arrive while history is read are held, then sent in order, each once', async (t) => {
  const h = historyOf(6);
  h.hold();
  const c = collect();
  const s = sequencer({ cursor: 2, history: h.history, send: c.send, fail: c.fail });
  s.offer(item(6));
  s.offer(item(7));
  h.state.applied = 6;
  h.release();
  await s.idle();
  t.deepEqual(c.sent, [3, 4, 5, 6, 7]);
});

test('without a cursor the channel starts at the next live item; a gap waits for the read model, then reads', async (t) => {
  const h = historyOf(1);
  const c = collect();
  const s = sequencer({ cursor: null, history: h.history, send: c.send, fail: c.fail });
  s.offer(item(1));
  t.deepEqual(c.sent, [1]);
  t.is(h.state.reads, 0, 'no history is read for a client without a cursor');
  h.state.applied = 4;
  s.offer(item(4));
  await s.idle();
  t.deepEqual(c.sent, [1, 2, 3, 4]);
  t.deepEqual(h.state.waits, [40], 'waited for the event of the item that showed the gap');
  s.offer(item(5));
  t.deepEqual(c.sent, [1, 2, 3, 4, 5]);
});

test('a read model behind its bound is read again until the gap is filled', async (t) => {
  const h = historyOf(2);
  const c = collect();
  const s = sequencer({ cursor: 1, history: h.history, send: c.send, fail: c.fail });
  await s.idle();
  // The log shows 5 before the read model has 3 and 4: the first wait comes back false.
  const waits = h.history.caughtUp;
  let calls = 0;
  h.history.caughtUp = async (p) => {
    calls += 1;
    if (calls === 2) h.state.applied = 5;
    return waits(p);
  };
  s.offer(item(5));
  await s.idle();
  t.deepEqual(c.sent, [2, 3, 4, 5]);
  t.is(calls, 2);
  t.deepEqual(c.failures, []);
});

test('a history that never holds an item the live feed showed fails the subscription, not the process', async (t) => {
  const h = historyOf(1);
  const c = collect();
  const s = sequencer({ cursor: 1, history: h.history, send: c.send, fail: c.fail });
  await s.idle();
  h.history.caughtUp = async () => true;
  s.offer(item(3));
  await s.idle();
  t.is(c.failures.length, 1);
  t.regex(String(c.failures[0]), /nothing after seq 1/);
  s.offer(item(2));
  t.deepEqual(c.sent, [], 'nothing more once failed');
});

test('a live-only channel sends each item once, in the order the log brings them', async (t) => {
  const c = collect();
  const s = sequencer({ cursor: null, history: null, send: c.send, fail: c.fail, recent: 3 });
  // 6 after 8: another stream's event, from another partition, is not a copy.
  for (const n of [7, 8, 8, 6, 10]) s.offer(item(n));
  t.deepEqual(c.sent, [7, 8, 6, 10]);
  t.is(s.cursor(), 10);
  // Only the last `recent` seqs are remembered: 7 has been forgotten, 10 has not.
  for (const n of [11, 7, 10]) s.offer(item(n));
  t.deepEqual(c.sent, [7, 8, 6, 10, 11, 7]);
});

test('held items past maxPending are dropped and read from history instead', async (t) => {
  const h = historyOf(1);
  h.hold();
  const c = collect();
  const s = sequencer({ cursor: 1, history: h.history, send: c.send, fail: c.fail, maxPending: 2 });
  for (const n of [2, 3, 4, 5]) s.offer(item(n));
  h.state.applied = 5;
  h.release();
  await s.idle();
  t.deepEqual(c.sent, [2, 3, 4, 5]);
});

test("a resume waits until the read model has the channel's newest event before it reads", async (t) => {
  // Items 4 and 5 were written (and went by live, before this subscription) but are not projected yet.
  let applied = 3;
  const waits: number[] = [];
  let project!: () => void;
  const projected = new Promise<void>((resolve) => (project = resolve));
  const c = collect();
  const s = sequencer({
    cursor: 1,
    history: {
      head: async () => 50,
      async caughtUp(position) {
        waits.push(position);
        await projected;
        return applied * 10 >= position;
      },
      async changesAfter(after, limit) {
        const items: ChannelItem[] = [];
        for (let n = after + 1; n <= applied && items.length < limit; n++) items.push({ seq: n, data: n });
        return { items, more: false };
      },
    },
    send: c.send,
    fail: c.fail,
  });
  for (let i = 0; i < 100 && waits.length === 0; i++) await new Promise((r) => setImmediate(r));
  t.deepEqual(waits, [50], 'it waits for the newest event');
  t.deepEqual(c.sent, [], 'and reads nothing before');
  applied = 5;
  project();
  await s.idle();
  t.deepEqual(c.sent, [2, 3, 4, 5]);
  t.deepEqual(c.failures, []);
});
