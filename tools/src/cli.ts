import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  asOf,
  AUDIT_HELP,
  CliError,
  history,
  related,
  type AuditDeps,
  type AuditEvent,
} from './cli-audit.ts';
import { showProgress, type ProjectionWork } from './cli-progress.ts';
import { exportEvents, REPLAY_HELP, republish, type ReplayDeps } from './cli-replay.ts';

/**
 * The `lectern` command line (`./dev lectern <command>`, or
 * `npm run -s lectern -- <command>`). It talks to a running server: the one
 * at `--url`, else `LECTERN_URL`, else `http://localhost:$PORT` (8000 when
 * PORT is unset, as the server's own default); or, with `--direct`, to the
 * engines themselves (see `openDirect`). Failures are one line on
 * stderr and a non-zero status, never a stack: 1 when the server refused,
 * 2 for a usage error, 3 when no server answered.
 */
/** Who `--direct` acts as, unless `--sub` names an admin: the record shows this id. */
const DIRECT_OPERATOR = '00000000-0000-4000-8000-00000000d12e';

const HELP = `usage: lectern <command> [options]

commands:
  dev-token [--sub UUID] [--roles learner,admin]
      prints an access token from a development server (POST /api/dev/token)
  projections
      lists the read models (the analytics projector too) with checkpoints and lag
  rebuild <projection> [--accept-differences]
      rebuilds a SQL read model, or the analytics tables in ClickHouse
      (analytics), from position zero into shadow tables, compares them with
      the live model at one position (row counts and checksums per table), and
      swaps them in when they match; a difference keeps the live model and
      names the differing rows (exit 1). --accept-differences swaps anyway, as
      after fixing the projection. On a terminal, stderr shows events/s and
      the time left while it runs
  diff <projection> [--at P] [--json]
      replays the store into scratch tables and compares them with the live
      model at one position, changing nothing; names the differing rows by key,
      each with the events that produced it (exit 1 when there are any).
      --at P: only the events at or below global position P, against the live
      model as it stood at P: rows that events after P changed are counted as
      moved on since P, not as differences. Progress on a terminal, as rebuild
  explain <projection> <key> [field] [--table T] [--json]
      the events, in order, that produced one row of a read model (or one
      field of it), and whether the live row is what they make (exit 1 if not)
  audit <projection> [--repair] [--events-only] [--json]
      checks a SQL read model against the event store: per stream, the events
      it applied (a count and a digest kept with its checkpoints) against the
      store's; names skipped, unapplied and doubled events, then compares the
      rows with a replay as diff does (--events-only: not). --repair applies
      the skipped and unapplied events. Exit 1 when anything is left to fix
  history <stream> [--from-revision N] [--limit N] [--json] [--follow]
      every event of a stream: revision, position, time, type, actor, causation,
      correlation and request ids, data; --follow tails it
  related <correlation-id> [--json]
      every event of one correlation (one request and what it caused), across streams
  as-of <stream> (--time T | --revision N | --position P) [--json]
      the aggregate's state folded by its own decider as of that point
  export [--from P] [--to Q] [--stream S] [--type T] [--since TIME]
      the store's events as JSON lines on stdout, streamed in constant memory
  republish --from P --to Q [--context C] [--dry-run] [--json]
      sends a range of the store's events to the log again (consumers drop the
      copies by event id); --dry-run counts per context
  dlq list
      lists the dead-letter topics: letters set aside, redriven, waiting
  dlq show <topic> [--limit N]
      shows a topic's letters, oldest first: the original message and its error
  dlq redrive <topic>
      publishes the waiting letters again for the consumer that set them aside
      (fix the cause first). <topic> is the topic, or its consumer (analytics,
      projection.profiles)

options:
  --url URL      the server (default $LECTERN_URL, else http://localhost:$PORT, PORT 8000)
  --token TOKEN  an admin access token (default $LECTERN_TOKEN, else one from dev-token)
  --direct       no server: talk to the engines the server's own settings name
                 (DATABASE_URL, EVENTSTORE_URL, KAFKA_BROKERS, CLICKHOUSE_URL,
                 LECTERN_NAMESPACE; none set is the embedded engines in
                 LECTERN_DATA_DIR, which no running server may hold). The
                 command runs in this process as an admin, recorded as --sub
                 (default ${DIRECT_OPERATOR}, "an operator on the engines")
  -h, --help     this text; after a command, that command's (lectern history --help)
`;

const args = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        sub: { type: 'string' },
        roles: { type: 'string', default: 'learner' },
        url: { type: 'string' },
        token: { type: 'string' },
        direct: { type: 'boolean' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        follow: { type: 'boolean' },
        'accept-differences': { type: 'boolean' },
        'from-revision': { type: 'string' },
        time: { type: 'string' },
        revision: { type: 'string' },
        position: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        stream: { type: 'string' },
        type: { type: 'string' },
        since: { type: 'string' },
        context: { type: 'string' },
        'dry-run': { type: 'boolean' },
        repair: { type: 'boolean' },
        'events-only': { type: 'boolean' },
        table: { type: 'string' },
        at: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`lectern: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
})();
const { positionals, values } = args;
let baseUrl = (
  values.url ??
  process.env.LECTERN_URL ??
  `http://localhost:${process.env.PORT?.trim() || '8000'}`
).replace(/\/+$/, '');

/** fetch, with "no server there" said plainly rather than as `TypeError: fetch failed`. */
const send = async (path: string, init: RequestInit): Promise<Response> => {
  try {
    return await fetch(`${baseUrl}${path}`, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `no Lectern server answered at ${baseUrl} (${cause?.code ?? cause?.message ?? (error as Error).message}); ` +
        'start one with ./dev start, or point --url, LECTERN_URL or PORT at yours',
      3,
    );
  }
};

/** `send`, the answer read whole: JSON where it parses, text where not. */
const call = async (path: string, init: RequestInit): Promise<{ status: number; body: unknown }> => {
  const res = await send(path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's page): shown as text.
  }
  return { status: res.status, body };
};

const devToken = async (roles: string[], sub: string = randomUUID()): Promise<string> => {
  const { status, body } = await call('/api/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, roles }),
  });
  const token = (body as { token?: unknown } | null)?.token;
  if (status !== 200 || typeof token !== 'string')
    throw new CliError(
      `${status}: ${JSON.stringify(body)} (dev-token needs a development server at ${baseUrl}: ` +
        'a process with the api role and NODE_ENV unset; elsewhere pass --token or LECTERN_TOKEN)',
      1,
    );
  return token;
};

let adminToken: Promise<string> | null = null;
const token = (): Promise<string> =>
  (adminToken ??= (async () => values.token ?? process.env.LECTERN_TOKEN ?? (await devToken(['admin'])))());

const api = async (method: string, path: string): Promise<unknown> => {
  const { status, body } = await call(path, {
    method,
    headers: { authorization: `Bearer ${await token()}` },
  });
  if (status < 200 || status > 299) throw new CliError(`${status}: ${JSON.stringify(body)}`, 1);
  return body;
};

/** Ctrl-C ends `history --follow` cleanly, between two reads or during one. */
const stop = new AbortController();
if (values.follow) process.once('SIGINT', () => stop.abort());
const auditDeps = (): AuditDeps => ({
  get: async (path, signal) =>
    call(path, { headers: { authorization: `Bearer ${await token()}` }, ...(signal ? { signal } : {}) }),
  out: (text) => process.stdout.write(`${text}\n`),
  positionals,
  values,
  stop: stop.signal,
});
/** The audit commands print as they go (a follow never ends); they answer nothing more. */
const printing = (run: (deps: AuditDeps) => Promise<void>) => async (): Promise<string | null> => {
  await run(auditDeps());
  return null;
};

const replayDeps = (): ReplayDeps => ({
  request: async (method, path, body) =>
    send(path, {
      method,
      headers: {
        authorization: `Bearer ${await token()}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
  stdout: process.stdout,
  progress: process.stderr.isTTY ? process.stderr : null,
  values,
});
// A reader that stops early (| head) closes the pipe: the export ends quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

/** A dead-letter topic named in full, or by its consumer (`analytics`, `projection.profiles`). */
const dlqTopic = async (name: string | undefined, action: string): Promise<string> => {
  if (!name) throw new CliError(`dlq ${action} needs a topic (see lectern dlq list)\n\n${HELP}`, 2);
  const { items } = (await api('GET', '/api/admin/dead-letters')) as { items: { topic: string }[] };
  const topics = items.map((i) => i.topic);
  const found =
    topics.find((t) => t === name) ??
    topics.find((t) => t.endsWith(`.dlq.${name}`) || t.endsWith(`.dlq.projection.${name}`));
  if (!found) throw new CliError(`no dead-letter topic '${name}'; there are: ${topics.join(', ')}`, 1);
  return found;
};

const dlq = async (): Promise<string> => {
  const [, action, name] = positionals;
  if (action === 'list') return JSON.stringify(await api('GET', '/api/admin/dead-letters'), null, 2);
  if (action === 'show') {
    const topic = await dlqTopic(name, action);
    const limit = values.limit === undefined ? '' : `?limit=${encodeURIComponent(values.limit)}`;
    return JSON.stringify(
      await api('GET', `/api/admin/dead-letters/${encodeURIComponent(topic)}${limit}`),
      null,
      2,
    );
  }
  if (action === 'redrive') {
    const topic = await dlqTopic(name, action);
    return JSON.stringify(await api('POST', `/api/admin/dead-letters/${encodeURIComponent(topic)}/redrive`));
  }
  throw new CliError(`dlq takes list, show <topic> or redrive <topic>\n\n${HELP}`, 2);
};

type RebuildVerification = Readonly<{
  position: number | null;
  /** Only in a diff --at. */
  at?: number;
  tables: readonly {
    table: string;
    liveRows: number;
    rebuiltRows: number;
    differingRows: number;
    differingKeys: readonly Record<string, unknown>[];
    movedOnRows?: number;
    movedOnKeys?: readonly Record<string, unknown>[];
  }[];
}>;

/** What a refused rebuild found, one line per table and per differing key shown. */
const differences = (v: RebuildVerification): string =>
  [
    v.at === undefined
      ? `compared at position ${v.position ?? '-'}:`
      : `compared as of position ${v.at} (the live model at ${v.position ?? '-'}):`,
    ...v.tables.flatMap((t) => [
      `  ${t.table}: ${t.liveRows} rows live, ${t.rebuiltRows} rebuilt, ${t.differingRows} differ`,
      ...t.differingKeys.map((k) => `    ${JSON.stringify(k)}`),
      ...(t.differingRows > t.differingKeys.length
        ? [`    … and ${t.differingRows - t.differingKeys.length} more`]
        : []),
    ]),
    ...(movedOn(v) ? [movedOn(v)] : []),
  ].join('\n');

/** With --at: the rows that events after the position changed, which are not compared (or ''). */
const movedOn = (v: RebuildVerification): string => {
  const tables = v.tables.filter((t) => (t.movedOnRows ?? 0) > 0);
  if (tables.length === 0) return '';
  return [
    `moved on since position ${v.at} (changed by later events, so not compared; lectern diff without --at compares them as they are now):`,
    ...tables.flatMap((t) => [
      `  ${t.table}: ${t.movedOnRows} rows`,
      ...(t.movedOnKeys ?? []).map((k) => `    ${JSON.stringify(k)}`),
      ...(t.movedOnRows! > (t.movedOnKeys?.length ?? 0)
        ? [`    … and ${t.movedOnRows! - (t.movedOnKeys?.length ?? 0)} more`]
        : []),
    ]),
  ].join('\n');
};

type RowLineage = Readonly<{
  table: string;
  key: Record<string, string>;
  replayed: boolean;
  live: boolean;
  matchesLive: boolean;
  steps: readonly {
    op: string;
    changed: readonly string[];
    event: Pick<AuditEvent, 'id' | 'streamId' | 'revision' | 'position' | 'occurredAt' | 'type' | 'actor'>;
  }[];
}>;

/** A row and the events that made it, one line per change. */
const lineage = (row: RowLineage): string => {
  const state =
    !row.replayed && !row.live
      ? 'in neither the replay nor the live model'
      : row.matchesLive
        ? 'the live row is what its events make'
        : !row.live
          ? 'missing from the live model'
          : !row.replayed
            ? 'in the live model, but no event makes it'
            : 'the live row differs from what its events make';
  return [
    `  ${row.table} ${JSON.stringify(row.key)}: ${state}`,
    ...(row.steps.length ? [] : ['    no event touched it']),
    ...row.steps.map(
      ({ op, changed, event: e }) =>
        `    ${op.padEnd(6)} ${e.occurredAt}  ${e.type} ${e.streamId}@${e.revision} (position ${e.position}, ` +
        `by ${e.actor?.userId ?? 'the system'})${op === 'update' ? `: ${changed.join(', ')}` : ''}`,
    ),
  ].join('\n');
};

type AuditedEvent = Readonly<{ streamId: string; eventId: string; revision: number; type: string }>;
type AuditedStream = Readonly<{ streamId: string; inStore: number; applied: number }>;
type AuditReport = Readonly<{
  projection: string;
  events: number;
  streams: number;
  skipped: readonly AuditedEvent[];
  unapplied: readonly AuditedEvent[];
  doubled: readonly AuditedStream[];
  unaccounted: readonly AuditedStream[];
  pending: number;
  unaudited: number;
  repaired: number;
  findings: number;
  rows: (RebuildVerification & { matches: boolean }) | null;
}>;

/** An audit as lines to read, and whether it leaves anything to fix. */
const audited = (r: AuditReport): { text: string; clean: boolean } => {
  const event = (e: AuditedEvent) => `  ${e.streamId} @${e.revision} ${e.type} (${e.eventId})`;
  const stream = (s: AuditedStream) => `  ${s.streamId}: ${s.inStore} in the store, ${s.applied} applied`;
  const section = <T>(title: string, items: readonly T[], line: (item: T) => string) =>
    items.length ? [`${title}:`, ...items.map(line)] : [];
  const lines = [
    `${r.projection}: ${r.events} events of ${r.streams} streams audited; ${r.findings} findings` +
      `${r.repaired ? `, ${r.repaired} events repaired` : ''}`,
    ...section('skipped (applied after later events of their stream were)', r.skipped, event),
    ...section('unapplied (past the checkpoint for more than five minutes)', r.unapplied, event),
    ...section('doubled', r.doubled, stream),
    ...section('unaccounted for (rebuild the model)', r.unaccounted, stream),
    ...(r.pending ? [`${r.pending} events in flight`] : []),
    ...(r.unaudited
      ? [`${r.unaudited} streams applied before the ledger existed (rebuild to audit them)`]
      : []),
    r.rows === null
      ? 'rows: not compared (--events-only)'
      : r.rows.matches
        ? `rows: match a replay at position ${r.rows.position ?? '-'}`
        : `rows: differ from a replay\n${differences(r.rows)}`,
  ];
  const repairable = r.skipped.length + r.unapplied.length;
  const left = r.doubled.length + r.unaccounted.length + (r.repaired ? 0 : repairable);
  return { text: lines.join('\n'), clean: left === 0 && r.rows?.matches !== false };
};

/**
 * `run`, with its progress on stderr meanwhile when stderr is a terminal:
 * the status of model `name` polled for the work the server is doing on it.
 */
const withProgress = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
  if (!process.stderr.isTTY) return run();
  const shown = showProgress({
    name,
    status: async () => {
      const { status, body } = await call('/api/admin/projections', {
        headers: { authorization: `Bearer ${await token()}` },
      });
      const items =
        status === 200 ? (body as { items: { name: string; work?: ProjectionWork | null }[] }).items : [];
      return items.find((i) => i.name === name)?.work ?? null;
    },
    write: (text) => process.stderr.write(text),
  });
  try {
    return await run();
  } finally {
    shown.stop();
  }
};

const commands: Record<string, () => Promise<string | null>> = {
  'dev-token': async () => devToken(values.roles.split(','), values.sub),
  projections: async () => JSON.stringify(await api('GET', '/api/admin/projections'), null, 2),
  rebuild: async () => {
    const name = positionals[1];
    if (!name) throw new CliError(`rebuild needs the projection's name\n\n${HELP}`, 2);
    const accept = values['accept-differences'] ? '?acceptDifferences=true' : '';
    const authorization = `Bearer ${await token()}`;
    const { status, body } = await withProgress(name, () =>
      call(`/api/admin/projections/${encodeURIComponent(name)}/rebuild${accept}`, {
        method: 'POST',
        headers: { authorization },
      }),
    );
    if (status === 200) return JSON.stringify(body);
    const problem = body as { code?: string; title?: string; verification?: RebuildVerification } | null;
    if (status === 409 && problem?.code === 'rebuild_differs' && problem.verification) {
      if (values.json) process.stdout.write(`${JSON.stringify(body)}\n`);
      throw new CliError(`${problem.title}\n${differences(problem.verification)}`, 1);
    }
    throw new CliError(`${status}: ${JSON.stringify(body)}`, 1);
  },
  diff: async () => {
    const name = positionals[1];
    if (!name) throw new CliError(`diff needs the projection's name\n\n${HELP}`, 2);
    const at = values.at;
    if (at !== undefined && !/^\d{1,16}$/.test(at))
      throw new CliError(
        `--at takes a global position (a whole number; lectern history shows each event's), not '${at}'`,
        2,
      );
    const query = at === undefined ? '' : `?at=${at}`;
    await token();
    const body = (await withProgress(name, () =>
      api('GET', `/api/admin/projections/${encodeURIComponent(name)}/diff${query}`),
    )) as {
      events: number;
      verification: RebuildVerification & { matches: boolean; at?: number };
      rows: readonly RowLineage[];
    };
    if (values.json) process.stdout.write(`${JSON.stringify(body)}\n`);
    const replay = `a replay of ${body.events} events${at === undefined ? '' : ` up to position ${at}`}`;
    if (!body.verification.matches)
      throw new CliError(
        [
          `${name} differs from ${replay}`,
          differences(body.verification),
          ...(body.rows.length ? ['the events behind each differing row:', ...body.rows.map(lineage)] : []),
        ].join('\n'),
        1,
      );
    if (values.json) return null;
    const moved = movedOn(body.verification);
    return at === undefined
      ? `${name} matches ${replay} at position ${body.verification.position ?? '-'}`
      : `${name} as it stood at position ${at} matches ${replay}${moved ? `\n${moved}` : ''}`;
  },
  explain: async () => {
    const [, name, key, field] = positionals;
    if (!name || !key)
      throw new CliError(`explain needs the projection's name and the row's key\n\n${HELP}`, 2);
    const query = new URLSearchParams({ key });
    if (field) query.set('field', field);
    if (values.table) query.set('table', values.table);
    const body = (await api(
      'GET',
      `/api/admin/projections/${encodeURIComponent(name)}/explain?${query}`,
    )) as {
      events: number;
      row: RowLineage;
    };
    if (values.json) process.stdout.write(`${JSON.stringify(body)}\n`);
    const text = `${name}${field ? `, field ${field}` : ''}, from a replay of ${body.events} events:\n${lineage(body.row)}`;
    if (!body.row.matchesLive) throw new CliError(text, 1);
    return values.json ? null : text;
  },
  audit: async () => {
    const name = positionals[1];
    if (!name) throw new CliError(`audit needs the projection's name\n\n${HELP}`, 2);
    const query = new URLSearchParams();
    if (values.repair) query.set('repair', 'true');
    if (values['events-only']) query.set('eventsOnly', 'true');
    const report = (await api(
      'POST',
      `/api/admin/projections/${encodeURIComponent(name)}/audit${query.size ? `?${query}` : ''}`,
    )) as AuditReport;
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    const { text, clean } = audited(report);
    if (!clean) throw new CliError(values.json ? `${name}: the audit found what to fix` : text, 1);
    return values.json ? null : text;
  },
  dlq,
  history: printing(history),
  related: printing(related),
  'as-of': printing(asOf),
  export: async () => (await exportEvents(replayDeps()), null),
  republish: async () => republish(replayDeps()),
};

/**
 * `--direct`: the admin API in this process, on the engines the server's own
 * configuration names, bound to loopback on a port of its own, with the
 * `api` role only (no consumer joins a group, no relay runs, no worker sends
 * anything). The command then runs against it as against any server, under
 * an admin token signed here with the deployment's key ring, so the routes,
 * their checks and the record of each admin action are the same. Its log
 * goes to stderr at `warn` (LOG_LEVEL to change), leaving stdout to the
 * command's output.
 */
const openDirect = async (): Promise<{ stop(): Promise<void> }> => {
  if (values.url !== undefined || values.token !== undefined)
    throw new CliError('--direct talks to the engines, not to a server: leave out --url and --token', 2);
  const [{ loadConfig, ConfigError }, { startLectern }, { DatabaseOwnedElsewhere }, { createLogger }] =
    await Promise.all([
      import('@lectern/server/config'),
      import('@lectern/server/server'),
      import('@lectern/server/deployment'),
      import('@lectern/infra/runtime/logger'),
    ]);
  // What the server would refuse to start with is a usage error here, said
  // the same way; an engine that does not open (down, or an embedded folder
  // a running server holds) is said in one line, as a server that does not answer.
  const told = (error: unknown): never => {
    if (error instanceof ConfigError || error instanceof DatabaseOwnedElsewhere)
      throw new CliError(error.message, 2);
    throw new CliError(`--direct: the engines did not open: ${(error as Error).message}`, 3);
  };
  const config = (() => {
    try {
      return loadConfig({ ...process.env, PORT: '0', LECTERN_ROLES: 'api' });
    } catch (error) {
      return told(error);
    }
  })();
  const logger = createLogger({
    level: process.env.LOG_LEVEL?.trim() || 'warn',
    destination: process.stderr,
  });
  const lectern = await startLectern(config, { logger, host: '127.0.0.1' }).catch(told);
  baseUrl = lectern.url;
  const sub = values.sub ?? DIRECT_OPERATOR;
  adminToken = lectern.signAccessToken({ sub, roles: ['admin'] }).then((t) => t.token);
  return lectern;
};

const command = positionals[0];
if (values.help || command === 'help') {
  process.stdout.write((command && (AUDIT_HELP[command] ?? REPLAY_HELP[command])) || HELP);
} else if (!command || !Object.hasOwn(commands, command)) {
  process.stderr.write(`${command ? `lectern: unknown command '${command}'\n\n` : ''}${HELP}`);
  process.exitCode = 2;
} else {
  let direct: { stop(): Promise<void> } | null = null;
  try {
    if (values.direct) direct = await openDirect();
    const answer = await commands[command]!();
    if (answer !== null) process.stdout.write(`${answer}\n`);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    process.stderr.write(`lectern: ${error.message}\n`);
    process.exitCode = error.status;
  } finally {
    await direct?.stop();
  }
}
