import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { dropKafkaNamespace, freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { startServerProcess } from '@lectern/server/process';
import { runCli, type CliRun as Run } from './testing/run-cli.ts';

/** The `lectern` CLI as a newcomer meets it: spawned with node, as `./dev lectern` runs it. */
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const runner = fileURLToPath(new URL('../run.mjs', import.meta.url));

/** A port nothing listens on (bound and released). */
const unusedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

const noStack = /\n\s+at /;

test('--help prints the usage and exits 0; an unknown option is a usage error, not a stack', async (t) => {
  const help = await runCli(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /usage: lectern <command>/);
  t.regex(help.stdout, /rebuild <projection>/);
  const bad = await runCli(['projections', '--nope']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /Unknown option '--nope'/);
  t.notRegex(bad.stderr, noStack);
});

test('without a server: one line naming the address PORT gives, exit 3', async (t) => {
  const port = await unusedPort();
  for (const command of ['dev-token', 'projections']) {
    const run = await runCli([command], { PORT: String(port) });
    t.is(run.code, 3, run.stderr);
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
    t.regex(run.stderr, new RegExp(`no Lectern server answered at http://localhost:${port}`));
    t.notRegex(run.stderr, noStack);
  }
});

test('./dev lectern --help: the usage is the first line on stdout (no npm banner, no stack)', async (t) => {
  const dev = fileURLToPath(new URL('../../dev', import.meta.url));
  const run = await runNode('bash', [dev, 'lectern', '--help']);
  t.is(run.code, 0, run.stderr);
  t.true(run.stdout.startsWith('usage: lectern <command>'), run.stdout);
});

const runNode = async (node: string, args: readonly string[]): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });

test('tools/run.mjs (npm start, npm run lectern) runs the entry with its own arguments', async (t) => {
  const run = await runNode(process.execPath, [runner, cli, '--help']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /usage: lectern/);
});

// The machine's own node, when it is older (Debian's is 20 on our machines): what `npm start` meets there.
const systemNode = '/usr/bin/node';
const probe = spawnSync(systemNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' });
const systemMajor = probe.status === 0 ? Number(probe.stdout.trim()) : null;
(systemMajor !== null && systemMajor < 24 ? test : test.skip)(
  `tools/run.mjs on an older node (${systemNode}) says what to do instead of ERR_UNKNOWN_FILE_EXTENSION`,
  async (t) => {
    const run = await runNode(systemNode, [runner, cli, '--help']);
    t.is(run.code, 1);
    t.regex(run.stderr, /Lectern needs Node\.js 24 or newer/);
    t.regex(run.stderr, /\.\/dev start/);
    t.notRegex(run.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  },
);

test('on PORT: dev-token, and projections in one case with the analytics projector', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-cli-'));
  const server = await startServerProcess({ LECTERN_DATA_DIR: dir });
  try {
    const port = new URL(server.url).port;
    const token = await runCli(['dev-token', '--roles', 'admin'], { PORT: port });
    t.is(token.code, 0, token.stderr);
    t.regex(token.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);

    const listed = await runCli(['projections'], { PORT: port });
    t.is(listed.code, 0, listed.stderr);
    const items = (JSON.parse(listed.stdout) as { items: Record<string, unknown>[] }).items;
    t.deepEqual(
      items.map((i) => i.name),
      [
        'chat_attachments_unsent',
        'chat_blocks',
        'chat_messages',
        'chat_rooms',
        'course_catalog',
        'experience_levels',
        'identity_sessions',
        'identity_users',
        'notification_log',
        'notification_recipients',
        'notification_subscriptions',
        'pdf_report_schedules',
        'profile_history',
        'profiles',
        'analytics',
        'worker.transcoding',
        'worker.chat_attachments',
        'worker.notifications',
        'worker.reports',
      ],
    );
    for (const item of items)
      for (const key of Object.keys(item)) t.regex(key, /^[a-z][a-zA-Z]*$/, `${key} is camelCase`);
    t.is(items.find((i) => i.name === 'analytics')?.runningHere, true);

    const unknown = await runCli(['rebuild', 'nope'], { PORT: port });
    t.is(unknown.code, 1);
    t.regex(unknown.stderr, /projection_not_found/);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

/**
 * `--direct` with no server to talk to: the commands run on the engines a
 * deployment wrote. The server is started with `opts.server`'s settings and
 * the CLI given `engines`; `beside` keeps the server running meanwhile (a
 * deployment on shared engines), else it is stopped first (an embedded
 * folder has one user at a time).
 */
const directOnTheEngines = async (
  t: ExecutionContext,
  engines: Record<string, string>,
  opts: { beside: boolean; server?: Record<string, string> },
) => {
  const server = await startServerProcess(opts.server ?? engines);
  const userId = randomUUID();
  const adminId = randomUUID();
  const stream = `profile-${userId}`;
  try {
    const port = new URL(server.url).port;
    const learner = await runCli(['dev-token', '--sub', userId, '--roles', 'learner'], { PORT: port });
    t.is(learner.code, 0, learner.stderr);
    const put = await fetch(`${server.url}/api/profile`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${learner.stdout.trim()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: 'Grace' }),
    });
    t.is(put.status, 200, await put.text());
  } finally {
    if (!opts.beside) await server.stop();
  }
  try {
    // No LECTERN_URL, no PORT: nothing but the engines' settings.
    const history = await runCli(['--direct', 'history', stream, '--json'], engines);
    t.is(history.code, 0, history.stderr);
    const lines = history.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            streamId: string;
            revision: number;
            position: number;
            type: string;
            data: unknown;
          },
      );
    t.is(lines.length, 1, 'stdout holds the command output alone, no log line');
    t.like(lines[0], { streamId: stream, revision: 0 });
    t.regex(lines[0]!.type, /^profile\./);
    t.regex(JSON.stringify(lines[0]!.data), /"Grace"/);

    // What it changes is on record, with the admin --sub names as actor.
    const { position } = lines[0]!;
    const republish = await runCli(
      ['--direct', '--sub', adminId, 'republish', '--from', String(position), '--to', String(position)],
      engines,
    );
    t.is(republish.code, 0, republish.stderr);
    t.regex(republish.stdout, /^sent 1 events? at positions/);
    const exported = await runCli(['--direct', 'export', '--type', 'operations.AdminActionTaken'], engines);
    t.is(exported.code, 0, exported.stderr);
    const actions = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: { userId: string; roles: string[] }; data: { action: string } });
    t.is(actions.length, 1, exported.stdout);
    t.like(actions[0], {
      actor: { userId: adminId, roles: ['admin'] },
      data: { action: 'events.republish' },
    });

    // --direct is instead of a server: naming one too is a usage error.
    const both = await runCli(['--direct', '--url', 'http://127.0.0.1:1', 'projections'], engines);
    t.is(both.code, 2);
    t.regex(both.stderr, /leave out --url and --token/);
    t.notRegex(both.stderr, noStack);
  } finally {
    if (opts.beside) await server.stop();
  }
};

test('--direct, embedded: history, republish on record, export, on the folder a stopped server left', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-cli-direct-'));
  try {
    await directOnTheEngines(t, { LECTERN_DATA_DIR: dir }, { beside: false });
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

test('--direct on a folder no server has used: projections answers (an api process makes the status table itself)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lectern-cli-direct-'));
  try {
    const run = await runCli(['--direct', 'projections'], { LECTERN_DATA_DIR: dir });
    t.is(run.code, 0, run.stderr);
    const items = (JSON.parse(run.stdout) as { items: { name: string; appliedEvents: number | null }[] })
      .items;
    t.true(items.some((i) => i.name === 'analytics'));
    t.false(
      items.some((i) => i.name === 'profiles'),
      'no read model has run here yet',
    );
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL');
const kafkaBrokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka');
if (databaseUrl && kafkaBrokers)
  test('--direct, postgres+kafka: history, republish on record, export, beside a running server', async (t) => {
    const db = await freshDatabase(databaseUrl);
    // Each process its own folder: chDB, the analytics engine when CLICKHOUSE_URL is unset, has one user.
    const [serverDir, cliDir] = [
      await mkdtemp(join(tmpdir(), 'lectern-cli-direct-')),
      await mkdtemp(join(tmpdir(), 'lectern-cli-direct-')),
    ];
    const namespace = `t${randomUUID().slice(0, 8)}`;
    const engines = { DATABASE_URL: db.url, KAFKA_BROKERS: kafkaBrokers, LECTERN_NAMESPACE: namespace };
    try {
      await directOnTheEngines(
        t,
        { ...engines, LECTERN_DATA_DIR: cliDir },
        { beside: true, server: { ...engines, LECTERN_DATA_DIR: serverDir } },
      );
    } finally {
      await dropKafkaNamespace(kafkaBrokers, namespace).catch(() => {});
      await db.drop();
      for (const dir of [serverDir, cliDir])
        await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
