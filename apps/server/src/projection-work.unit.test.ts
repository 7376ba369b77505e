import test from 'ava';
import { workBoard } from './projection-work.ts';

/** A work that runs until `finish` is called, having reported `eventsRead` events read. */
const pending = (eventsRead: number) => {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    finish: () => finish(),
    work: async ({
      onProgress,
    }: {
      onProgress: (p: {
        phase: 'replay';
        eventsRead: number;
        position: number;
        headPosition: number;
      }) => void;
    }) => {
      onProgress({ phase: 'replay', eventsRead, position: eventsRead, headPosition: 1000 });
      await done;
      return eventsRead;
    },
  };
};

test('the board shows a run in flight, with its rate, and forgets it once it settles', async (t) => {
  let clock = 0;
  const board = workBoard(() => clock);
  const run = pending(500);
  const tracked = board.track('profiles', 'rebuild', run.work);
  clock = 2000;
  t.like(board.of('profiles'), {
    action: 'rebuild',
    phase: 'replay',
    eventsRead: 500,
    seconds: 2,
    eventsPerSecond: 250,
  });
  t.is(board.of('profile_history'), null);
  run.finish();
  t.is(await tracked, 500);
  t.is(board.of('profiles'), null);
});

test('a second run of the same model, refused, leaves the first on the board', async (t) => {
  const board = workBoard(() => 0);
  const first = pending(700);
  const tracked = board.track('profiles', 'rebuild', first.work);
  await t.throwsAsync(
    board.track('profiles', 'audit', async () => {
      throw new Error('a rebuild, diff or audit of profiles is running already');
    }),
    { message: /running already/ },
  );
  t.like(board.of('profiles'), { action: 'rebuild', eventsRead: 700 });
  first.finish();
  await tracked;
  t.is(board.of('profiles'), null);
});

test('of two runs in flight, the board shows the older, then the other once the older settles', async (t) => {
  const board = workBoard(() => 0);
  const older = pending(10);
  const newer = pending(20);
  const a = board.track('profiles', 'rebuild', older.work);
  const b = board.track('profiles', 'diff', newer.work);
  t.like(board.of('profiles'), { action: 'rebuild', eventsRead: 10 });
  older.finish();
  await a;
  t.like(board.of('profiles'), { action: 'diff', eventsRead: 20 });
  newer.finish();
  await b;
  t.is(board.of('profiles'), null);
});
