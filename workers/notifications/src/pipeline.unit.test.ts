import test from 'ava';
import { pipelinePages, slots } from './pipeline.ts';

/** Lets every promise that can settle now settle (a few turns of the microtask and timer queues). */
const settle = () => new Promise((r) => setImmediate(r));

/** A log of what the pipeline did, and its pages: `pages` of `size` items, each item sent when released. */
const harness = (opts: { pages: number; size: number; failRecordOf?: number; failNextAt?: number }) => {
  const log: string[] = [];
  let read = 0;
  let inFlight = 0;
  let most = 0;
  const next = async (): Promise<number | null> => {
    await settle();
    if (read === opts.failNextAt) throw new Error(`no page ${read}`);
    if (read >= opts.pages) return null;
    log.push(`read ${read}`);
    return read++;
  };
  const run = pipelinePages<number, string>({
    next,
    items: (page) => Array.from({ length: opts.size }, (_, i) => `${page}.${i}`),
    send: async (item) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      log.push(`send ${item}`);
      await settle();
      inFlight -= 1;
    },
    record: async (page) => {
      log.push(`record ${page} start`);
      await settle();
      if (page === opts.failRecordOf) throw new Error(`record ${page} failed`);
      log.push(`record ${page} done`);
    },
    concurrency: 3,
  });
  return { run, log, most: () => most };
};

test('pages are recorded in order, each after all its items, while later pages are read and sent', async (t) => {
  const h = harness({ pages: 6, size: 5 });
  await h.run;
  const at = (entry: string) => h.log.indexOf(entry);
  for (let page = 0; page < 6; page++) {
    t.true(at(`read ${page}`) < at(`send ${page}.0`), `page ${page} is read before it is sent`);
    for (let i = 0; i < 5; i++) t.true(at(`send ${page}.${i}`) < at(`record ${page} start`));
    if (page > 0) t.true(at(`record ${page - 1} done`) < at(`record ${page} start`), 'one record at a time');
  }
  t.true(at(`send 1.0`) < at(`record 0 done`), 'the next page goes out before this one is recorded');
  t.true(at(`read 1`) < at(`send 0.4`), 'the next page is read while this one is sent');
  t.is(h.most(), 3, 'never more than the slots');
  t.is(h.log.filter((e) => e.startsWith('send')).length, 30);
});

test('sending runs at most two pages ahead of recording', async (t) => {
  const h = harness({ pages: 8, size: 2 });
  await h.run;
  const at = (entry: string) => h.log.indexOf(entry);
  for (let page = 2; page < 8; page++)
    t.true(at(`record ${page - 2} done`) < at(`send ${page}.0`), `page ${page} waits for page ${page - 2}`);
});

test('a record that fails stops the sending; nothing is recorded after it, and the run fails with it', async (t) => {
  const h = harness({ pages: 10, size: 4, failRecordOf: 2 });
  await t.throwsAsync(h.run, { message: 'record 2 failed' });
  const recorded = h.log.filter((e) => e.endsWith('done'));
  t.deepEqual(recorded, ['record 0 done', 'record 1 done']);
  t.false(h.log.includes('record 3 start'));
  t.false(
    h.log.some((e) => /^send [6-9]\./.test(e)),
    h.log.join(', '),
  );
});

test('a page that cannot be read fails the run once the pages before it are sent and recorded', async (t) => {
  const h = harness({ pages: 10, size: 4, failNextAt: 3 });
  await t.throwsAsync(h.run, { message: 'no page 3' });
  t.deepEqual(
    h.log.filter((e) => e.endsWith('done')),
    ['record 0 done', 'record 1 done', 'record 2 done'],
  );
  t.is(h.log.filter((e) => e.startsWith('send')).length, 12);
});
test('slots: at most the limit at once, the others in the order they came', async (t) => {
  const s = slots(2);
  const order: string[] = [];
  let inFlight = 0;
  let most = 0;
  const hold = async (name: string, ms: number) => {
    await s.take();
    order.push(name);
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, ms));
    inFlight -= 1;
    s.give();
  };
  await Promise.all([hold('a', 20), hold('b', 5), hold('c', 1), hold('d', 1), hold('e', 1)]);
  t.is(most, 2);
  t.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
  t.throws(() => slots(0), { instanceOf: RangeError });
});
