import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

test('a busy port: one sentence and status 2, before any engine opens', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-port-'));
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, resolve));
  const { port } = squatter.address() as AddressInfo;
  try {
    const child = spawn(process.execPath, [main], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port), LECTERN_DATA_DIR: dir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    t.is(code, 2);
    t.is(
      stderr.trim(),
      `Port ${port} is already in use (another Lectern, or another program, listens on it). Stop that process, or set PORT to a free port (PORT=0 picks one).`,
    );
    // Nothing was opened: no embedded database, no chDB folder.
    t.false(existsSync(join(dir, 'pglite')));
    t.false(existsSync(join(dir, 'chdb')));
  } finally {
    squatter.close();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
