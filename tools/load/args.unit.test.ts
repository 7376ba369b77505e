import test from 'ava';
import { parseArgs } from './args.ts';

test('a scenario with the defaults: both profiles, default window and rate', (t) => {
  t.deepEqual(parseArgs(['auth']), {
    scenarios: ['auth'],
    profiles: ['embedded', 'distributed'],
    measureMs: null,
    rate: null,
    quick: false,
  });
});

test('all, one profile, a duration in each unit, a rate, quick', (t) => {
  t.like(parseArgs(['all', '--profile', 'embedded', '--duration', '2m', '--rate', '7.5', '--quick']), {
    scenarios: ['auth', 'content', 'chat'],
    profiles: ['embedded'],
    measureMs: 120_000,
    rate: 7.5,
    quick: true,
  });
  t.like(parseArgs(['chat', '--duration', '1500ms']), { measureMs: 1500 });
  t.like(parseArgs(['chat', '--duration', '45s', '--profile', 'both']), {
    measureMs: 45_000,
    profiles: ['embedded', 'distributed'],
  });
});

test('bad usage is a sentence saying what is wrong', (t) => {
  t.regex(parseArgs([]) as string, /which scenario/);
  t.regex(parseArgs(['login']) as string, /unknown scenario login/);
  t.regex(parseArgs(['auth', 'chat']) as string, /one scenario at a time/);
  t.regex(parseArgs(['auth', '--profile', 'cloud']) as string, /--profile takes/);
  t.regex(parseArgs(['auth', '--duration', '30']) as string, /--duration takes/);
  t.regex(parseArgs(['auth', '--duration', '100ms']) as string, /at least 500ms/);
  t.regex(parseArgs(['auth', '--rate', '0']) as string, /--rate takes a positive number/);
  t.regex(parseArgs(['auth', '--rate']) as string, /got nothing/);
  t.regex(parseArgs(['auth', '--fast']) as string, /unknown option --fast/);
});
