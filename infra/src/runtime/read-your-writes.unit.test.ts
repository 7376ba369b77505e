import test from 'ava';
import { createMetrics } from './metrics.ts';
import { measuredConsistencyWait } from './read-your-writes.ts';

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('each wait is counted by projection and outcome, with what it took', async (t) => {
  const metrics = createMetrics();
  let release = (): void => {};
  const waitFor = measuredConsistencyWait(metrics, (projection, _stream, position) =>
    projection === 'profiles'
      ? new Promise<boolean>((resolve) => (release = () => resolve(position <= 7)))
      : Promise.resolve(false),
  );

  const caughtUp = waitFor('profiles', 'profile-1', 7);
  release();
  t.true(await caughtUp);
  const stale = waitFor('profiles', 'profile-1', 9);
  release();
  t.false(await stale);
  t.false(await waitFor('courses', 'course-1', 3));

  const text = await metrics.registry.metrics();
  const count = (labels: string) => sample(text, `lectern_consistency_wait_seconds_count{${labels}}`);
  t.is(count('projection="profiles",outcome="caught_up"'), 1);
  t.is(count('projection="profiles",outcome="stale"'), 1);
  t.is(count('projection="courses",outcome="stale"'), 1);
  t.is(count('projection="courses",outcome="caught_up"'), undefined);
  const seconds = sample(
    text,
    'lectern_consistency_wait_seconds_sum{projection="profiles",outcome="caught_up"}',
  );
  t.true(seconds !== undefined && seconds >= 0);
});

test('a wait that throws is not counted and the error reaches the caller', async (t) => {
  const metrics = createMetrics();
  const waitFor = measuredConsistencyWait(metrics, () => Promise.reject(new Error('database gone')));
  await t.throwsAsync(waitFor('profiles', 'profile-1', 1), { message: 'database gone' });
  t.false((await metrics.registry.metrics()).includes('lectern_consistency_wait_seconds_count{'));
});
