import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type SimRequest = Readonly<{
  at: number;
  headers: Readonly<Record<string, string>>;
  body: unknown;
  /** What it was answered; 0 where the connection was dropped unanswered. */
  status: number;
  id: string | null;
}>;

/** A scripted answer: a status, a status with Retry-After, or a connection dropped unanswered. */
export type SimAnswer = number | { status: number; retryAfter?: string } | 'reset' | 'close';

/** A running provider-sim-main.ts: a real HTTP process, scripted over its API. */
export type ProviderSim = Readonly<{
  /** Where senders post (`<base>/send`). */
  url: string;
  /** Queues the next answers, e.g. `[500, 500, 200]`, `[{ status: 429, retryAfter: '2' }]` or `['reset', 200]`. */
  script(answers: readonly SimAnswer[]): Promise<void>;
  requests(): Promise<readonly SimRequest[]>;
  stop(): Promise<void>;
}>;

const main = fileURLToPath(new URL('./provider-sim-main.ts', import.meta.url));

/**
 * Starts the provider double as a process of its own on a free loopback port.
 *
 * @example const sms = await startProviderSim(); await sms.script([500, 200]); … await sms.stop();
 */
export const startProviderSim = async (): Promise<ProviderSim> => {
  const child = spawn(process.execPath, [main], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`provider sim exited ${code} before listening`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `${base}/send`,
    async script(answers) {
      const res = await fetch(`${base}/_script`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          answers: answers.map((a) =>
            typeof a === 'number' ? { status: a } : typeof a === 'string' ? { status: 0, drop: a } : a,
          ),
        }),
      });
      if (!res.ok) throw new Error(`provider sim refused the script: ${res.status}`);
    },
    async requests() {
      return ((await (await fetch(`${base}/_requests`)).json()) as { requests: SimRequest[] }).requests;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
};
