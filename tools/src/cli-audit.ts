import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `lectern history`, `related` and `as-of`: the audit reads of the event
 * store over the admin API (apps/server/src/audit-routes.ts). A human table
 * by default, JSON lines with `--json`.
 */

export const AUDIT_HELP: Readonly<Record<string, string>> = {
  history: `usage: lectern history <stream> [--from-revision N] [--limit N] [--json] [--follow]

Every event of one stream, in revision order: revision, global position, time,
type, schema version, actor, causation, correlation and request ids, and the
data (secret-derived values such as password hashes show as [redacted]).
A stream id is <category>-<id>, e.g. profile-<user id>, course-<course id>.

  --from-revision N  start at revision N (default 0)
  --limit N          at most N events per read (1 to 10000, default 1000)
  --json             one JSON record per line instead of the table
  --follow           keep printing new events as they are appended (polls
                     every second); Ctrl-C stops it
`,
  related: `usage: lectern related <correlation-id> [--json]

Every event of one correlation across streams, in global order: what one
request did and everything it caused. Each event's correlation id is in
lectern history; a response's X-Correlation-Id header names its request's.

  --json  one JSON record per line instead of the table
`,
  'as-of': `usage: lectern as-of <stream> (--time T | --revision N | --position P) [--json]

The aggregate's state as its own decider folds the stream's events (upcast to
their newest versions), as of one point, with the revision and global
position reached. Secret-derived values show as [redacted].

  --time T      events that occurred at or before T (ISO 8601, e.g. 2026-12-04T18:30:00Z)
  --revision N  events up to and including revision N (0 is the first)
  --position P  events at or before global position P
  --json        the answer as one JSON object
`,
};

/** A failure to tell in one line, with the status to exit with. */
export class CliError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

type Reply = Readonly<{ status: number; body: unknown }>;
export type AuditDeps = Readonly<{
  /** GET with the admin token. */
  get: (path: string, signal?: AbortSignal) => Promise<Reply>;
  out: (text: string) => void;
  positionals: readonly string[];
  values: Readonly<{
    json?: boolean;
    follow?: boolean;
    'from-revision'?: string;
    limit?: string;
    time?: string;
    revision?: string;
    position?: string;
  }>;
  /** Aborted on SIGINT: `--follow` ends cleanly. */
  stop: AbortSignal;
}>;

export type AuditEvent = Readonly<{
  id: string;
  streamId: string;
  revision: number;
  position: number;
  occurredAt: string;
  type: string;
  schemaVersion: number;
  actor: { userId: string | null; roles: string[] } | null;
  causationId: string | null;
  correlationId: string;
  requestId: string | null;
  data: unknown;
}>;

type Problem = Readonly<{
  code?: string;
  title?: string;
  known?: string[];
  issues?: { path: string; message: string }[];
}>;

/** A refusal said as what to do next. */
export const refusal = (reply: Reply, subject: string): CliError => {
  const p = (typeof reply.body === 'object' && reply.body !== null ? reply.body : {}) as Problem;
  const say = (text: string) =>
    new CliError(`${text} (${reply.status} ${p.code ?? ''})`.replace(' )', ')'), 1);
  switch (p.code) {
    case 'stream_category_unknown':
      return say(
        `no context writes streams like '${subject}': a stream id is <category>-<id>, ` +
          `the categories are ${(p.known ?? []).join(', ')}`,
      );
    case 'stream_not_found':
      return say(
        `the stream ${subject} has no events: check the id (lectern related <correlation-id> names streams)`,
      );
    case 'correlation_not_found':
      return say(
        `no event carries the correlation id ${subject}: lectern history <stream> shows each event's`,
      );
    case 'stream_has_no_state':
      return say(`${p.title ?? 'this stream has no state'} Use lectern history ${subject}`);
    case 'validation_failed':
      return say(
        `${p.title ?? 'invalid request'} ${(p.issues ?? []).map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      );
    case 'forbidden':
    case 'unauthenticated':
    case 'token_invalid':
    case 'token_expired':
      return say('the token is not an admin\u2019s: pass an admin token with --token or LECTERN_TOKEN');
    default:
      return new CliError(`${reply.status}: ${JSON.stringify(reply.body)}`, 1);
  }
};

const argument = (deps: AuditDeps, command: string, what: string): string => {
  const value = deps.positionals[1];
  if (!value) throw new CliError(`${command} needs ${what}\n\n${AUDIT_HELP[command]}`, 2);
  return value;
};

/** A whole number option, or a usage error that says what it takes. */
const whole = (value: string | undefined, name: string, command: string): string | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new CliError(`--${name} takes a whole number ≥ 0, not '${value}'\n\n${AUDIT_HELP[command]}`, 2);
  return value;
};

const actorOf = (e: AuditEvent): string =>
  e.actor
    ? `${e.actor.userId ?? 'system'}${e.actor.roles.length ? `(${e.actor.roles.join(',')})` : ''}`
    : 'system';

/** One line per event; the data compact, last, so the columns before it stay aligned. */
const table = (events: readonly AuditEvent[], withStream: boolean): string[] =>
  events.map((e) =>
    [
      ...(withStream ? [e.streamId] : []),
      String(e.revision).padStart(4),
      String(e.position).padStart(8),
      e.occurredAt,
      `${e.type} v${e.schemaVersion}`,
      `id=${e.id}`,
      `actor=${actorOf(e)}`,
      `causation=${e.causationId ?? '-'}`,
      `correlation=${e.correlationId}`,
      `request=${e.requestId ?? '-'}`,
      JSON.stringify(e.data),
    ].join('  '),
  );

const header = (withStream: boolean) =>
  [...(withStream ? ['STREAM'] : []), ' REV', '     POS', 'TIME', 'TYPE', 'IDS AND DATA'].join('  ');

export const history = async (deps: AuditDeps): Promise<void> => {
  const stream = argument(deps, 'history', 'a stream id, e.g. profile-<user id>');
  const limit = whole(deps.values.limit, 'limit', 'history');
  let from = Number(whole(deps.values['from-revision'], 'from-revision', 'history') ?? '0');
  let first = true;
  for (;;) {
    const query = new URLSearchParams({ fromRevision: String(from), ...(limit ? { limit } : {}) });
    let reply: Reply;
    try {
      reply = await deps.get(`/api/admin/streams/${encodeURIComponent(stream)}/events?${query}`, deps.stop);
    } catch (error) {
      if (deps.stop.aborted) return;
      throw error;
    }
    if (reply.status !== 200) throw refusal(reply, stream);
    const page = reply.body as { items: AuditEvent[]; nextRevision: number };
    if (!deps.values.json && first) deps.out(header(false));
    first = false;
    for (const line of deps.values.json ? page.items.map((e) => JSON.stringify(e)) : table(page.items, false))
      deps.out(line);
    from = page.nextRevision;
    // A full page means more to read now; otherwise the stream's end, where --follow waits and asks again.
    if (page.items.length > 0 && page.items.length === Number(limit ?? 1000)) continue;
    if (!deps.values.follow) return;
    try {
      await sleep(1000, undefined, { signal: deps.stop });
    } catch {
      return;
    }
  }
};

export const related = async (deps: AuditDeps): Promise<void> => {
  const id = argument(deps, 'related', 'a correlation id');
  const reply = await deps.get(`/api/admin/correlations/${encodeURIComponent(id)}/events`);
  if (reply.status !== 200) throw refusal(reply, id);
  const { items } = reply.body as { items: AuditEvent[] };
  if (deps.values.json) for (const e of items) deps.out(JSON.stringify(e));
  else for (const line of [header(true), ...table(items, true)]) deps.out(line);
};

export const asOf = async (deps: AuditDeps): Promise<void> => {
  const stream = argument(deps, 'as-of', 'a stream id, e.g. profile-<user id>');
  const { time, revision, position } = deps.values;
  const cuts = [time, revision, position].filter((c) => c !== undefined);
  if (cuts.length !== 1)
    throw new CliError(
      `as-of takes exactly one of --time, --revision, --position\n\n${AUDIT_HELP['as-of']}`,
      2,
    );
  const query = new URLSearchParams();
  if (time !== undefined) {
    const at = new Date(time);
    if (Number.isNaN(at.getTime()))
      throw new CliError(`bad time '${time}': give an ISO 8601 instant, e.g. 2026-12-04T18:30:00Z`, 2);
    query.set('time', at.toISOString());
  }
  if (revision !== undefined) query.set('revision', whole(revision, 'revision', 'as-of')!);
  if (position !== undefined) query.set('position', whole(position, 'position', 'as-of')!);
  const reply = await deps.get(`/api/admin/streams/${encodeURIComponent(stream)}/state?${query}`);
  if (reply.status !== 200) throw refusal(reply, stream);
  const s = reply.body as {
    category: string;
    state: unknown;
    revision: number;
    position: number | null;
    occurredAt: string | null;
    eventsFolded: number;
  };
  if (deps.values.json) return deps.out(JSON.stringify(reply.body));
  deps.out(
    s.revision < 0
      ? `${stream} (${s.category}) before its first event: the initial state`
      : `${stream} (${s.category}) at revision ${s.revision}, position ${s.position}, ${s.occurredAt} ` +
          `(${s.eventsFolded} events folded)`,
  );
  deps.out(JSON.stringify(s.state, null, 2));
};
