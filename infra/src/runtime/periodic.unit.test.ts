import test from 'ava';
import { waitUntil } from '../testing/wait.ts';
import { periodic } from './periodic.ts';

test('runs at once on start, one run at a time (a run due while one is in hand is skipped); a failure is reported and the next goes on; stop waits for the run in hand', async (t) => {
  const errors: unknown[] = [];
  let runs = 0;
  let inHand = 0;
  let most = 0;
  let release: () => void = () => {};
  const job = periodic(
    async () => {
      runs++;
      inHand++;
      most = Math.max(most, inHand);
      try {
        if (runs === 1) throw new Error('first run fails');
        await new Promise<void>((resolve) => (release = resolve));
      } finally {
        inHand--;
      }
    },
    1,
    (error) => errors.push(error),
  );
  job.start();
  job.start(); // a second start changes nothing
  await waitUntil('the second run to be in hand', () => runs >= 2 && inHand === 1);
  t.is(errors.length, 1);
  t.is((errors[0] as Error).message, 'first run fails');
  let stopped = false;
  const stopping = job.stop().then(() => (stopped = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.false(stopped, 'stop waits for the run in hand');
  release();
  await stopping;
  t.is(most, 1, 'never two runs at once');
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.is(runs, after, 'no run after stop');
});

test("first 'later': nothing runs on start, where 'now' runs at once", async (t) => {
  const started = async (first: 'now' | 'later') => {
    let runs = 0;
    const job = periodic(
      async () => {
        runs++;
      },
      3_600_000,
      () => {},
      first,
    );
    job.start();
    // The run at once is a microtask away; a run one interval on is an hour away.
    await new Promise((resolve) => setImmediate(resolve));
    await job.stop();
    return runs;
  };
  t.is(await started('now'), 1);
  t.is(await started('later'), 0);
});
