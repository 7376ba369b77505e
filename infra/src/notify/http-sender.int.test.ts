import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { SendError, type SmsMessage } from '../ports/channel-sender.ts';
import { startProviderSim } from '../testing/provider-sim.ts';
import { failoverSender } from './failover.ts';
import { httpFailure, httpPushSender, httpSmsSender } from './http-sender.ts';

/**
 * The HTTP contract of SMS and push providers, against the provider double
 * running as a process of its own and told what to answer.
 */
const sms = (n: number): SmsMessage => ({
  messageId: `n-${n}-sms`,
  tag: 'phone-code',
  to: '+4915112345678',
  text: `Code ${n}`,
});

test('a message is posted with its idempotency key and token, and the provider id comes back', async (t) => {
  const sim = await startProviderSim();
  const dir = await mkdtemp(join(tmpdir(), 'lectern-provider-'));
  try {
    await writeFile(join(dir, 'token'), 'sk-test-not-a-real-token\n', { mode: 0o600 });
    const sender = await httpSmsSender({ name: 'sms-a', url: sim.url, tokenFile: join(dir, 'token') });
    const sent = await sender.send(sms(1));
    t.deepEqual(sent, { provider: 'sms-a', providerMessageId: 'sim-1' });
    const [request] = await sim.requests();
    t.deepEqual(request?.body, { to: '+4915112345678', text: 'Code 1' });
    t.like(request?.headers, { 'idempotency-key': 'n-1-sms', authorization: 'present' });
    // The same message again is the same delivery to the provider.
    t.is((await sender.send(sms(1))).providerMessageId, 'sim-1');

    const push = await httpPushSender({ name: 'push-a', url: sim.url });
    await push.send({
      messageId: 'n-2-push',
      tag: 'announcement',
      token: 'device-1',
      title: 'Hi',
      body: 'New course',
      data: { c: '1' },
    });
    t.deepEqual((await sim.requests()).at(-1)?.body, {
      token: 'device-1',
      title: 'Hi',
      body: 'New course',
      data: { c: '1' },
    });
    t.is((await sim.requests()).at(-1)?.headers.authorization, 'absent');
  } finally {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('5xx and 429 are transient (with Retry-After); another 4xx is permanent; nobody listening is transient', async (t) => {
  const sim = await startProviderSim();
  try {
    const sender = await httpSmsSender({ name: 'sms-a', url: sim.url });
    await sim.script([503, { status: 429, retryAfter: '2' }, 400]);
    const unavailable = await t.throwsAsync(sender.send(sms(1)), { instanceOf: SendError });
    t.like(unavailable, { failure: 'transient', code: '503', provider: 'sms-a', retryAfterMs: null });
    const limited = await t.throwsAsync(sender.send(sms(2)), { instanceOf: SendError });
    t.like(limited, { failure: 'transient', code: '429', retryAfterMs: 2000 });
    const refused = await t.throwsAsync(sender.send(sms(3)), { instanceOf: SendError });
    t.like(refused, { failure: 'permanent', code: '400' });
    t.deepEqual(
      (await sim.requests()).map((r) => r.status),
      [503, 429, 400],
    );
  } finally {
    await sim.stop();
  }
  const gone = await httpSmsSender({ name: 'sms-gone', url: sim.url, timeoutMs: 2000 });
  const error = await t.throwsAsync(gone.send(sms(4)), { instanceOf: SendError });
  t.like(error, { failure: 'transient', provider: 'sms-gone' });
});

test('a connection dropped unanswered is tried once more at once, with the same key; twice is left to the worker', async (t) => {
  const sim = await startProviderSim();
  try {
    const sender = await httpSmsSender({ name: 'sms-a', url: sim.url });
    // A reset (the provider closed a pooled connection with our request unread) and a plain close.
    await sim.script(['reset', 200, 'close', 200]);
    t.deepEqual(await sender.send(sms(1)), { provider: 'sms-a', providerMessageId: 'sim-1' });
    t.deepEqual(await sender.send(sms(2)), { provider: 'sms-a', providerMessageId: 'sim-2' });
    // Twice in a row fails the attempt, transient: no loop inside the sender.
    await sim.script(['reset', 'reset', 200]);
    const error = await t.throwsAsync(sender.send(sms(3)), { instanceOf: SendError });
    t.like(error, { failure: 'transient', provider: 'sms-a', code: 'ECONNRESET' });
    t.deepEqual(
      (await sim.requests()).map((r) => [r.status, r.headers['idempotency-key']]),
      [
        [0, 'n-1-sms'],
        [200, 'n-1-sms'],
        [0, 'n-2-sms'],
        [200, 'n-2-sms'],
        [0, 'n-3-sms'],
        [0, 'n-3-sms'],
      ],
    );
    await sender.close();
  } finally {
    await sim.stop();
  }
});

test('a failing primary provider fails over to the secondary; a refusal does not', async (t) => {
  const [a, b] = [await startProviderSim(), await startProviderSim()];
  try {
    const both = failoverSender([
      await httpSmsSender({ name: 'sms-a', url: a.url }),
      await httpSmsSender({ name: 'sms-b', url: b.url }),
    ]);
    await a.script([500, 422]);
    t.like(await both.send(sms(1)), { provider: 'sms-b' });
    const refused = await t.throwsAsync(both.send(sms(2)), { instanceOf: SendError });
    t.like(refused, { failure: 'permanent', provider: 'sms-a' });
    t.is((await a.requests()).length, 2);
    t.deepEqual(
      (await b.requests()).map((r) => r.headers['idempotency-key']),
      ['n-1-sms'],
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('many messages at once through a few pooled connections: each delivered once, with its own key', async (t) => {
  const sim = await startProviderSim();
  try {
    const sender = await httpSmsSender({ name: 'sms-a', url: sim.url, connections: 4 });
    const sent = await Promise.all(Array.from({ length: 200 }, (_, i) => sender.send(sms(i))));
    t.is(new Set(sent.map((s) => s.providerMessageId)).size, 200);
    const keys = (await sim.requests()).map((r) => r.headers['idempotency-key']);
    t.is(keys.length, 200);
    t.is(new Set(keys).size, 200);
    await sender.close();
  } finally {
    await sim.stop();
  }
});

test('HTTP statuses classify: 408, 429 and 5xx transient; other 4xx (and a redirect) permanent', (t) => {
  t.deepEqual([307, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503].map(httpFailure), [
    'permanent',
    'permanent',
    'permanent',
    'permanent',
    'transient',
    'permanent',
    'permanent',
    'transient',
    'transient',
    'transient',
    'transient',
  ]);
});
