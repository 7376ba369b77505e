import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext, type TestFn } from 'ava';
import { feedShows, waitUntil } from '@lectern/infra/testing/wait';
import { projectionStatusList } from '@lectern/schemas/operations/api';
import { runCli } from '../../../tools/src/testing/run-cli.ts';
import { jsonClient, problem } from './http-client.ts';
import { holdRebuildLock, onEveryProfile, sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * `lectern history`, `related` and `as-of` end to end: the CLI spawned as
 * `./dev lectern` runs it, against a whole backend, over the admin routes.
 */

type Line = Readonly<{
  id: string;
  streamId: string;
  revision: number;
  position: number;
  occurredAt: string;
  type: string;
  schemaVersion: number;
  correlationId: string;
  causationId: string | null;
  requestId: string | null;
  actor: { userId: string | null; roles: string[] } | null;
  data: Record<string, unknown>;
}>;
const jsonLines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);

const cli = fileURLToPath(new URL('../../../tools/src/cli.ts', import.meta.url));

const flow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const server = sharedLectern(test, setup);
  const http = jsonClient(async () => (await server()).url);
  const tokens = async () => {
    const l = await server();
    const adminId = randomUUID();
    const admin = (await l.signAccessToken({ sub: adminId, roles: ['admin'] })).token;
    return { l, admin, adminId, env: { LECTERN_URL: l.url, LECTERN_TOKEN: admin } };
  };
  /** A learner's profile writes, each checked to succeed; each answers its consistency token. */
  const profileWriter = (t: ExecutionContext, token: string) => async (body: object) => {
    const r = await http('PUT', '/api/profile', { token, body });
    t.is(r.status, 200, JSON.stringify(r.body));
    return r.headers.get('x-consistency-token')!;
  };

  test(`${name}: a profile created and changed twice: history, --json, related, as-of by revision and by time`, async (t) => {
    const { l, env } = await tokens();
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    const stream = `profile-${userId}`;
    const put = async (body: object) => {
      const r = await http('PUT', '/api/profile', { token: me, body });
      t.is(r.status, 200, JSON.stringify(r.body));
      return r.headers.get('x-correlation-id')!;
    };
    await put({ displayName: 'Ada', locale: 'fr' });
    const secondRequest = await put({ displayName: 'Ada Lovelace' });
    const stored = await l.store.readStream(stream);
    // The third change happens strictly after the second, so a time between them exists.
    await waitUntil(
      'a millisecond after the second change',
      () => Date.now() > Date.parse(stored[1]!.occurredAt),
    );
    await put({ bio: 'Analyst' });
    const events = await l.store.readStream(stream);
    t.is(events.length, 3);

    // history: the table names every event by id, with who and why.
    const table = await runCli(['history', stream], env);
    t.is(table.code, 0, table.stderr);
    const rows = table.stdout.trim().split('\n');
    t.is(rows.length, 4, 'a header and one line per event');
    events.forEach((e, i) => {
      t.true(rows[i + 1]!.includes(`id=${e.id}`), rows[i + 1]);
      t.true(rows[i + 1]!.includes(`correlation=${e.metadata.correlationId}`));
      t.true(rows[i + 1]!.includes(`actor=${userId}(learner)`));
      t.true(rows[i + 1]!.includes('profile.ProfileUpdated v1'));
    });

    // --json: one record per line, each parsing, with the whole envelope.
    const json = await runCli(['history', stream, '--json', '--from-revision', '1'], env);
    t.is(json.code, 0, json.stderr);
    const lines = jsonLines(json.stdout);
    t.deepEqual(
      lines.map((e) => [e.id, e.revision, e.position, e.occurredAt, e.correlationId, e.requestId]),
      events
        .slice(1)
        .map((e) => [
          e.id,
          e.revision,
          e.position,
          e.occurredAt,
          e.metadata.correlationId,
          e.metadata.requestId,
        ]),
    );
    t.deepEqual(lines[0]!.data.changes, [{ field: 'displayName', from: 'Ada', to: 'Ada Lovelace' }]);

    // related: the second request's events, and no other.
    const rel = await runCli(['related', secondRequest, '--json'], env);
    t.is(rel.code, 0, rel.stderr);
    const relatedIds = jsonLines(rel.stdout).map((e) => e.id);
    t.deepEqual(relatedIds, [events[1]!.id]);

    // as-of: the first state by revision; by a time between the second and third changes, the second.
    const first = await runCli(['as-of', stream, '--revision', '0', '--json'], env);
    t.is(first.code, 0, first.stderr);
    const firstState = JSON.parse(first.stdout) as { revision: number; position: number; state: any };
    t.is(firstState.revision, 0);
    t.is(firstState.position, events[0]!.position);
    t.like(firstState.state, {
      status: 'active',
      userId,
      fields: { displayName: 'Ada', locale: 'fr', bio: null },
    });

    const between = await runCli(['as-of', stream, '--time', events[1]!.occurredAt], env);
    t.is(between.code, 0, between.stderr);
    t.regex(between.stdout, new RegExp(`at revision 1, position ${events[1]!.position}`));
    t.regex(between.stdout, /"displayName": "Ada Lovelace"/);
    t.notRegex(between.stdout, /Analyst/);

    const byPosition = await runCli(
      ['as-of', stream, '--position', String(events[2]!.position), '--json'],
      env,
    );
    t.like(JSON.parse(byPosition.stdout), { revision: 2, state: { fields: { bio: 'Analyst' } } });
  });

  test(`${name}: history --follow prints new events as they come and stops cleanly on SIGINT`, async (t) => {
    const { l, env } = await tokens();
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    t.is((await http('PUT', '/api/profile', { token: me, body: { displayName: 'One' } })).status, 200);
    const child = spawn(process.execPath, [cli, 'history', `profile-${userId}`, '--json', '--follow'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await waitUntil('the first event', () => stdout.split('\n').length > 1, 120_000);
      t.is((await http('PUT', '/api/profile', { token: me, body: { displayName: 'Two' } })).status, 200);
      await waitUntil('the followed event', () => stdout.trim().split('\n').length === 2, 120_000);
      child.kill('SIGINT');
      t.is(await exited, 0, stderr);
      t.deepEqual(
        jsonLines(stdout).map((e) => e.revision),
        [0, 1],
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test(`${name}: an account's history and state show no password, token or code hash`, async (t) => {
    const { l, env } = await tokens();
    const email = `audit-${randomUUID()}@example.org`;
    const reg = await http('POST', '/api/identity/register', {
      body: { email, password: 'correct horse battery staple' },
    });
    t.is(reg.status, 201, JSON.stringify(reg.body));
    const stream = `user-${reg.body!.userId as string}`;
    const [registered, requested] = await l.store.readStream(stream);
    const passwordHash = (registered!.data as { passwordHash: string }).passwordHash;
    const tokenHash = (requested!.data as { tokenHash: string }).tokenHash;

    const history = await runCli(['history', stream, '--json'], env);
    t.is(history.code, 0, history.stderr);
    t.like(jsonLines(history.stdout)[0]!.data, { email, passwordHash: '[redacted]' });
    const state = await runCli(['as-of', stream, '--revision', '1', '--json'], env);
    t.is(state.code, 0, state.stderr);
    t.like(JSON.parse(state.stdout), { state: { status: 'pending', email, passwordHash: '[redacted]' } });
    const related = await runCli(['related', registered!.metadata.correlationId, '--json'], env);
    t.is(related.code, 0, related.stderr);
    for (const out of [history.stdout, state.stdout, related.stdout]) {
      t.false(out.includes(passwordHash), 'no password hash');
      t.false(out.includes(tokenHash), 'no token hash');
    }
  });

  test(`${name}: the routes refuse a learner, and bad input is problem+json with a stable code`, async (t) => {
    const { l, admin } = await tokens();
    const learner = (await l.signAccessToken({ sub: randomUUID(), roles: ['learner'] })).token;
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    t.is((await http('PUT', '/api/profile', { token: me, body: { displayName: 'X' } })).status, 200);
    const stream = `profile-${userId}`;
    const [event] = await l.store.readStream(stream);
    const as = (token: string) => (path: string) => http('GET', path, { token });
    const adminGet = as(admin);

    for (const path of [
      `/api/admin/streams/${stream}/events`,
      `/api/admin/streams/${stream}/state?revision=0`,
      `/api/admin/correlations/${event!.metadata.correlationId}/events`,
    ]) {
      problem(t, await as(learner)(path), 403);
      t.is((await adminGet(path)).status, 200, path);
    }

    const state = `/api/admin/streams/${stream}/state`;
    for (const query of [
      '',
      '?revision=0&time=2026-01-01T00:00:00Z',
      '?revision=-1',
      '?revision=abc',
      '?position=1.5',
      '?time=yesterday',
      '?time=2026-13-45T00:00:00Z',
    ])
      problem(t, await adminGet(`${state}${query}`), 400, 'validation_failed');
    problem(
      t,
      await adminGet(`/api/admin/streams/${stream}/events?fromRevision=-2`),
      400,
      'validation_failed',
    );
    problem(t, await adminGet(`/api/admin/streams/${stream}/events?limit=0`), 400, 'validation_failed');

    const unknown = await adminGet(`/api/admin/streams/nosuch-${randomUUID()}/events`);
    problem(t, unknown, 404, 'stream_category_unknown');
    t.true((unknown.body!.known as string[]).includes('profile'));
    problem(t, await adminGet(`/api/admin/streams/profile-${randomUUID()}/events`), 404, 'stream_not_found');
    problem(
      t,
      await adminGet(`/api/admin/streams/profile-${randomUUID()}/state?revision=0`),
      404,
      'stream_not_found',
    );
    problem(
      t,
      await adminGet(`/api/admin/correlations/${randomUUID()}/events`),
      404,
      'correlation_not_found',
    );
    problem(
      t,
      await adminGet(`/api/admin/streams/chatmessages-${randomUUID()}/state?revision=0`),
      409,
      'stream_has_no_state',
    );

    // A type the profile decider does not know (a newer version wrote it) is said, not skipped.
    const odd = `profile-${randomUUID()}`;
    await l.store.append(odd, [{ ...event!, id: randomUUID(), type: 'profile.FromTheFuture' }], {
      expectedRevision: 'no_stream',
    });
    const refused = await adminGet(`/api/admin/streams/${odd}/state?revision=0`);
    problem(t, refused, 409, 'unknown_stream_event');
    t.regex(refused.body!.title as string, /profile\.FromTheFuture/);

    // The CLI says what to do.
    const env = { LECTERN_URL: l.url, LECTERN_TOKEN: admin };
    const badTime = await runCli(['as-of', stream, '--time', 'yesterday'], env);
    t.is(badTime.code, 2);
    t.regex(badTime.stderr, /bad time 'yesterday': give an ISO 8601 instant/);
    const noCategory = await runCli(['history', 'nosuch-1'], env);
    t.is(noCategory.code, 1);
    t.regex(noCategory.stderr, /a stream id is <category>-<id>, the categories are .*profile/);
    const empty = await runCli(['history', `profile-${randomUUID()}`], env);
    t.is(empty.code, 1);
    t.regex(empty.stderr, /has no events: check the id/);
    const asLearner = await runCli(['history', stream], { LECTERN_URL: l.url, LECTERN_TOKEN: learner });
    t.is(asLearner.code, 1);
    t.regex(asLearner.stderr, /not an admin/);
    const help = await runCli(['as-of', '--help']);
    t.is(help.code, 0);
    t.regex(help.stdout, /usage: lectern as-of <stream> \(--time T \| --revision N \| --position P\)/);
  });

  test(`${name}: export streams events as JSON lines, by stream, type, position range and time, redacted`, async (t) => {
    const { l, env } = await tokens();
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    const stream = `profile-${userId}`;
    for (const body of [{ displayName: 'Grace' }, { displayName: 'Grace Hopper' }, { bio: 'Admiral' }])
      t.is((await http('PUT', '/api/profile', { token: me, body })).status, 200);
    const events = await l.store.readStream(stream);
    t.is(events.length, 3);

    const all = await runCli(['export', '--stream', stream], env);
    t.is(all.code, 0, all.stderr);
    t.is(all.stderr, '', 'no progress when stderr is no terminal');
    t.deepEqual(
      jsonLines(all.stdout).map((e) => [e.id, e.revision, e.position, e.type, e.correlationId]),
      events.map((e) => [e.id, e.revision, e.position, e.type, e.metadata.correlationId]),
    );
    const second = events[1]!;
    // Over the whole store, the feed holds an event once no older transaction of its database is open.
    const exported = async (args: string[], holds: (ids: string[]) => boolean) => {
      let run = await runCli(args, env);
      await waitUntil(`lectern ${args.join(' ')} to hold the events`, async () => {
        run = await runCli(args, env);
        return run.code !== 0 || holds(jsonLines(run.stdout).map((e) => e.id));
      });
      return run;
    };
    const one = await exported(
      ['export', '--from', String(second.position), '--to', String(second.position)],
      (ids) => ids.length > 0,
    );
    t.is(one.code, 0, one.stderr);
    t.deepEqual(
      jsonLines(one.stdout).map((e) => e.id),
      [second.id],
      'a position range over the whole store',
    );
    const later = await runCli(['export', '--stream', stream, '--since', events[2]!.occurredAt], env);
    t.deepEqual(
      jsonLines(later.stdout).map((e) => e.id),
      events.filter((e) => e.occurredAt >= events[2]!.occurredAt).map((e) => e.id),
    );
    const created = await runCli(['export', '--stream', stream, '--type', events[0]!.type], env);
    t.deepEqual(
      jsonLines(created.stdout).map((e) => e.id),
      events.filter((e) => e.type === events[0]!.type).map((e) => e.id),
    );

    // The whole store holds these three, in the store's own feed order, and no secret.
    const reg = await http('POST', '/api/identity/register', {
      body: { email: `export-${randomUUID()}@example.org`, password: 'correct horse battery staple' },
    });
    t.is(reg.status, 201);
    const [registered] = await l.store.readStream(`user-${reg.body!.userId as string}`);
    const whole = await exported(['export'], (ids) => ids.includes(registered!.id));
    t.is(whole.code, 0, whole.stderr);
    const lines = jsonLines(whole.stdout);
    const ids = lines.map((e) => e.id);
    t.deepEqual(
      events.map((e) => ids.indexOf(e.id)).sort((a, b) => a - b),
      events.map((e) => ids.indexOf(e.id)),
      'in feed order',
    );
    t.true(events.every((e) => ids.includes(e.id)));
    t.like(lines.find((e) => e.id === registered!.id)?.data, { passwordHash: '[redacted]' });
    t.false(whole.stdout.includes((registered!.data as { passwordHash: string }).passwordHash));

    const backwards = await runCli(['export', '--from', '10', '--to', '2'], env);
    t.is(backwards.code, 1);
    t.regex(backwards.stderr, /to is before from/);
    const notANumber = await runCli(['export', '--from', 'start'], env);
    t.is(notANumber.code, 2);
    t.regex(notANumber.stderr, /--from takes a global position/);
  });

  test(`${name}: republish sends a range again, and no read model changes; a dry run counts and sends nothing`, async (t) => {
    const { l, admin, adminId, env } = await tokens();
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    for (const body of [{ displayName: 'Edsger' }, { displayName: 'Edsger Dijkstra', bio: 'Goto' }])
      t.is((await http('PUT', '/api/profile', { token: me, body })).status, 200);
    const events = await l.store.readStream(`profile-${userId}`);
    const [from, to] = [events[0]!.position, events[1]!.position];
    // What the range holds of profile events: these two, and any other test's written between them,
    // once the feed has them (it holds back what an older open transaction might still precede).
    let inRange: string[] = [];
    await waitUntil('the feed to hold both changes', async () => {
      inRange = [];
      for (let cursor = ''; ;) {
        const page = await l.store.readAll(cursor, 1000);
        if (page.length === 0) break;
        for (const e of page)
          if (e.position >= from && e.position <= to && e.type.startsWith('profile.')) inRange.push(e.id);
        cursor = page[page.length - 1]!.cursor;
      }
      return events.every((e) => inRange.includes(e.id));
    });
    const read = () => http('GET', '/api/profile', { token: me });
    let before = await read();
    await waitUntil('the profile to show both changes', async () => {
      before = await read();
      return before.status === 200 && before.body?.bio === 'Goto';
    });
    t.like(before.body, { displayName: 'Edsger Dijkstra', bio: 'Goto' });

    const args = ['republish', '--from', String(from), '--to', String(to), '--context', 'profile'];
    const dry = await runCli([...args, '--dry-run', '--json'], env);
    t.is(dry.code, 0, dry.stderr);
    t.like(JSON.parse(dry.stdout), { from, to, context: 'profile', dryRun: true, events: inRange.length });
    const sent = await runCli(args, env);
    t.is(sent.code, 0, sent.stderr);
    t.regex(
      sent.stdout,
      new RegExp(
        `^sent ${inRange.length} events at positions ${from} to ${to} \\(profile ${inRange.length}\\)`,
      ),
    );

    // The copies reach the profile projection, which drops them by event id.
    await waitUntil('the profile projections to have read the copies', async () => {
      const r = await http('GET', '/api/admin/projections', { token: admin });
      const items = r.body!.items as { name: string; lag: number | null }[];
      return ['profiles', 'profile_history'].every((n) => items.find((i) => i.name === n)?.lag === 0);
    });
    const after = await read();
    t.deepEqual(after.body, before.body);
    t.is(after.headers.get('etag'), before.headers.get('etag'));
    // The history model lists each change once: a copy applied again would list it twice.
    const history = await http('GET', '/api/profile/history', { token: me });
    t.is(history.status, 200);
    const changes = (history.body!.items as { field: string; eventId: string }[]).map(
      (c) => `${c.eventId}/${c.field}`,
    );
    t.deepEqual(changes.length, 3, 'displayName twice, bio once');
    t.is(new Set(changes).size, changes.length, JSON.stringify(history.body));

    // The republish is itself on record, with its admin; the dry run is not.
    let recorded: Line[] = [];
    await waitUntil('the republish to be on record', async () => {
      const out = await runCli(['export', '--type', 'operations.AdminActionTaken'], env);
      recorded = jsonLines(out.stdout).filter((e) => e.actor?.userId === adminId);
      return recorded.length > 0;
    });
    t.is(recorded.length, 1, 'one record: the dry run changed nothing');
    t.like(recorded[0]!, { actor: { userId: adminId, roles: ['admin'] } });
    t.like(recorded[0]!.data, {
      action: 'events.republish',
      target: `${from}..${to}`,
      parameters: { from, to, context: 'profile' },
      outcome: 'done',
      result: { events: inRange.length },
    });
    const onRecord = await runCli(['history', recorded[0]!.streamId, '--json'], env);
    t.is(onRecord.code, 0, onRecord.stderr);
    t.is(jsonLines(onRecord.stdout)[0]!.id, recorded[0]!.id);

    const learner = (await l.signAccessToken({ sub: randomUUID(), roles: ['learner'] })).token;
    problem(
      t,
      await http('POST', '/api/admin/events/republish', { token: learner, body: { from, to } }),
      403,
    );
    problem(
      t,
      await http('POST', '/api/admin/events/republish', { token: admin, body: { from: 5, to: 2 } }),
      400,
      'range_reversed',
    );
    problem(
      t,
      await http('GET', '/api/admin/events/export?since=0000-00-00T00:00:00Z', { token: admin }),
      400,
      'validation_failed',
    );
    for (const body of [{ from }, { from, to, context: 'Profile!' }, { from, to, extra: 1 }])
      problem(
        t,
        await http('POST', '/api/admin/events/republish', { token: admin, body }),
        400,
        'validation_failed',
      );
    const noRange = await runCli(['republish', '--from', '1'], env);
    t.is(noRange.code, 2);
    t.regex(noRange.stderr, /republish needs --from and --to/);
  });

  // Serial: diff pauses the profiles consumer of the shared server while it compares (as a rebuild
  // does), which the other tests here, waiting on that model, must not be timed against.
  test.serial(
    `${name}: a row damaged by hand: diff names it with the events that made it; explain lists a field's events`,
    async (t) => {
      const { l, env } = await tokens();
      const userId = randomUUID();
      const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
      const put = profileWriter(t, me);
      await put({ displayName: 'Grace', locale: 'en' });
      await put({ bio: 'Admiral' });
      const last = await put({ displayName: 'Grace Hopper' });
      const read = await http('GET', '/api/profile', { token: me, headers: { 'x-consistency-token': last } });
      t.is(read.headers.get('x-consistency'), 'caught-up');
      const events = await l.store.readStream(`profile-${userId}`);
      t.is(events.length, 3);

      // explain: the change that made the row and the one that renamed it, not the bio's.
      const field = await runCli(['explain', 'profiles', userId, 'doc.displayName', '--json'], env);
      t.is(field.code, 0, field.stderr);
      const explained = JSON.parse(field.stdout) as {
        field: string;
        row: { matchesLive: boolean; steps: { op: string; changed: string[]; event: { id: string } }[] };
      };
      t.like(explained, { field: 'doc.displayName', row: { matchesLive: true } });
      t.deepEqual(
        explained.row.steps.map((s) => [s.op, s.event.id]),
        [
          ['insert', events[0]!.id],
          ['update', events[2]!.id],
        ],
      );
      const whole = await runCli(['explain', 'profiles', userId], env);
      t.is(whole.code, 0, whole.stderr);
      t.regex(whole.stdout, /the live row is what its events make/);
      t.is(whole.stdout.split(`profile.ProfileUpdated profile-${userId}@`).length - 1, 3, whole.stdout);

      // Damaged by hand: diff names the row and every event that made it; explain says the live row is wrong.
      const [saved] = await l.sql.query<{ doc: unknown }>(`select doc from profiles where id = $1`, [userId]);
      await l.sql.query(
        `update profiles set doc = jsonb_set(doc, '{displayName}', '"tampered"') where id = $1`,
        [userId],
      );
      try {
        const diffed = await runCli(['diff', 'profiles'], env);
        t.is(diffed.code, 1, diffed.stdout);
        t.true(diffed.stderr.includes(JSON.stringify({ id: userId })), diffed.stderr);
        t.regex(diffed.stderr, /the live row differs from what its events make/);
        for (const e of events)
          t.true(
            diffed.stderr.includes(`profile.ProfileUpdated profile-${userId}@${e.revision} `),
            diffed.stderr,
          );
        const damaged = await runCli(['explain', 'profiles', userId, 'doc.displayName'], env);
        t.is(damaged.code, 1);
        t.regex(damaged.stderr, /the live row differs from what its events make/);
        // audit: every event was applied once, but the rows are not what they make.
        const audited = await runCli(['audit', 'profiles'], env);
        t.is(audited.code, 1, audited.stdout);
        t.regex(audited.stderr, /profiles: \d+ events of \d+ streams audited; 0 findings/);
        t.regex(audited.stderr, /rows: differ from a replay/);
        t.true(audited.stderr.includes(JSON.stringify({ id: userId })), audited.stderr);
      } finally {
        await l.sql.query(`update profiles set doc = $2 where id = $1`, [userId, JSON.stringify(saved!.doc)]);
      }

      // Bad input: problem+json with a stable code, nothing replayed.
      const admin = env.LECTERN_TOKEN;
      const explain = (query: string) =>
        http('GET', `/api/admin/projections/profiles/explain?${query}`, { token: admin });
      problem(t, await explain(`key=${userId}&field=colour`), 400, 'unknown_field');
      problem(t, await explain(`key=${userId}&table=nope`), 400, 'unknown_table');
      problem(t, await explain(`key=${encodeURIComponent('{"x":"1"}')}`), 400, 'key_columns');
      problem(t, await explain(`key=${encodeURIComponent('{not json')}`), 400, 'key_columns');
      problem(t, await explain('field=doc'), 400, 'validation_failed');
      problem(
        t,
        await http('GET', '/api/admin/projections/nope/explain?key=1', { token: admin }),
        404,
        'projection_not_found',
      );
    },
  );

  // Serial: diff pauses the profiles consumer of the shared server while it compares, and this one
  // holds the model's checkpoint of one stream back for a while.
  test.serial(
    `${name}: diff --at P: a row changed after P is no difference, one damaged by hand still is; progress shows`,
    async (t) => {
      const { l, env } = await tokens();
      const admin = env.LECTERN_TOKEN;
      const writer = async (id: string) =>
        profileWriter(t, (await l.signAccessToken({ sub: id, roles: ['learner'] })).token);
      const [damagedId, movingId] = [randomUUID(), randomUUID()];
      const [damaged, moving] = [await writer(damagedId), await writer(movingId)];
      const damagedAt = await damaged({ displayName: 'Dorothy', locale: 'en' });
      await moving({ displayName: 'Mary', locale: 'en' });
      const at = Number(await moving({ bio: 'Mathematician' }));
      // After P: the moving learner's row changes again.
      const last = await moving({ displayName: 'Mary Jackson' });
      // Both rows are in the model (through Kafka, each stream's partition goes at its own pace).
      for (const [id, token] of [
        [movingId, last],
        [damagedId, damagedAt],
      ] as const) {
        const me = (await l.signAccessToken({ sub: id, roles: ['learner'] })).token;
        const read = await http('GET', '/api/profile', {
          token: me,
          headers: { 'x-consistency-token': token },
        });
        t.is(read.headers.get('x-consistency'), 'caught-up');
      }
      const damagedEvents = await l.store.readStream(`profile-${damagedId}`);
      t.true(damagedEvents.every((e) => e.position <= at));

      const [saved] = await l.sql.query<{ doc: unknown }>(`select doc from profiles where id = $1`, [
        damagedId,
      ]);
      await l.sql.query(
        `update profiles set doc = jsonb_set(doc, '{displayName}', '"tampered"') where id = $1`,
        [damagedId],
      );
      try {
        type Diff = {
          events: number;
          verification: {
            at: number;
            matches: boolean;
            tables: { table: string; differingKeys: { id: string }[]; movedOnRows: number }[];
          };
          rows: { key: { id: string }; steps: { event: { position: number } }[] }[];
        };
        const json = await runCli(['diff', 'profiles', '--at', String(at), '--json'], env);
        t.is(json.code, 1, json.stderr);
        const diff = JSON.parse(json.stdout) as Diff;
        t.like(diff.verification, { at, matches: false });
        const [profiles] = diff.verification.tables;
        const named = profiles!.differingKeys.map((k) => k.id);
        t.true(named.includes(damagedId), JSON.stringify(profiles));
        t.false(named.includes(movingId), 'changed after P: moved on, not a difference');
        t.true(profiles!.movedOnRows >= 1);
        const row = diff.rows.find((r) => r.key.id === damagedId)!;
        t.deepEqual(
          row.steps.map((s) => s.event.position),
          damagedEvents.map((e) => e.position),
          'the events up to P that made the row',
        );
        const human = await runCli(['diff', 'profiles', '--at', String(at)], env);
        t.is(human.code, 1);
        t.true(human.stderr.includes(`compared as of position ${at}`), human.stderr);
        t.true(human.stderr.includes(JSON.stringify({ id: damagedId })), human.stderr);
        t.regex(human.stderr, /moved on since position \d+/);
        t.is(human.stderr.indexOf('\r'), -1, 'no progress when stderr is not a terminal');
      } finally {
        await l.sql.query(`update profiles set doc = $2 where id = $1`, [
          damagedId,
          JSON.stringify(saved!.doc),
        ]);
      }

      // Bad positions: problem+json with a stable code; the CLI checks the number itself.
      const diffAt = (value: string) =>
        http('GET', `/api/admin/projections/profiles/diff?at=${value}`, { token: admin });
      for (const value of ['abc', '-1', '1.5', '']) problem(t, await diffAt(value), 400, 'validation_failed');
      const head = (await l.store.headPosition())!;
      const beyond = await diffAt(String(head + 1_000_000));
      problem(t, beyond, 400, 'position_beyond_head');
      t.true((beyond.body as { headPosition: number }).headPosition >= head);
      const malformed = await runCli(['diff', 'profiles', '--at', 'yesterday'], env);
      t.is(malformed.code, 2);
      t.regex(malformed.stderr, /--at takes a global position/);
      const tooFar = await runCli(['diff', 'profiles', '--at', String(head + 1_000_000)], env);
      t.is(tooFar.code, 1);
      t.regex(tooFar.stderr, /position_beyond_head/);

      // Progress: with one stream's checkpoint held back, the diff waits for the live model to reach the
      // replay, and the status shows it meanwhile; once it is done, nothing.
      type Status = { items: { name: string; work: Record<string, unknown> | null }[] };
      const workOf = async () => {
        const r = await http('GET', '/api/admin/projections', { token: admin });
        t.is(r.status, 200);
        const v = projectionStatusList(r.body);
        t.deepEqual(v.ok ? [] : v.issues, []);
        return (r.body as Status).items.find((i) => i.name === 'profiles')!.work;
      };
      t.is(await workOf(), null, 'idle');
      const stream = `profile-${movingId}`;
      await l.sql.query(`update profiles_checkpoints set revision = revision - 1 where stream_id = $1`, [
        stream,
      ]);
      let restored = false;
      const restore = async () => {
        if (restored) return;
        restored = true;
        await l.sql.query(`update profiles_checkpoints set revision = revision + 1 where stream_id = $1`, [
          stream,
        ]);
      };
      try {
        const diffing = http('GET', '/api/admin/projections/profiles/diff', { token: admin });
        let work: Record<string, unknown> | null = null;
        await waitUntil(
          'the diff to wait for the live model',
          async () => (work = await workOf())?.phase === 'agree',
          40_000,
          100,
        );
        t.like(work, { action: 'diff', phase: 'agree' });
        const w = work as unknown as { eventsRead: number; position: number; headPosition: number };
        t.true(w.eventsRead > 0);
        t.true(w.position >= at && w.position <= w.headPosition, JSON.stringify(work));
        await restore();
        const done = await diffing;
        t.is(done.status, 200, JSON.stringify(done.body));
        t.like(done.body, { verification: { matches: true } });
        t.is(await workOf(), null, 'done');
      } finally {
        await restore();
      }
    },
  );

  // Serial: the repair locks the profiles checkpoints, which the tests waiting on that model must not be timed against.
  // Another process's rebuild is held by its lock on the server; the embedded profile's lock is in
  // its process (projection-runner.int shows both).
  if (name !== 'embedded')
    test.serial(
      `${name}: a rebuild, diff or audit while another process rebuilds the model is refused: 409 projection_busy`,
      async (t) => {
        const { l, admin, env } = await tokens();
        const release = await holdRebuildLock(l.sql, 'profiles');
        try {
          for (const [method, path] of [
            ['POST', '/api/admin/projections/profiles/rebuild'],
            ['GET', '/api/admin/projections/profiles/diff'],
            ['POST', '/api/admin/projections/profiles/audit'],
          ] as const)
            problem(t, await http(method, path, { token: admin }), 409, 'projection_busy');
          const refused = await runCli(['rebuild', 'profiles'], env);
          t.is(refused.code, 1);
          t.regex(refused.stderr, /running already \(here or in another process\); try again/);
        } finally {
          await release();
        }
        t.is((await http('GET', '/api/admin/projections/profiles/diff', { token: admin })).status, 200);
      },
    );

  test.serial(`${name}: audit names an event the model skipped, and --repair applies it`, async (t) => {
    const { l, env } = await tokens();
    const userId = randomUUID();
    const me = (await l.signAccessToken({ sub: userId, roles: ['learner'] })).token;
    const put = profileWriter(t, me);
    const first = await put({ displayName: 'Katherine', locale: 'en' });
    t.is(
      (
        await http('GET', '/api/profile', { token: me, headers: { 'x-consistency-token': first } })
      ).headers.get('x-consistency'),
      'caught-up',
    );
    // The checkpoint moves past the next event before the consumer gets it: a consumer that lost its place.
    const stream = `profile-${userId}`;
    await l.sql.query(`update profiles_checkpoints set revision = 1 where stream_id = $1`, [stream]);
    await put({ displayName: 'Katherine Johnson' });
    const [, skipped] = await l.store.readStream(stream);
    // The audit reads the store's feed, which may not show the event yet (an older transaction of
    // the server's database, another test's, still open).
    await feedShows(l.store, [skipped!.id]);

    const found = await runCli(['audit', 'profiles', '--events-only', '--json'], env);
    t.is(found.code, 1, found.stderr);
    const report = JSON.parse(found.stdout) as { skipped: { eventId: string }[]; rows: unknown };
    t.deepEqual(
      report.skipped.map((e) => e.eventId),
      [skipped!.id],
    );
    t.is(report.rows, null);
    const shown = await runCli(['audit', 'profiles', '--events-only'], env);
    t.is(shown.code, 1);
    t.true(shown.stderr.includes(`${stream} @1 profile.ProfileUpdated (${skipped!.id})`), shown.stderr);

    const repaired = await runCli(['audit', 'profiles', '--events-only', '--repair'], env);
    t.is(repaired.code, 0, repaired.stderr);
    t.regex(repaired.stdout, /1 findings, 1 events repaired/);
    const read = await http('GET', '/api/profile', { token: me });
    t.is((read.body as { displayName: string }).displayName, 'Katherine Johnson');
    const clean = await runCli(['audit', 'profiles', '--events-only'], env);
    t.is(clean.code, 0, clean.stderr);
    t.regex(clean.stdout, /0 findings/);

    problem(
      t,
      await http('POST', '/api/admin/projections/profiles/audit?repair=yes', { token: env.LECTERN_TOKEN }),
      400,
      'validation_failed',
    );
    problem(
      t,
      await http('POST', '/api/admin/projections/nope/audit', { token: env.LECTERN_TOKEN }),
      404,
      'projection_not_found',
    );
  });
};

onEveryProfile(test, flow);
