import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));

export type CliRun = Readonly<{ code: number | null; stdout: string; stderr: string }>;

/**
 * Runs the `lectern` CLI as a newcomer meets it: its own node process, with
 * only PATH from the test's environment plus `env` (a LECTERN_URL, PORT or
 * LECTERN_TOKEN of the test's shell must not leak in).
 *
 * @example const { code, stdout } = await runCli(['projections'], { PORT: '8123' });
 */
export const runCli = (args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
