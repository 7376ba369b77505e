import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export type ServerProcess = Readonly<{ url: string; startupSeconds: number; stop(): Promise<void> }>;

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
 * Starts a whole backend as its own process (`node apps/server/src/main.ts`,
 * as `./dev start` does), so that the bench client does not share the
 * server's event loop, and waits until `/readyz` answers 200.
 */
export const startServerProcess = async (
  env: Record<string, string>,
  dataDir: string,
): Promise<ServerProcess> => {
  const t0 = performance.now();
  const port = await freePort();
  const server = spawn(process.execPath, [fileURLToPath(import.meta.resolve('@lectern/server/main'))], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      LECTERN_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    server.kill('SIGTERM');
    await exited;
  };
  for (let ready = false; !ready;) {
    if (server.exitCode !== null)
      throw new Error(`the server exited with ${server.exitCode} before it was ready`);
    if (performance.now() - t0 > 60_000) {
      await stop();
      throw new Error('the server was not ready in 60 s');
    }
    ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  return { url, startupSeconds: Math.round((performance.now() - t0) / 10) / 100, stop };
};
