import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { startServerProcess } from '../src/process.ts';

/**
 * Recovery after kill -9 on Kafka (issue 8 line 5). The broker keeps a dead
 * member in its group until that member's session times out, and a
 * restarted process cannot join before. Meanwhile it must answer: `/healthz`
 * from the first moment, `/readyz` 503 naming the groups it joins.
 *
 * The killed process runs with a 30 s session, so that the wait is long
 * whatever the machine's speed, and the restart has plenty of time to reach
 * the join while the broker still holds the dead member.
 */
const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL (restart after kill -9)');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka (restart after kill -9)');

if (databaseUrl && brokers) {
  test('after kill -9, the restarted process answers /healthz at once and /readyz says it joins', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const dataDir = await mkdtemp(join(tmpdir(), 'lectern-restart-'));
    const env = {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: brokers,
      LECTERN_NAMESPACE: `restart-${db.name}`,
      LECTERN_DATA_DIR: dataDir,
      LECTERN_ROLES: 'relay,projections',
    };
    const first = await startServerProcess({ ...env, LECTERN_KAFKA_SESSION_TIMEOUT_MS: '30000' });
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = performance.now();

    const second = await startServerProcess(env, { until: 'alive' });
    try {
      const waits: string[] = [];
      const deadline = Date.now() + 120_000;
      for (;;) {
        const res = await fetch(`${second.url}/readyz`);
        const body = (await res.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
        if (res.status === 200) break;
        t.is(res.status, 503);
        // While it waits, the process stays alive and says so.
        t.is((await fetch(`${second.url}/healthz`)).status, 200);
        for (const c of body.checks) if (!c.ok && c.error) waits.push(c.error);
        if (Date.now() > deadline) return void t.fail(`not ready in 120 s: ${JSON.stringify(body)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      t.true(
        waits.some((w) => /^joining consumer groups .*\.projection\./.test(w)),
        `readiness named the groups it joins: ${[...new Set(waits)].join(' | ')}`,
      );
      t.log(
        `alive ${second.startupSeconds} s after spawn; ready ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
      );
    } finally {
      await second.stop();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
}
