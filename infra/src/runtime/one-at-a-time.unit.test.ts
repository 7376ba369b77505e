import test from 'ava';
import { oneAtATime } from './one-at-a-time.ts';

test('calls run one after another, a failure included, each caller getting its own outcome', async (t) => {
  const started: string[] = [];
  const finish = new Map<string, (fail: boolean) => void>();
  const work = oneAtATime(
    (name: string) =>
      new Promise<string>((resolve, reject) => {
        started.push(name);
        finish.set(name, (fail) => (fail ? reject(new Error(`${name} failed`)) : resolve(name)));
      }),
  );
  const a = work('a');
  const b = work('b');
  const c = work('c');
  await Promise.resolve();
  await Promise.resolve();
  t.deepEqual(started, ['a'], 'b waits for a');
  finish.get('a')!(true);
  await t.throwsAsync(a, { message: 'a failed' });
  await new Promise((r) => setImmediate(r));
  t.deepEqual(started, ['a', 'b'], 'a failure does not stop the queue');
  finish.get('b')!(false);
  t.is(await b, 'b');
  await new Promise((r) => setImmediate(r));
  t.deepEqual(started, ['a', 'b', 'c']);
  finish.get('c')!(false);
  t.is(await c, 'c');
});
