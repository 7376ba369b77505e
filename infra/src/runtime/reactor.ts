import { randomUUID } from 'node:crypto';
import { topicOf, type RecordedEvent } from '@lectern/schemas';
import type { Batch, Consumer, LogMessage, MessageLog } from '../ports/message-log.ts';
import { migrate, sqlMigration, type Sql } from '../sql/index.ts';
import { fromLogMessage } from './codec.ts';
import { REDRIVE_FOR, REDRIVEN_FROM } from './dead-letter-admin.ts';
import { deadLetterSender } from './dead-letters.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { ModuleConsumer, Platform, RunningConsumer } from './context-module.ts';
import { progressWatch } from './progress.ts';
import { clip } from './text.ts';
import { inSpan } from './tracing.ts';

/**
 * The worker tier (ARCHITECTURE rule 10 for side effects): a reaction
 * handles an event by acting on the world (sending a message, starting a
 * transcode), once per event, however often the log delivers it.
 *
 * - Idempotent by the causing event's id: every event a reaction takes is a
 *   row of `reactor_work` (claimed → done | dead, with what it did and the
 *   provider's reference). A redelivery, a replay or a rebuild of anything
 *   finds the row done and does nothing.
 * - A claim is a lease: a worker that dies mid-work leaves its row claimed
 *   until the lease runs out; the next delivery (to whoever owns the
 *   partition then) takes it over. An unexpired claim of another worker is
 *   waited for (the batch is delivered again).
 * - A transient failure is tried again with exponential backoff and jitter,
 *   and never sooner than the failure asks (`retryAfterMs`: a provider's
 *   429 with `Retry-After`);
 *   a {@link PermanentFailure}, or a transient one still failing after the
 *   last attempt, sets the event aside in the reaction's dead-letter topic
 *   (`<ns>.dlq.worker.<name>`) with the reason, and the row is `dead`.
 *   `lectern dlq redrive` sends it back; a redriven event is tried afresh.
 * - The lease, the backoff and the clock are injected: tests do not wait.
 *
 * What "once" means: the row says done only after the side effect, so a
 * crash between the two acts again on takeover. A reaction therefore hands
 * providers an id of its own derived from the event (a Message-ID, an
 * idempotency key), so the second act is recognizable downstream.
 */

/** A failure trying again cannot fix (a 4xx from a provider, a message that cannot be built). */
export class PermanentFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentFailure';
  }
}

export type ReactionResult = Readonly<{
  /** What was done, for the work row and logs: `sent`, `suppressed`, `skipped`. */
  outcome: string;
  /** The provider's reference (its message id), when there is one. */
  ref?: string | null;
}>;

export type Reaction = Readonly<{
  /** The reaction's name; its consumer group is `<ns>.worker.<name>`. */
  name: string;
  /** The contexts whose topics it reads. */
  contexts: readonly string[];
  /** The event types it acts on; every other event is only acknowledged. */
  eventTypes: readonly string[];
  /** Acts on one event. Throws to fail: {@link PermanentFailure} to give up at once. */
  handle(
    event: RecordedEvent,
    /**
     * `final`: a failure of this try dead-letters the event (the reaction can record that it gave up).
     * `keepAlive`: extends the claim's lease; a long reaction (a fan-out) calls it as it goes, so no
     * other worker takes the event over while this one still works on it.
     * `redriven`: the dead letter (`<topic>@<offset>`) the event came back from by `lectern dlq
     * redrive`, else null: whatever the reaction recorded as given up for it is to be tried afresh
     * (once per letter), not found done.
     */
    attempt: Readonly<{
      number: number;
      final: boolean;
      redriven: string | null;
      signal: AbortSignal;
      keepAlive: () => Promise<void>;
    }>,
  ): Promise<ReactionResult>;
}>;

export type ReactorOptions = Readonly<{
  reaction: Reaction;
  sql: Sql;
  log: MessageLog;
  logger: Logger;
  metrics?: Metrics;
  namespace?: string;
  /** Tries of one event before it is dead-lettered; default 5. */
  attempts?: number;
  /** The first pause between tries, doubled each time, with up to as much again of jitter; default 200 ms. */
  baseDelayMs?: number;
  /** How long a claim holds another worker off; default 60 s. */
  leaseMs?: number;
  /** The longest a failure's `retryAfterMs` (a provider's Retry-After) holds the next try back; default 5 minutes. */
  maxRetryAfterMs?: number;
  /** This worker's name in claims; default a random id. */
  owner?: string;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  stallAfterMs?: number;
}>;

/** A reactor is one of the consumers a module runs (`RunningConsumer`), with its reaction. */
export type RunningReactor = RunningConsumer & Readonly<{ reaction: Reaction }>;

export type WorkRow = Readonly<{
  reactor: string;
  eventId: string;
  eventType: string;
  state: 'claimed' | 'done' | 'dead';
  attempts: number;
  /** The worker holding the claim, or the last to hold it: a takeover after a crash shows as a new owner. */
  owner: string | null;
  outcome: string | null;
  ref: string | null;
  lastError: string | null;
}>;

const migrations = [
  sqlMigration(
    '001_reactor_work',
    `create table if not exists reactor_work (
       reactor text not null,
       event_id uuid not null,
       event_type text not null,
       correlation_id text,
       state text not null check (state in ('claimed', 'done', 'dead')),
       attempts int not null default 0,
       owner text,
       lease_until timestamptz,
       outcome text,
       ref text,
       last_error text,
       first_seen timestamptz not null,
       updated_at timestamptz not null,
       primary key (reactor, event_id)
     );
     create index if not exists reactor_work_pending on reactor_work (reactor, first_seen) where state = 'claimed';`,
    'drop table if exists reactor_work;',
  ),
];

/** Creates `reactor_work` if it is missing (every worker does at start). */
export const migrateReactorWork = (sql: Sql): Promise<void> => migrate(sql, 'reactor_work', migrations);

/** The work row of one event, or null (a reader for admin tooling and tests). */
export const workOf = async (sql: Sql, reactor: string, eventId: string): Promise<WorkRow | null> => {
  const [r] = await sql.query<{
    event_type: string;
    state: WorkRow['state'];
    attempts: number;
    owner: string | null;
    outcome: string | null;
    ref: string | null;
    last_error: string | null;
  }>(
    `select event_type, state, attempts, owner, outcome, ref, last_error from reactor_work
      where reactor = $1 and event_id = $2::uuid`,
    [reactor, eventId],
  );
  return r
    ? {
        reactor,
        eventId,
        eventType: r.event_type,
        state: r.state,
        attempts: r.attempts,
        owner: r.owner,
        outcome: r.outcome,
        ref: r.ref,
        lastError: r.last_error,
      }
    : null;
};

/**
 * When a failure says to try again no sooner than some time from now (a
 * provider's `Retry-After`, as `SendError.retryAfterMs` carries it): its
 * milliseconds, or null.
 */
const retryAfterOf = (error: unknown): number | null => {
  const ms = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : null;
};

/** Thrown to have the batch delivered again: another worker's claim on one of its events is still live. */
class HeldElsewhere extends Error {}

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Runs a reaction as a consumer of its contexts' topics.
 *
 * @example
 *   const r = await startReactor({ reaction: welcomeMail, sql, log, logger, metrics });
 *   await r.start(); … await r.stop();
 */
export const startReactor = async (opts: ReactorOptions): Promise<RunningReactor> => {
  const r = opts.reaction;
  const namespace = opts.namespace ?? 'lectern';
  const consumerName = `worker.${r.name}`;
  const group = `${namespace}.${consumerName}`;
  const topics = r.contexts.map((c) => topicOf(c, namespace));
  const acts = new Set(r.eventTypes);
  const attempts = Math.max(1, opts.attempts ?? 5);
  const baseDelay = opts.baseDelayMs ?? 200;
  const leaseMs = opts.leaseMs ?? 60_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 5 * 60_000;
  const owner = opts.owner ?? randomUUID();
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? timer;
  const random = opts.random ?? Math.random;
  const log = opts.logger.child({ reactor: r.name });
  const sql = opts.sql;
  await migrateReactorWork(sql);
  const dlq = deadLetterSender({
    log: opts.log,
    namespace,
    consumer: consumerName,
    logger: log,
    metrics: opts.metrics,
    label: r.name,
  });

  /**
   * Claims the event for this worker: a new row, a claim whose lease ran out,
   * or (for a redriven event) a dead row. Returns the attempts already made,
   * or null when the row is done, dead, or another worker's live claim.
   */
  const claim = async (e: RecordedEvent, redriven: boolean): Promise<number | null> => {
    const t = now();
    const [row] = await sql.query<{ attempts: number }>(
      `insert into reactor_work (reactor, event_id, event_type, correlation_id, state, owner, lease_until, first_seen, updated_at)
       values ($1, $2::uuid, $3, $4, 'claimed', $5, $6::timestamptz, $7::timestamptz, $7::timestamptz)
       on conflict (reactor, event_id) do update
         set state = 'claimed', owner = excluded.owner, lease_until = excluded.lease_until,
             updated_at = excluded.updated_at,
             attempts = case when reactor_work.state = 'dead' then 0 else reactor_work.attempts end
       where (reactor_work.state = 'claimed' and (reactor_work.owner = excluded.owner or reactor_work.lease_until <= excluded.updated_at))
          or (reactor_work.state = 'dead' and $8::boolean)
       returning attempts`,
      [r.name, e.id, e.type, e.metadata.correlationId, owner, iso(t + leaseMs), iso(t), redriven],
    );
    if (row) return row.attempts;
    const [held] = await sql.query<{ state: string }>(
      'select state from reactor_work where reactor = $1 and event_id = $2::uuid',
      [r.name, e.id],
    );
    if (held?.state === 'claimed') throw new HeldElsewhere(`event ${e.id} is claimed by another worker`);
    return null;
  };

  const record = async (e: RecordedEvent, set: Record<string, unknown>): Promise<void> => {
    const cols = Object.keys(set);
    await sql.query(
      `update reactor_work set ${cols.map((c, i) => `${c} = $${i + 4}`).join(', ')}, updated_at = $3::timestamptz
        where reactor = $1 and event_id = $2::uuid and owner = $${cols.length + 4}`,
      [r.name, e.id, iso(now()), ...Object.values(set), owner],
    );
  };

  const react = async (message: LogMessage, e: RecordedEvent, signal: AbortSignal): Promise<void> => {
    const redriven = message.headers[REDRIVE_FOR] === consumerName;
    const before = await claim(e, redriven);
    const letter = redriven ? (message.headers[REDRIVEN_FROM] ?? `${message.topic}@${message.offset}`) : null;
    if (before === null) return;
    // The worker's lag in time; a redriven letter is old on purpose and would only hide it.
    if (!redriven)
      opts.metrics?.reactorLagMs.set({ reactor: r.name }, Math.max(0, now() - Date.parse(e.occurredAt)));
    const context = { eventId: e.id, eventType: e.type, correlationId: e.metadata.correlationId };
    for (let n = before + 1; ; n++) {
      opts.metrics?.reactorAttempts.inc({ reactor: r.name });
      await record(e, { attempts: n, lease_until: iso(now() + leaseMs) });
      try {
        const keepAlive = () => record(e, { lease_until: iso(now() + leaseMs) });
        const result = await r.handle(e, {
          number: n,
          final: n >= attempts,
          redriven: letter,
          signal,
          keepAlive,
        });
        await record(e, {
          state: 'done',
          outcome: result.outcome,
          ref: result.ref ?? null,
          last_error: null,
        });
        log.info({ ...context, attempt: n, outcome: result.outcome, ref: result.ref ?? null }, 'reacted');
        return;
      } catch (error) {
        const permanent = error instanceof PermanentFailure;
        const reason = (error as Error)?.message ?? String(error);
        if (permanent || n >= attempts) {
          await dlq.send(message, error, n, { ...context, attempt: n });
          await record(e, { state: 'dead', last_error: clip(reason, 2000) });
          return;
        }
        const backoff = baseDelay * 2 ** (n - before - 1);
        // A provider that said when to come back (429 with Retry-After) is not asked sooner; the
        // claim is held for the whole pause, so no other worker takes the event over meanwhile.
        const asked = retryAfterOf(error);
        const pause = Math.max(backoff + Math.floor(random() * backoff), Math.min(asked ?? 0, maxRetryAfter));
        await record(e, { last_error: clip(reason, 2000), lease_until: iso(now() + pause + leaseMs) });
        opts.metrics?.consumerRetries.inc({ consumer: r.name });
        log.warn({ ...context, err: error, attempt: n, pauseMs: pause }, 'reaction failed; retrying');
        await sleep(pause);
      }
    }
  };

  const handleBatch = async (batch: Batch, control: { signal: AbortSignal }): Promise<void> => {
    for (const message of batch.messages) {
      let event: RecordedEvent;
      try {
        event = fromLogMessage(message);
      } catch (error) {
        await dlq.send(message, error, 1);
        continue;
      }
      if (!acts.has(event.type)) continue;
      try {
        await inSpan(
          `react ${r.name}`,
          {
            parent: message.headers.traceparent,
            attributes: {
              'lectern.worker': r.name,
              'lectern.event.type': event.type,
              'lectern.event.id': event.id,
            },
          },
          () => react(message, event, control.signal),
        );
      } catch (error) {
        // The log delivers the batch again later; what was done in it is skipped then.
        if (error instanceof HeldElsewhere) opts.metrics?.consumerRetries.inc({ consumer: r.name });
        throw error;
      }
    }
  };

  const watch = progressWatch({
    name: consumerName,
    group,
    topics,
    log: opts.log,
    metrics: opts.metrics,
    ...(opts.stallAfterMs === undefined ? {} : { stallAfterMs: opts.stallAfterMs }),
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  const pending = async (): Promise<void> => {
    const [row] = await sql.query<{ first_seen: Date | string | null }>(
      `select min(first_seen) as first_seen from reactor_work where reactor = $1 and state = 'claimed'`,
      [r.name],
    );
    const oldest = row?.first_seen ? new Date(row.first_seen).getTime() : null;
    opts.metrics?.reactorOldestPendingSeconds.set(
      { reactor: r.name },
      oldest === null ? 0 : Math.max(0, (now() - oldest) / 1000),
    );
  };
  let pendingTimer: NodeJS.Timeout | null = null;

  let consumer: Consumer | null = null;
  return {
    reaction: r,
    async start() {
      if (consumer) return;
      await opts.log.ensureTopics([
        ...topics.map((topic) => ({ topic, partitions: 4 })),
        { topic: dlq.topic, partitions: 1 },
      ]);
      consumer = opts.log.consume({ groupId: group, topics, handleBatch, maxBatchSize: 100 });
      await consumer.ready;
      watch.start();
      pendingTimer = setInterval(() => void pending().catch(() => {}), 5000);
      pendingTimer.unref();
    },
    async stop() {
      watch.stop();
      if (pendingTimer) clearInterval(pendingTimer);
      pendingTimer = null;
      const c = consumer;
      consumer = null;
      await c?.stop();
    },
    isRunning: () => consumer?.isRunning() ?? false,
    progress: watch.progress,
  };
};

/**
 * A reaction as one of a module's workers (`ContextModule.workers`): its
 * consumer group is `<ns>.worker.<name>`, its dead letters
 * `<ns>.dlq.worker.<name>`. The reaction is made when the worker starts,
 * so what it needs that takes I/O (a provider's connection pool, a
 * migration) is made in the `workers` role only.
 *
 * @example
 *   workers: [reactorWorker({ name: 'notifications', contexts: ['identity'],
 *     reaction: async (p) => ({ reaction: notificationsReaction({ sql: p.sql, … }) }) })]
 */
export const reactorWorker = (def: {
  name: string;
  contexts: readonly string[];
  /** Makes the reaction, and what releases what it holds (a provider's connection pool) when the worker stops. */
  reaction: (platform: Platform) => Promise<Readonly<{ reaction: Reaction; close?: () => Promise<void> }>>;
  options?: Pick<ReactorOptions, 'attempts' | 'baseDelayMs' | 'leaseMs'>;
}): ModuleConsumer => ({
  name: `worker.${def.name}`,
  kind: 'worker',
  group: (ns) => `${ns}.worker.${def.name}`,
  topics: (ns) => def.contexts.map((c) => topicOf(c, ns)),
  deadLetters: `worker.${def.name}`,
  create: (p) => {
    let running: RunningReactor | null = null;
    let close: (() => Promise<void>) | undefined;
    return {
      async start() {
        if (running) return;
        const made = await def.reaction(p);
        const reaction = made.reaction;
        close = made.close;
        if (reaction.name !== def.name || reaction.contexts.join() !== def.contexts.join())
          throw new Error(`worker ${def.name}: its reaction is named or subscribed differently`);
        running = await startReactor({
          leaseMs: p.workerLeaseMs,
          ...def.options,
          reaction,
          sql: p.sql,
          log: p.log,
          logger: p.logger,
          metrics: p.metrics,
          namespace: p.namespace,
          stallAfterMs: p.consumerStallMs,
        });
        await running.start();
      },
      async stop() {
        await running?.stop();
        running = null;
        await close?.();
        close = undefined;
      },
      isRunning: () => running?.isRunning() ?? false,
      progress: () => running?.progress() ?? { lag: null, stalledForMs: 0, stalled: false },
    };
  },
});
