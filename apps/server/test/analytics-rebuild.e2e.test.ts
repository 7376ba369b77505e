import { randomUUID } from 'node:crypto';
import test, { type TestFn } from 'ava';
import { ch } from '@lectern/infra/analytics/sql';
import { waitUntil } from '@lectern/infra/testing/wait';
import { runCli } from '../../../tools/src/testing/run-cli.ts';
import { jsonClient, problem } from './http-client.ts';
import { holdRebuildLock, onEveryProfile, sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * `lectern rebuild analytics` end to end: the CLI against a whole backend,
 * whose relay and analytics projector run as they do in production, on
 * chDB (embedded) and on the ClickHouse server.
 */
const flow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const server = sharedLectern(test, setup);
  const http = jsonClient(async () => (await server()).url);

  test(`${name}: rebuild analytics swaps an intact model in, names a row deleted by hand, and puts it back when accepted`, async (t) => {
    const l = await server();
    const analytics = l.analytics!;
    const adminId = randomUUID();
    const admin = (await l.signAccessToken({ sub: adminId, roles: ['admin'] })).token;
    const env = { LECTERN_URL: l.url, LECTERN_TOKEN: admin };
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    for (const body of [{ displayName: 'Grace', locale: 'en' }, { bio: 'Admiral' }]) {
      const r = await http('PUT', '/api/profile', { token: me, body });
      t.is(r.status, 200, JSON.stringify(r.body));
    }
    const stream = `profile-${userId}`;
    const events = await l.store.readStream(stream);
    const rowsOf = async () =>
      (
        await analytics.query<{ event_id: string }>(
          ch`SELECT DISTINCT event_id FROM ${analytics.table('events')} WHERE stream_id = ${stream} ORDER BY event_id`,
        )
      ).map((r) => r.event_id);
    const ids = events.map((e) => e.id).sort();
    await waitUntil('the profile changes in analytics', async () => (await rowsOf()).length === 2);

    // 1. Intact: verified and swapped, counts reported.
    const intact = await runCli(['rebuild', 'analytics'], env);
    t.is(intact.code, 0, intact.stderr);
    const result = JSON.parse(intact.stdout) as {
      projection: string;
      swapped: boolean;
      events: number;
      verification: {
        verified: boolean;
        matches: boolean;
        tables: { table: string; liveRows: number; rebuiltRows: number }[];
      };
    };
    t.like(result, {
      projection: 'analytics',
      swapped: true,
      verification: { verified: true, matches: true },
    });
    t.is(result.verification.tables[0]!.table, 'events');
    t.true(result.verification.tables[0]!.rebuiltRows >= 2);
    t.is(result.verification.tables[0]!.liveRows, result.verification.tables[0]!.rebuiltRows);
    t.deepEqual(await rowsOf(), ids);

    // 2. A row deleted by hand: refused (409), the event named, the live model kept.
    const gone = events[0]!.id;
    await analytics.exec(ch`ALTER TABLE ${analytics.table('events')} DELETE WHERE event_id = ${gone}`);
    await waitUntil('the deletion', async () => !(await rowsOf()).includes(gone));
    const refused = await runCli(['rebuild', 'analytics'], env);
    t.is(refused.code, 1, refused.stdout);
    t.regex(
      refused.stderr,
      /The rebuilt analytics differs from the live model in 1 rows; the live model is kept/,
    );
    t.true(refused.stderr.includes(JSON.stringify({ event_id: gone })), refused.stderr);
    t.false((await rowsOf()).includes(gone), 'the live model is kept');
    const conflict = await http('POST', '/api/admin/projections/analytics/rebuild', { token: admin });
    problem(t, conflict, 409, 'rebuild_differs');

    // 3. Accepted: swapped in, the row back.
    const accepted = await runCli(['rebuild', 'analytics', '--accept-differences'], env);
    t.is(accepted.code, 0, accepted.stderr);
    t.like(JSON.parse(accepted.stdout), { swapped: true, verification: { matches: false } });
    t.deepEqual(await rowsOf(), ids);

    // Each use is on record, with its admin and outcome.
    const recorded = async () =>
      (await runCli(['export', '--type', 'operations.AdminActionTaken'], env)).stdout
        .split('\n')
        .filter((line) => line !== '')
        .map(
          (line) => JSON.parse(line) as { actor: { userId: string } | null; data: Record<string, unknown> },
        )
        .filter((e) => e.actor?.userId === adminId)
        .map((e) => [e.data.action, e.data.target, e.data.outcome]);
    await waitUntil('the rebuilds on record', async () => (await recorded()).length === 4);
    t.deepEqual(await recorded(), [
      ['projection.rebuild', 'analytics', 'done'],
      ['projection.rebuild', 'analytics', 'refused'],
      ['projection.rebuild', 'analytics', 'refused'],
      ['projection.rebuild', 'analytics', 'done'],
    ]);

    // Bad input and strangers: problem+json with a stable code.
    problem(
      t,
      await http('POST', '/api/admin/projections/analytics/rebuild?acceptDifferences=maybe', {
        token: admin,
      }),
      400,
      'validation_failed',
    );
    problem(
      t,
      await http('POST', '/api/admin/projections/analytics/rebuild', { token: me }),
      403,
      'forbidden',
    );
    const unknown = await http('POST', '/api/admin/projections/nope/rebuild', { token: admin });
    problem(t, unknown, 404, 'projection_not_found');
    t.true((unknown.body!.known as string[]).includes('analytics'));
  });

  // Serial (serial tests run before the others): the lock held here would refuse the flow's rebuilds.
  // Another process's rebuild holds the lock on the server; the embedded profile's is in its process.
  if (name !== 'embedded')
    test.serial(
      `${name}: rebuild analytics while another process rebuilds it is refused: 409 projection_busy`,
      async (t) => {
        const l = await server();
        const admin = (await l.signAccessToken({ sub: randomUUID(), roles: ['admin'] })).token;
        const release = await holdRebuildLock(l.sql, 'analytics');
        try {
          problem(
            t,
            await http('POST', '/api/admin/projections/analytics/rebuild', { token: admin }),
            409,
            'projection_busy',
          );
          const refused = await runCli(['rebuild', 'analytics'], {
            LECTERN_URL: l.url,
            LECTERN_TOKEN: admin,
          });
          t.is(refused.code, 1);
          t.regex(refused.stderr, /analytics is running already \(here or in another process\); try again/);
        } finally {
          await release();
        }
      },
    );
};

onEveryProfile(test, flow, { clickhouse: true });
