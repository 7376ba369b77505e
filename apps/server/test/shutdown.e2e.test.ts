import { request, Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import test from 'ava';
import { testClient } from '@lectern/realtime/testing/client';
import { PATIENT_READS } from './patient-reads.ts';
import { startServerProcess, type ServerProcess } from '../src/process.ts';

/**
 * SIGTERM on a real process (ARCHITECTURE.md §5.12, issue 8 line 5): what
 * the server has accepted is answered in full, what it answered 2xx is in
 * the store after a restart, a read-your-writes query that waits answers
 * `stale`, and only a request still unfinished at the deadline is cut.
 */

type Answer = Readonly<{ status: number; headers: IncomingMessage['headers']; body: string }>;

/**
 * A request whose headers are sent at once and whose body waits for
 * `send()`. `received` resolves when the server has the request in hand:
 * Node's server answers `Expect: 100-continue` when it has parsed the
 * headers and handed the request to the app, so no guessing about timing.
 */
const heldRequest = (
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): { received: Promise<void>; send(): void; answer: Promise<Answer>; req: ClientRequest } => {
  const target = new URL(path, url);
  const req = request(target, {
    method,
    agent: false,
    headers: { ...headers, expect: '100-continue', 'content-length': String(Buffer.byteLength(body)) },
  });
  const received = new Promise<void>((resolve) => req.once('continue', () => resolve()));
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.once('error', reject);
    });
  });
  answer.catch(() => {});
  req.flushHeaders();
  return { received, send: () => req.end(body), answer, req };
};

const devToken = async (url: string, sub: string): Promise<string> => {
  const res = await fetch(`${url}/api/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, roles: ['learner'] }),
  });
  return ((await res.json()) as { token: string }).token;
};

/** Resolves once a new connection is refused: the server has stopped accepting. */
const refusingConnections = async (url: string): Promise<void> => {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const refused = await fetch(`${url}/healthz`).then(
      () => false,
      () => true,
    );
    if (refused) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the server kept accepting connections after SIGTERM');
};

const withDataDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-shutdown-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
};

test('SIGTERM: accepted writes are answered in full and stored, a waiting query answers stale', async (t) => {
  await withDataDir(async (dir) => {
    let server: ServerProcess = await startServerProcess({ LECTERN_DATA_DIR: dir });
    try {
      const users = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const sub = randomUUID();
          return { sub, token: await devToken(server.url, sub), name: `Shutdown ${i}` };
        }),
      );
      // An idle keep-alive connection: it must be closed at once, not hold the exit up.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const idle = await new Promise<Socket>((resolve, reject) => {
        const req = request(`${server.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.once('end', () => resolve(req.socket!));
        });
        req.once('error', reject);
        req.end();
      });
      const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));

      const writes = users.map((u) =>
        heldRequest(
          server.url,
          'PUT',
          '/api/profile',
          { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
          JSON.stringify({ displayName: u.name }),
        ),
      );
      // A read-your-writes query for a position nobody has reached: it waits (3 s) for its model.
      const waiting = heldRequest(server.url, 'GET', '/api/profile', {
        authorization: `Bearer ${users[0]!.token}`,
        'x-consistency-token': '999999999999',
      });
      waiting.send();
      await Promise.all([...writes.map((w) => w.received), waiting.received]);

      server.child.kill('SIGTERM');
      await refusingConnections(server.url);
      // The bodies arrive after shutdown began: the requests were accepted, so they are served.
      for (const w of writes) w.send();

      const answers = await Promise.all(writes.map((w) => w.answer));
      for (const a of answers) t.is(a.status, 200, a.body);
      const stale = await waiting.answer;
      t.is(stale.status, 200, stale.body);
      t.is(stale.headers['x-consistency'], 'stale');
      await idleClosed;
      await server.exited;
      t.is(server.child.exitCode, 0, server.output());
      agent.destroy();

      // Every 2xx write is in the store: after a restart the model reaches each token and shows it.
      server = await startServerProcess({ LECTERN_DATA_DIR: dir, ...PATIENT_READS });
      for (const [i, u] of users.entries()) {
        const res = await fetch(`${server.url}/api/profile`, {
          headers: {
            authorization: `Bearer ${u.token}`,
            'x-consistency-token': String(answers[i]!.headers['x-consistency-token']),
          },
        });
        t.is(res.headers.get('x-consistency'), 'caught-up');
        t.is(((await res.json()) as { displayName: string }).displayName, u.name);
      }
    } finally {
      await server.stop();
    }
  });
});

test('SIGTERM: a request still unfinished at the deadline is cut, and the process exits', async (t) => {
  await withDataDir(async (dir) => {
    const server = await startServerProcess({ LECTERN_DATA_DIR: dir, LECTERN_SHUTDOWN_GRACE_MS: '200' });
    try {
      const token = await devToken(server.url, randomUUID());
      const never = heldRequest(
        server.url,
        'PUT',
        '/api/profile',
        { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        JSON.stringify({ displayName: 'Never sent' }),
      );
      await never.received;
      server.child.kill('SIGTERM');
      // The body never comes: the deadline cuts the connection and the process goes on stopping.
      const error = await t.throwsAsync(never.answer);
      t.regex(String(error?.message), /socket hang up|ECONNRESET/);
      await server.exited;
      t.is(server.child.exitCode, 0, server.output());
    } finally {
      await server.stop();
    }
  });
});

test('SIGTERM: open WebSocket connections are told to go away, and the process exits', async (t) => {
  await withDataDir(async (dir) => {
    const server = await startServerProcess({ LECTERN_DATA_DIR: dir });
    try {
      const c = await testClient(`${server.url.replace(/^http/, 'ws')}/ws`);
      c.send({ type: 'auth', token: await devToken(server.url, randomUUID()) });
      await c.next('welcome', (f) => f.type === 'welcome');
      server.child.kill('SIGTERM');
      // An upgraded socket is not an HTTP connection: the drain neither waits it out nor cuts it.
      t.like(await c.closed(), { code: 1001, reason: 'going_away' });
      const exited = await Promise.race([
        server.exited.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 120_000).unref()),
      ]);
      t.true(exited, `still running two minutes after SIGTERM: ${server.output().slice(-2000)}`);
      t.is(server.child.exitCode, 0, server.output());
    } finally {
      await server.stop();
    }
  });
});
