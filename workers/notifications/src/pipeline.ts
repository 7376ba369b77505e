/**
 * At most `limit` holders at once; the others wait their turn, first come
 * first served.
 *
 * @example const s = slots(64); await s.take(); try { await send(m); } finally { s.give(); }
 */
export const slots = (limit: number) => {
  if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError('slots needs a positive integer');
  let free = limit;
  const waiting: (() => void)[] = [];
  return {
    take(): Promise<void> {
      if (free > 0) {
        free -= 1;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    give(): void {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    },
  };
};

export type PagePipeline<Page, Item> = Readonly<{
  /** The next page, ready to send (read, its rows opened); null when there is none. */
  next: () => Promise<Page | null>;
  /** What of a page goes out, one `send` each. */
  items: (page: Page) => readonly Item[];
  /** Hands one item over; what happened is the caller's to note. A rejection fails the run. */
  send: (item: Item, page: Page) => Promise<void>;
  /** A page whose items are all sent; pages are recorded one at a time, in order. */
  record: (page: Page) => Promise<void>;
  /** Items in flight at once, across pages. */
  concurrency: number;
}>;

/**
 * Runs pages through reading, sending and recording, overlapped: while a
 * page's items are sent, the next page is read and the page before is
 * recorded, and the items of all pages share `concurrency` slots, so the
 * next page's first items go out as soon as this page's last ones have
 * theirs.
 *
 * - A page is sent only once `next` has answered it, and recorded only
 *   once every one of its items is sent and the page before it is
 *   recorded: records are in page order, one at a time.
 * - Sending runs at most two pages ahead of recording.
 * - When anything fails, nothing more is sent, what is under way settles
 *   (no page is recorded after a record that failed), and the run rejects
 *   with the first failure.
 *
 * @example
 *   await pipelinePages({ next: readPage, items: (p) => p.messages, send: deliver, record: writeDecisions, concurrency: 64 });
 */
export const pipelinePages = async <Page, Item>(p: PagePipeline<Page, Item>): Promise<void> => {
  const inFlight = slots(p.concurrency);
  let stopped = false;
  /** Sends a page's items as slots free up; `queued` once the last has its slot, `sent` once all are sent. */
  const send = (page: Page) => {
    let dispatched!: () => void;
    const queued = new Promise<void>((resolve) => (dispatched = resolve));
    const sent = (async () => {
      const sending: Promise<void>[] = [];
      try {
        for (const item of p.items(page)) {
          await inFlight.take();
          if (stopped) {
            inFlight.give();
            break;
          }
          sending.push(p.send(item, page).finally(() => inFlight.give()));
        }
      } finally {
        dispatched();
      }
      await Promise.all(sending);
    })();
    return { queued, sent };
  };

  let upcoming = p.next();
  const recordings: Promise<void>[] = [];
  let recorded: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      const page = await upcoming;
      if (page === null) break;
      upcoming = p.next();
      // Awaited on the next turn; until then its rejection is not unhandled.
      upcoming.catch(() => {});
      await recordings[recordings.length - 2];
      const { queued, sent } = send(page);
      const before = recorded;
      recorded = (async () => {
        // Every send of the page settles first, whatever happened before it.
        const outcome = await Promise.allSettled([sent, before]);
        for (const o of outcome) if (o.status === 'rejected') throw o.reason;
        await p.record(page);
      })();
      recorded.catch(() => {
        stopped = true;
      });
      recordings.push(recorded);
      await queued;
    }
    await recorded;
  } catch (error) {
    stopped = true;
    await Promise.allSettled([upcoming, recorded]);
    throw error;
  }
};
