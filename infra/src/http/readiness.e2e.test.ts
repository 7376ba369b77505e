import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createLogger } from '../runtime/logger.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { consumerReadiness, type ConsumerProgress } from '../runtime/progress.ts';
import { createHttpApp } from './app.ts';

/** A consumer as `/readyz` sees it, set by the test. */
const consumer = () => {
  const state: { running: boolean; progress: ConsumerProgress } = {
    running: true,
    progress: { lag: 0, stalledForMs: 0, stalled: false },
  };
  return { state, isRunning: () => state.running, progress: () => state.progress };
};

const serve = async (checks: Parameters<typeof createHttpApp>[0]['readiness']) => {
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: checks,
  });
  finish();
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`;
  return {
    get: async () => {
      const res = await fetch(url);
      return { status: res.status, body: (await res.json()) as { status: string; checks: object[] } };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

test('/readyz: a stalled consumer is degraded and named, a stopped one not ready', async (t) => {
  const profiles = consumer();
  const analytics = consumer();
  const http = await serve([
    { name: 'read-models', check: () => {} },
    consumerReadiness('projection:profiles', profiles),
    consumerReadiness('projection:analytics', analytics),
  ]);
  try {
    t.like(await http.get(), { status: 200, body: { status: 'ready' } });

    analytics.state.progress = { lag: 12, stalledForMs: 90_000, stalled: true };
    const degraded = await http.get();
    t.is(degraded.status, 200, 'a stalled consumer does not take the process out of service');
    t.is(degraded.body.status, 'degraded');
    t.deepEqual(degraded.body.checks[2], {
      name: 'projection:analytics',
      ok: true,
      degraded: 'projection:analytics has 12 messages waiting and has not advanced for 90 s',
    });
    t.deepEqual(degraded.body.checks[1], { name: 'projection:profiles', ok: true });

    profiles.state.running = false;
    t.like(await http.get(), { status: 503, body: { status: 'not_ready' } });
  } finally {
    await http.close();
  }
});
