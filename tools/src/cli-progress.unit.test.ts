import test from 'ava';
import { progressLine, showProgress, type ProjectionWork } from './cli-progress.ts';

const work = (over: Partial<ProjectionWork> = {}): ProjectionWork => ({
  action: 'rebuild',
  phase: 'replay',
  eventsRead: 120_000,
  position: 120_000,
  headPosition: 480_000,
  seconds: 2,
  eventsPerSecond: 60_000,
  ...over,
});

test('a replay shows events read, events per second, the share done and the time left at that pace', (t) => {
  t.is(
    progressLine('profiles', work()),
    'rebuild profiles: replaying, 120000 events read, 60000 events/s, 25%, about 6 s left',
  );
  t.is(
    progressLine('history', work({ action: 'diff', position: 1000, headPosition: 481_000, seconds: 3 })),
    'diff history: replaying, 120000 events read, 60000 events/s, 0%, about 24 min 0 s left',
  );
  t.regex(
    progressLine('p', work({ position: 1, headPosition: 100_000, seconds: 10 })),
    /about 277 h 46 min left$/,
  );
  t.regex(progressLine('p', work({ position: 480_000 })), /100%, finishing$/);
});

test('without a position or a head there is no estimate; the other phases say what they wait for', (t) => {
  t.is(
    progressLine('profiles', work({ position: null, eventsRead: 0, eventsPerSecond: 0, seconds: 4 })),
    'rebuild profiles: replaying, 4 s in',
  );
  t.is(
    progressLine('profiles', work({ headPosition: null })),
    'rebuild profiles: replaying, 120000 events read, 60000 events/s',
  );
  t.is(
    progressLine('profiles', work({ phase: 'load', eventsRead: 0, position: null, seconds: 42 })),
    'rebuild profiles: loading in the database, 42 s in',
  );
  t.is(
    progressLine('profiles', work({ phase: 'agree', seconds: 75 })),
    'rebuild profiles: replayed (120000 events read); waiting for the live model to reach it, 1 min 15 s in',
  );
  t.is(
    progressLine('profiles', work({ phase: 'compare', seconds: 0.2 })),
    'rebuild profiles: comparing with the live model (120000 events read), 1 s in',
  );
  t.regex(
    progressLine('profiles', work({ action: 'diff', phase: 'explain' })),
    /^diff profiles: replaying again/,
  );
});

test('the line is rewritten in place while there is work, and cleared at the end', async (t) => {
  const written: string[] = [];
  const answers: (ProjectionWork | null)[] = [null, work(), work({ phase: 'compare' })];
  let asked = 0;
  const shown = showProgress({
    name: 'profiles',
    status: async () => answers[Math.min(asked++, answers.length - 1)]!,
    write: (text) => written.push(text),
    intervalMs: 1,
  });
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (written.length >= 2) {
        clearInterval(check);
        resolve();
      }
    }, 1);
  });
  shown.stop();
  t.is(written[0], `\r${progressLine('profiles', work())}\x1b[K`, 'nothing for a status without work');
  t.true(written[1]!.startsWith('\rrebuild profiles: comparing'));
  t.is(written.at(-1), '\r\x1b[K');
  t.true(written.slice(0, -1).every((w) => w.startsWith('\r') && !w.includes('\n')));
});
