import { once } from 'node:events';
import { CliError, refusal } from './cli-audit.ts';

/**
 * `lectern export` and `republish`: the store's events read out as JSON
 * lines, and a range of them sent to the log again, over the admin API
 * (apps/server/src/audit-routes.ts).
 */

export const REPLAY_HELP: Readonly<Record<string, string>> = {
  export: `usage: lectern export [--from P] [--to Q] [--stream S] [--type T] [--since TIME]

The store's events as JSON lines on stdout, in global order, one event per
line as lectern history --json prints it (secret-derived values [redacted]).
Streamed as it is read: a whole store takes no more memory than one event.
With no option, every event up to the newest when the export starts.

  --from P       from global position P (default 0)
  --to Q         up to global position Q, included
  --stream S     only the events of stream S (<category>-<id>)
  --type T       only events of type T, e.g. profile.ProfileUpdated
  --since TIME   only events that occurred at or after TIME (ISO 8601)

On a terminal, stderr shows how many events have come and how fast. If the
export is cut off, it says from which position to run it again.
`,
  republish: `usage: lectern republish --from P --to Q [--context C] [--dry-run] [--json]

Sends the store's events at global positions P to Q (of context C only, if
given) to the log again, as the relay first did. Consumers drop the copies
by event id, so read models do not change and no mail is sent twice: it
repairs a consumer that missed events (after restoring a topic, say).

  --from P     the first global position (lectern history shows each event's)
  --to Q       the last global position, included
  --context C  only events of context C (identity, profile, content…)
  --dry-run    count what would be sent, per context, and send nothing
  --json       the answer as one JSON object
`,
};

export type ReplayDeps = Readonly<{
  /** A request with the admin token; the body is sent as JSON. */
  request: (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<Response>;
  stdout: NodeJS.WritableStream;
  /** Where progress goes, when stderr is a terminal; null otherwise (piped, in CI). */
  progress: NodeJS.WritableStream | null;
  values: Readonly<{
    from?: string;
    to?: string;
    stream?: string;
    type?: string;
    since?: string;
    context?: string;
    'dry-run'?: boolean;
    json?: boolean;
  }>;
  now?: () => number;
}>;

const usage = (command: string, text: string) => new CliError(`${text}\n\n${REPLAY_HELP[command]}`, 2);

const position = (value: string | undefined, name: string, command: string): string | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw usage(command, `--${name} takes a global position (a whole number), not '${value}'`);
  return value;
};

/** The problem+json of a refused request, read whatever it holds. */
const replyOf = async (res: Response) => {
  const text = await res.text();
  try {
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
  } catch {
    return { status: res.status, body: text };
  }
};

export const exportEvents = async (deps: ReplayDeps): Promise<void> => {
  const v = deps.values;
  const query = new URLSearchParams();
  for (const name of ['from', 'to'] as const) {
    const p = position(v[name], name, 'export');
    if (p !== undefined) query.set(name, p);
  }
  if (v.stream !== undefined) query.set('stream', v.stream);
  if (v.type !== undefined) query.set('type', v.type);
  if (v.since !== undefined) {
    const at = new Date(v.since);
    if (Number.isNaN(at.getTime()))
      throw usage('export', `bad time '${v.since}': give an ISO 8601 instant, e.g. 2026-12-04T18:30:00Z`);
    query.set('since', at.toISOString());
  }
  const res = await deps.request('GET', `/api/admin/events/export?${query}`);
  if (res.status !== 200 || !res.body) throw refusal(await replyOf(res), v.stream ?? 'the store');

  const now = deps.now ?? Date.now;
  const started = now();
  let shownAt = 0;
  let events = 0;
  // The position of the last whole line: where a cut-off export reads on from.
  let lastPosition: number | null = null;
  let partial = '';
  const decoder = new TextDecoder();
  const show = (done: boolean) => {
    if (!deps.progress || (!done && now() - shownAt < 250)) return;
    shownAt = now();
    const seconds = Math.max(0.001, (now() - started) / 1000);
    deps.progress.write(
      `\r${events} events, ${Math.round(events / seconds)}/s, at position ${lastPosition ?? '-'}${done ? '\n' : ''}`,
    );
  };
  const cutOff = (why: string) =>
    new CliError(
      `the export was cut off after ${events} events (${why}); run it again with --from ${
        lastPosition === null ? (v.from ?? '0') : lastPosition + 1
      } and the same options for the rest`,
      1,
    );
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = partial + decoder.decode(chunk, { stream: true });
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        partial = text;
        continue;
      }
      const whole = text.slice(0, end + 1);
      partial = text.slice(end + 1);
      const lines = whole.split('\n').length - 1;
      events += lines;
      const last = whole.slice(whole.lastIndexOf('\n', end - 1) + 1, end);
      lastPosition = (JSON.parse(last) as { position: number }).position;
      if (!deps.stdout.write(whole)) await once(deps.stdout, 'drain');
      show(false);
    }
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw cutOff(cause?.code ?? (error as Error).message);
  }
  if (partial !== '') throw cutOff('the last event came in part');
  show(true);
};

export const republish = async (deps: ReplayDeps): Promise<string> => {
  const v = deps.values;
  const from = position(v.from, 'from', 'republish');
  const to = position(v.to, 'to', 'republish');
  if (from === undefined || to === undefined) throw usage('republish', 'republish needs --from and --to');
  const res = await deps.request('POST', '/api/admin/events/republish', {
    from: Number(from),
    to: Number(to),
    ...(v.context === undefined ? {} : { context: v.context }),
    ...(v['dry-run'] ? { dryRun: true } : {}),
  });
  const reply = await replyOf(res);
  if (reply.status !== 200) throw refusal(reply, `${from}..${to}`);
  if (v.json) return JSON.stringify(reply.body);
  const r = reply.body as { events: number; dryRun: boolean; byContext: Record<string, number> };
  const per = Object.entries(r.byContext)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  return `${r.dryRun ? 'would send' : 'sent'} ${r.events} events at positions ${from} to ${to}${per ? ` (${per})` : ''}${
    r.dryRun ? '; nothing was sent' : '; consumers drop the copies by event id'
  }`;
};
