import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { postgresSql } from '@lectern/infra/sql/index';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { jsonClient } from './http-client.ts';
import { PATIENT_READS } from './patient-reads.ts';
import { startServerProcess } from '../src/process.ts';
import { runCli } from '../../../tools/src/testing/run-cli.ts';

/**
 * Operations in a split topology (issue 8 line 6): `lectern rebuild`, `diff`,
 * `explain` and `audit` work whichever process they reach, while a
 * projections process elsewhere keeps consuming; and one database serves one
 * deployment (namespace).
 */

/** A server process in a data folder of its own (chDB serves one process per folder). */
const startProcess = async (env: Record<string, string>) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-split-'));
  const server = await startServerProcess({ LECTERN_DATA_DIR: dataDir, ...PATIENT_READS, ...env });
  return {
    url: server.url,
    http: jsonClient(() => server.url),
    output: () => server.output(),
    stop: async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
};

test('one database serves one deployment: another namespace is refused at start, in one sentence', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'lectern-namespace-'));
  try {
    const first = await startServerProcess({ LECTERN_DATA_DIR: dataDir, LECTERN_NAMESPACE: 'blue' });
    await first.stop();
    const error = await t.throwsAsync(
      startServerProcess({ LECTERN_DATA_DIR: dataDir, LECTERN_NAMESPACE: 'green' }),
    );
    t.regex(String(error?.message), /server exited 2/);
    t.regex(String(error?.message), /This database belongs to the deployment 'blue'/);
    t.notRegex(String(error?.message), /\n\s+at /);
    // The owner still starts.
    const again = await startServerProcess({ LECTERN_DATA_DIR: dataDir, LECTERN_NAMESPACE: 'blue' });
    await again.stop();
  } finally {
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL (split topology)');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka (split topology)');

if (databaseUrl && brokers) {
  test('api and projections apart: lectern rebuild through either, while writes go on, loses nothing', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const shared = { DATABASE_URL: db.url, KAFKA_BROKERS: brokers, LECTERN_NAMESPACE: `split-${db.name}` };
    const api = await startProcess({ ...shared, LECTERN_ROLES: 'api' });
    const worker = await startProcess({ ...shared, LECTERN_ROLES: 'relay,projections' });
    /** A failed command's message: what it printed, and the tail of both servers' logs. */
    const told = (run: { stdout: string; stderr: string }) =>
      [
        run.stderr,
        run.stdout,
        `api: ${api.output().slice(-8000)}`,
        `projections: ${worker.output().slice(-8000)}`,
      ].join('\n');
    try {
      const token = async (roles: string[], sub = randomUUID()) =>
        (await api.http('POST', '/api/dev/token', { body: { sub, roles } })).body!.token as string;
      const admin = await token(['admin']);
      const victim = randomUUID();
      const users = await Promise.all(
        Array.from({ length: 12 }, (_, i) => token(['learner'], i === 0 ? victim : undefined)),
      );
      const put = async (user: string, displayName: string) => {
        const res = await api.http('PUT', '/api/profile', { token: user, body: { displayName } });
        t.is(res.status, 200);
        return res.headers.get('x-consistency-token')!;
      };
      const before = [];
      for (const [i, u] of users.entries()) before.push({ u, position: await put(u, `before ${i}`) });
      // The model has them before it is rebuilt (the feed holds events back while an older
      // transaction of the store's database is open, so acknowledged is not yet relayed).
      for (const { u, position } of before)
        for (let tries = 0; ; tries++) {
          const res = await api.http('GET', '/api/profile', {
            token: u,
            headers: { 'x-consistency-token': position },
          });
          if (res.headers.get('x-consistency') === 'caught-up') break;
          if (tries === 30) return void t.fail(`the model never reached ${position}`);
        }

      // Writes keep coming while the model is rebuilt through the api process (which
      // consumes nothing) and then through the projections process.
      const last = new Map<string, { name: string; position: string }>();
      let writing = true;
      const writer = (async () => {
        for (let round = 0; writing || round < 2; round++)
          for (const [i, u] of users.entries()) {
            const name = `round ${round} ${i}`;
            last.set(u, { name, position: await put(u, name) });
          }
      })();
      const viaApi = await runCli(['rebuild', 'profiles', '--url', api.url, '--token', admin]);
      t.is(viaApi.code, 0, told(viaApi));
      t.like(JSON.parse(viaApi.stdout), { projection: 'profiles' });
      t.true((JSON.parse(viaApi.stdout) as { events: number }).events >= users.length);
      const viaWorker = await runCli(['rebuild', 'profiles', '--url', worker.url, '--token', admin]);
      t.is(viaWorker.code, 0, told(viaWorker));
      writing = false;
      await writer;

      // Every acknowledged write is in the rebuilt model, which the projections process still feeds.
      for (const u of users) {
        const { name, position } = last.get(u)!;
        const res = await api.http('GET', '/api/profile', {
          token: u,
          headers: { 'x-consistency-token': position },
        });
        t.is(res.headers.get('x-consistency'), 'caught-up');
        t.is(res.body?.displayName, name);
      }
      const status = await api.http('GET', '/api/admin/projections', { token: admin });
      const profiles = (status.body!.items as { name: string; rebuiltAt: string | null }[]).find(
        (i) => i.name === 'profiles',
      );
      t.truthy(profiles?.rebuiltAt);

      // A row damaged by hand: the rebuild's verification names it and keeps the live
      // model; accepting the difference swaps the rebuilt model in, and the damage is gone.
      const sql = postgresSql(db.url);
      try {
        await sql.query(
          `update profiles set doc = jsonb_set(doc, '{displayName}', '"tampered"') where id = $1`,
          [victim],
        );
      } finally {
        await sql.close();
      }
      // diff finds it too, from either process, and changes nothing.
      const diffed = await runCli(['diff', 'profiles', '--url', worker.url, '--token', admin]);
      t.is(diffed.code, 1, told(diffed));
      t.regex(diffed.stderr, /profiles differs from a replay of \d+ events/);
      t.regex(diffed.stderr, /profiles: 12 rows live, 12 rebuilt, 1 differ/);
      t.true(diffed.stderr.includes(JSON.stringify({ id: victim })), diffed.stderr);
      // ...each differing row with the events that produced it: here every change of the victim's profile.
      const stream = await api.http('GET', `/api/admin/streams/profile-${victim}/events`, { token: admin });
      const made = (stream.body!.items as { id: string; type: string; revision: number }[]).filter((e) =>
        ['profile.ProfileUpdated', 'profile.AvatarChanged'].includes(e.type),
      );
      t.true(made.length >= 2);
      t.regex(diffed.stderr, /the live row differs from what its events make/);
      for (const e of made)
        t.true(diffed.stderr.includes(`${e.type} profile-${victim}@${e.revision} `), diffed.stderr);
      t.is(diffed.stderr.split(` profile-${victim}@`).length - 1, made.length, diffed.stderr);
      // audit, from the process that consumes nothing: every event accounted for, the row named.
      const audited = await runCli(['audit', 'profiles', '--url', api.url, '--token', admin]);
      t.is(audited.code, 1, told(audited));
      t.regex(audited.stderr, /profiles: \d+ events of \d+ streams audited; 0 findings/);
      t.regex(audited.stderr, /rows: differ from a replay/);
      t.true(audited.stderr.includes(JSON.stringify({ id: victim })), audited.stderr);
      // explain: the same events for the field that was damaged, from the process that consumes nothing.
      const explained = await runCli([
        'explain',
        'profiles',
        victim,
        'doc.displayName',
        '--json',
        '--url',
        api.url,
        '--token',
        admin,
      ]);
      t.is(explained.code, 1, 'a live row that is not what its events make is a failure');
      const why = JSON.parse(explained.stdout.split('\n')[0]!) as {
        row: { matchesLive: boolean; steps: { op: string; changed: string[]; event: { id: string } }[] };
      };
      t.false(why.row.matchesLive);
      t.deepEqual(
        why.row.steps.map((s) => s.event.id),
        made.map((e) => e.id),
      );
      t.true(why.row.steps.slice(1).every((s) => s.op === 'update' && s.changed.includes('doc.displayName')));
      const refused = await runCli(['rebuild', 'profiles', '--url', api.url, '--token', admin]);
      t.is(refused.code, 1, told(refused));
      t.regex(refused.stderr, /differs from the live model in 1 rows; the live model is kept/);
      t.regex(refused.stderr, /profiles: 12 rows live, 12 rebuilt, 1 differ/);
      t.true(refused.stderr.includes(JSON.stringify({ id: victim })), refused.stderr);
      const read = async () =>
        (await api.http('GET', '/api/profile', { token: users[0]! })).body?.displayName;
      t.is(await read(), 'tampered', 'the live model is kept');
      const accepted = await runCli([
        'rebuild',
        'profiles',
        '--accept-differences',
        '--url',
        api.url,
        '--token',
        admin,
      ]);
      t.is(accepted.code, 0, told(accepted));
      t.like(JSON.parse(accepted.stdout), { swapped: true, verification: { matches: false } });
      t.is(await read(), last.get(users[0]!)!.name);
      const clean = await runCli(['diff', 'profiles', '--url', api.url, '--token', admin]);
      t.is(clean.code, 0, told(clean));
      t.regex(clean.stdout, /^profiles matches a replay of \d+ events at position \d+/);
      const sound = await runCli(['audit', 'profiles', '--url', worker.url, '--token', admin]);
      t.is(sound.code, 0, told(sound));
      t.regex(sound.stdout, /profiles: \d+ events of \d+ streams audited; 0 findings/);
      t.regex(sound.stdout, /rows: match a replay at position \d+/);
      const repaired = await runCli(['explain', 'profiles', victim, '--url', worker.url, '--token', admin]);
      t.is(repaired.code, 0, told(repaired));
      t.regex(repaired.stdout, /the live row is what its events make/);
    } finally {
      await api.stop();
      await worker.stop();
      await db.drop();
    }
  });
}
