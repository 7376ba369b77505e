import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import test from 'ava';

/**
 * `guardChild` against real processes: a parent (a Node process of the
 * test's own) spawns ffmpeg, which ignores SIGPIPE and so would encode on
 * after its parent's death; killed with SIGKILL, the parent takes it along.
 */

const guardUrl = new URL('./guard.ts', import.meta.url).href;

/** A parent process that spawns `argv` guarded and prints its pid, then "exited" when it ends. */
const parentOf = (argv: readonly string[]) => {
  const script = `
    import { spawn } from 'node:child_process';
    import { guardChild } from ${JSON.stringify(guardUrl)};
    const [bin, ...args] = ${JSON.stringify(argv)};
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    guardChild(child);
    child.stdout.resume();
    child.stderr.resume();
    console.log(child.pid);
    child.on('exit', () => console.log('exited'));
    setInterval(() => {}, 60_000);
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  parent.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((r) => parent.once('exit', () => r()));
  return { parent, output: () => out, exited };
};

type Proc = Readonly<{ pid: number; name: string }>;

/** Running children of `pid` (a zombie has ended: it only waits to be reaped). */
const childrenOf = async (pid: number): Promise<Proc[]> => {
  const found: Proc[] = [];
  for (const p of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z' && state !== 'X')
      found.push({ pid: Number(p), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
  }
  return found;
};

const running = async (pid: number): Promise<boolean> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  const state = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
};

/** Waits (bounded) for `done`; its last value either way. */
const waitFor = async <T>(probe: () => Promise<T>, done: (v: T) => boolean, ms = 60_000): Promise<T> => {
  for (const deadline = Date.now() + ms; ;) {
    const v = await probe();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Waits (bounded) until `pid` is no longer running; whether it still is. */
const outlives = async (pid: number): Promise<boolean> =>
  waitFor(
    () => running(pid),
    (r) => !r,
  );

test('a parent killed with SIGKILL takes its guarded ffmpeg along, and the guard goes too', async (t) => {
  // Endless, at its own pace (-re), and writing -progress to a pipe as the worker's encode does.
  const { parent, output, exited } = parentOf([
    'ffmpeg',
    ...['-hide_banner', '-nostdin', '-loglevel', 'warning', '-progress', 'pipe:1', '-nostats'],
    ...['-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=5', '-f', 'null', '-'],
  ]);
  let children: Proc[] = [];
  try {
    const printed = await waitFor(
      async () => output(),
      (o) => o.includes('\n'),
    );
    children = await waitFor(
      () => childrenOf(parent.pid!),
      (c) => c.length === 2,
    );
    t.deepEqual(children.map((c) => c.name).sort(), ['ffmpeg', 'sh'], 'ffmpeg and its guard');
    t.is(children.find((c) => c.name === 'ffmpeg')?.pid, Number(printed.trim()));
    parent.kill('SIGKILL');
    await exited;
    const left: Proc[] = [];
    for (const c of children) if (await outlives(c.pid)) left.push(c);
    t.deepEqual(left, [], 'nothing the parent started runs on');
  } finally {
    // What this test started and a failure left running is ended here, by pid.
    parent.kill('SIGKILL');
    await exited;
    for (const c of children) if (await running(c.pid)) process.kill(c.pid, 'SIGKILL');
  }
});

test('a guarded tool that ends first takes its guard along; the parent lives on', async (t) => {
  const { parent, output, exited } = parentOf(['ffmpeg', '-hide_banner', '-version']);
  try {
    await waitFor(
      async () => output(),
      (o) => o.includes('exited'),
    );
    const left = await waitFor(
      () => childrenOf(parent.pid!),
      (c) => c.length === 0,
    );
    t.deepEqual(left, [], 'no guard is left waiting');
    t.is(parent.exitCode, null);
  } finally {
    parent.kill('SIGKILL');
    await exited;
  }
});
