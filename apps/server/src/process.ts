import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

/** A server (`main.ts`) running as a process of its own. */
export type ServerProcess = Readonly<{
  url: string;
  child: ChildProcess;
  /** From spawn to the first `/readyz` 200 (or `/healthz` 200, with `until: 'alive'`). */
  startupSeconds: number;
  /** What the process wrote to stdout and stderr (the JSON log), its last 256 KiB. */
  output(): string;
  /** Resolves when the process has exited, however. */
  exited: Promise<void>;
  /** SIGTERM unless it has exited already, then the exit. */
  stop(): Promise<void>;
}>;

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const KEEP = 256 * 1024;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/**
 * Starts the whole backend as its own process on a free loopback port, as
 * `./dev start` does, with only the environment given (plus PATH, and
 * LOG_LEVEL=warn unless given): a test's or bench's own environment never
 * leaks engines into it. Resolves once `/readyz` answers 200; rejects with the
 * process's output if it exits first or is not ready in time.
 *
 * Used where a separate process matters: a crash (SIGKILL) mid-work, two
 * processes sharing engines, a bench client that must not share the
 * server's event loop.
 *
 * @example const server = await startServerProcess({ DATABASE_URL, LECTERN_DATA_DIR: dir }); … await server.stop();
 */
export const startServerProcess = async (
  env: Readonly<Record<string, string>>,
  opts: Readonly<{
    readyTimeoutMs?: number;
    /** `'ready'` (default): resolve at the first `/readyz` 200; `'alive'`: at the first `/healthz` 200. */
    until?: 'ready' | 'alive';
  }> = {},
): Promise<ServerProcess> => {
  const started = performance.now();
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 2 * KEEP) output = output.slice(-KEEP);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (running()) child.kill('SIGTERM');
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  const timeout = opts.readyTimeoutMs ?? 120_000;
  for (;;) {
    if (!running())
      throw new Error(`server exited ${child.exitCode ?? child.signalCode}: ${output.slice(-KEEP)}`);
    if (performance.now() - started > timeout) {
      await stop();
      throw new Error(`server not ready in ${timeout / 1000} s: ${output.slice(-KEEP)}`);
    }
    const ready = await fetch(`${url}/${opts.until === 'alive' ? 'healthz' : 'readyz'}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    startupSeconds: Math.round((performance.now() - started) / 10) / 100,
    output: () => output,
    exited,
    stop,
  };
};
