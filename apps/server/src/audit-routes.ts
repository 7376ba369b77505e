import { Router, type Request, type Response } from 'express';
import { contextOf, type Issue, type RecordedEvent, type Validator } from '@lectern/schemas';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { jsonBody } from '@lectern/infra/http/app';
import { START, type EventStore, type FeedCursor } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import { eventPublisher } from '@lectern/infra/runtime/relay';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import {
  categoryOf,
  decodeStreamEvent,
  redact,
  UnknownStreamEvent,
  type StreamKind,
} from '@lectern/infra/runtime/stream-kinds';
import {
  auditLimitParam,
  correlationIdParam,
  exportQuery,
  fromRevisionParam,
  republishRequest,
  streamIdParam,
} from '@lectern/schemas/operations/audit-api';
import { integerString, isoTime } from '@lectern/schemas';
import type { RecordAdminAction } from './admin-actions.ts';

const DEFAULT_LIMIT = 1000;
/** Events read from the store at a time by export and republish. */
const PAGE = 1000;

/**
 * The events at global positions `from` to `to`, page by page in feed
 * order, up to the feed's head when the read began (events appended during
 * it are left to the next). Positions need not grow along the feed (a SQL
 * store orders it by commit), so the range is a filter, not a seek.
 */
async function* eventsBetween(
  store: EventStore,
  range: Readonly<{ from: number; to: number; stream?: string }>,
): AsyncGenerator<readonly RecordedEvent[]> {
  const inRange = (e: RecordedEvent) => e.position >= range.from && e.position <= range.to;
  if (range.stream !== undefined) {
    for (let revision = 0; ;) {
      const page = await store.readStream(range.stream, { fromRevision: revision, maxCount: PAGE });
      if (page.length === 0) return;
      yield page.filter(inRange);
      revision = page[page.length - 1]!.revision + 1;
    }
  }
  const head = await store.headCursor();
  if (head === START) return;
  for (let cursor: FeedCursor = START; ;) {
    const page = await store.readAll(cursor, PAGE);
    const upToHead = page.filter((e) => store.compareCursors(e.cursor, head) <= 0);
    yield upToHead.filter(inRange);
    if (upToHead.length < page.length || page.length === 0) return;
    cursor = page[page.length - 1]!.cursor;
    if (store.compareCursors(cursor, head) >= 0) return;
  }
}

/** A range whose end comes before its start: schema-valid, so a code of its own. */
const rangeReversed = () =>
  new Problem('validation', 'range_reversed', 'to is before from: give the lower position as from.', {
    issues: [{ path: '/to', message: 'must not be before from' }],
  });

/** Writes a line, waiting while the client's socket is full; false once the client has gone. */
const writeLine = async (res: Response, line: string): Promise<boolean> => {
  if (res.destroyed) return false;
  if (res.write(line)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
  return !res.destroyed;
};

/**
 * Audit reads of the event store, for admins (`lectern history|related|as-of`):
 * a stream's events, one correlation's events across streams, and an
 * aggregate's state as of a time, revision or position, folded by the
 * decider its context declares (`ContextModule.streams`). They read the
 * store only, so any process with the `api` or `projections` role answers
 * them, in every topology. Every answer goes through its stream kind's
 * redaction: no secret-derived value leaves the process.
 */
export const auditRoutes = (deps: {
  store: EventStore;
  /** Where `republish` sends events again, under the deployment's topic prefix. */
  log: MessageLog;
  namespace: string;
  /** Every stream kind of the deployment, from its modules. */
  streams: readonly StreamKind[];
  verify: (token: string) => Promise<VerifiedToken>;
  record: RecordAdminAction;
}): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('admin')];
  const kinds = new Map<string, StreamKind>();
  for (const kind of deps.streams) {
    if (kinds.has(kind.category)) throw new Error(`two modules declare the stream category ${kind.category}`);
    kinds.set(kind.category, kind);
  }
  // An event of a category no module declares (another writer's) hides every field any module hides.
  const everyRedaction = [...new Set(deps.streams.flatMap((k) => k.redact))];

  const param = <T>(validator: Validator<T>, value: unknown, name: string, where = 'query'): T => {
    const r = validator(value, `/${name}`);
    if (!r.ok) throw validationProblem(r.issues, `The ${where} parameter ${name} is not valid.`);
    return r.value;
  };
  const optional = <T>(req: Request, validator: Validator<T>, name: string): T | undefined =>
    req.query[name] === undefined ? undefined : param(validator, req.query[name], name);

  const kindOf = (streamId: string): StreamKind => {
    const category = categoryOf(streamId);
    const kind = category === null ? undefined : kinds.get(category);
    if (!kind)
      throw new Problem(
        'not_found',
        'stream_category_unknown',
        `No context declares streams of the category '${category ?? streamId}'; stream ids are <category>-<id>.`,
        { extra: { known: [...kinds.keys()].sort() } },
      );
    return kind;
  };

  const shown = (e: RecordedEvent, keys: readonly string[]) => ({
    id: e.id,
    streamId: e.streamId,
    revision: e.revision,
    position: e.position,
    occurredAt: e.occurredAt,
    type: e.type,
    schemaVersion: e.schemaVersion,
    actor: e.metadata.actor,
    causationId: e.metadata.causationId,
    correlationId: e.metadata.correlationId,
    requestId: e.metadata.requestId,
    data: redact(e.data, keys),
  });

  const noEvents = (streamId: string) =>
    new Problem('not_found', 'stream_not_found', `The stream ${streamId} has no events (check the id).`);

  router.get('/api/admin/streams/:streamId/events', ...guard, async (req, res) => {
    const streamId = param(streamIdParam, req.params.streamId, 'streamId', 'path');
    const kind = kindOf(streamId);
    const fromRevision = optional(req, fromRevisionParam, 'fromRevision') ?? 0;
    const limit = optional(req, auditLimitParam, 'limit') ?? DEFAULT_LIMIT;
    const events = await deps.store.readStream(streamId, { fromRevision, maxCount: limit });
    // Past the end (a follower waiting for more) is an empty page; a stream with none at all is a 404.
    if (events.length === 0 && (await deps.store.readStream(streamId, { maxCount: 1 })).length === 0)
      throw noEvents(streamId);
    const last = events[events.length - 1];
    req.log.info({ streamId, actor: req.ctx.actor?.userId, fromRevision }, 'audit: stream history read');
    res.json({
      streamId,
      category: kind.category,
      items: events.map((e) => shown(e, kind.redact)),
      nextRevision: last ? last.revision + 1 : fromRevision,
    });
  });

  router.get('/api/admin/correlations/:correlationId/events', ...guard, async (req, res) => {
    const correlationId = param(correlationIdParam, req.params.correlationId, 'correlationId', 'path');
    const limit = optional(req, auditLimitParam, 'limit') ?? DEFAULT_LIMIT;
    const events = await deps.store.readCorrelation(correlationId, { maxCount: limit });
    if (events.length === 0)
      throw new Problem(
        'not_found',
        'correlation_not_found',
        `No event carries the correlation id ${correlationId} (history shows each event's).`,
      );
    req.log.info({ correlationId, actor: req.ctx.actor?.userId }, 'audit: correlation read');
    res.json({
      correlationId,
      items: events.map((e) => {
        const category = categoryOf(e.streamId);
        return shown(e, (category !== null && kinds.get(category)?.redact) || everyRedaction);
      }),
    });
  });

  router.get('/api/admin/streams/:streamId/state', ...guard, async (req, res) => {
    const streamId = param(streamIdParam, req.params.streamId, 'streamId', 'path');
    // 1. Exactly one cut, each checked.
    const given = (['time', 'revision', 'position'] as const).filter((n) => req.query[n] !== undefined);
    if (given.length !== 1) {
      const issues: Issue[] = (given.length ? given : ['time']).map((n) => ({
        path: `/${n}`,
        message: 'give exactly one of time, revision or position',
      }));
      throw validationProblem(issues, 'Give exactly one of time, revision or position.');
    }
    let included: (e: RecordedEvent) => boolean;
    if (given[0] === 'time') {
      const time = param(isoTime(), req.query.time, 'time');
      const at = Date.parse(time);
      if (Number.isNaN(at))
        throw validationProblem(
          [{ path: '/time', message: 'must be a real instant' }],
          'The time is not valid.',
        );
      included = (e) => Date.parse(e.occurredAt) <= at;
    } else {
      const n = param(integerString({ min: 0 }), req.query[given[0]!], given[0]!);
      included = given[0] === 'revision' ? (e) => e.revision <= n : (e) => e.position <= n;
    }
    const kind = kindOf(streamId);
    const decider = kind.decider;
    if (!decider)
      throw new Problem(
        'conflict',
        'stream_has_no_state',
        `${kind.category} streams record facts (${kind.description}) that no decider folds: read their history instead.`,
      );
    // 2. The stream's prefix up to the cut (positions and times grow along a stream).
    const events = await deps.store.readStream(streamId);
    if (events.length === 0) throw noEvents(streamId);
    const cut = events.findIndex((e) => !included(e));
    const prefix = cut === -1 ? events : events.slice(0, cut);
    // 3. Fold, each event decoded to its newest version; one the decider does not know stops it.
    let state = decider.initialState();
    try {
      for (const e of prefix) state = decider.evolve(state, decodeStreamEvent(kind, e));
    } catch (error) {
      if (error instanceof UnknownStreamEvent)
        throw new Problem('conflict', 'unknown_stream_event', `Cannot fold: ${error.message}.`, {
          extra: { revision: error.revision, eventType: error.eventType },
        });
      throw error;
    }
    const last = prefix[prefix.length - 1];
    req.log.info({ streamId, actor: req.ctx.actor?.userId, cut: given[0] }, 'audit: state as of');
    res.json({
      streamId,
      category: kind.category,
      state: redact(state, kind.redact),
      revision: last ? last.revision : -1,
      position: last ? last.position : null,
      occurredAt: last ? last.occurredAt : null,
      eventsFolded: prefix.length,
    });
  });

  router.get('/api/admin/events/export', ...guard, async (req, res) => {
    const from = optional(req, exportQuery.from, 'from') ?? 0;
    const to = optional(req, exportQuery.to, 'to') ?? Number.MAX_SAFE_INTEGER;
    const stream = optional(req, exportQuery.stream, 'stream');
    const type = optional(req, exportQuery.type, 'type');
    const since = optional(req, exportQuery.since, 'since');
    if (to < from) throw rangeReversed();
    const sinceMs = since === undefined ? null : Date.parse(since);
    if (Number.isNaN(sinceMs))
      throw validationProblem(
        [{ path: '/since', message: 'must be a real instant' }],
        'The time is not valid.',
      );
    const wanted = (e: RecordedEvent) =>
      (type === undefined || e.type === type) && (sinceMs === null || Date.parse(e.occurredAt) >= sinceMs);
    const redactionOf = (e: RecordedEvent) => {
      const category = categoryOf(e.streamId);
      return (category !== null && kinds.get(category)?.redact) || everyRedaction;
    };
    res.status(200).type('application/x-ndjson');
    res.flushHeaders();
    let exported = 0;
    try {
      pages: for await (const page of eventsBetween(deps.store, {
        from,
        to,
        ...(stream ? { stream } : {}),
      })) {
        for (const e of page) {
          if (!wanted(e)) continue;
          if (!(await writeLine(res, `${JSON.stringify(shown(e, redactionOf(e)))}\n`))) break pages;
          exported++;
        }
      }
    } catch (error) {
      // The status is sent: the client learns of the failure by the cut, and reads on from its last line.
      req.log.error({ err: error, exported }, 'audit: export cut off');
      res.destroy();
      return;
    }
    req.log.info(
      { actor: req.ctx.actor?.userId, from, to, stream, type, since, exported, complete: !res.destroyed },
      'audit: events exported',
    );
    res.end();
  });

  const publish = eventPublisher({ log: deps.log, namespace: deps.namespace, name: 'republish' });
  router.post('/api/admin/events/republish', ...guard, async (req, res) => {
    const checked = republishRequest(jsonBody(req), '');
    if (!checked.ok) throw validationProblem(checked.issues, 'The republish request is not valid.');
    const body = checked.value;
    if (body.to < body.from) throw rangeReversed();
    const context = body.context ?? null;
    const dryRun = body.dryRun ?? false;
    const byContext: Record<string, number> = {};
    let events = 0;
    for await (const page of eventsBetween(deps.store, body)) {
      const chosen = page.filter((e) => context === null || contextOf(e.type) === context);
      if (chosen.length === 0) continue;
      if (!dryRun) await publish(chosen);
      for (const e of chosen) byContext[contextOf(e.type)] = (byContext[contextOf(e.type)] ?? 0) + 1;
      events += chosen.length;
    }
    req.log.info(
      { actor: req.ctx.actor?.userId, from: body.from, to: body.to, context, dryRun, events },
      dryRun ? 'audit: republish counted' : 'audit: events republished',
    );
    // A dry run changes nothing: it is in the log only.
    if (!dryRun)
      await deps.record(req, {
        action: 'events.republish',
        target: `${body.from}..${body.to}`,
        parameters: { from: body.from, to: body.to, context },
        outcome: 'done',
        result: { events, byContext },
      });
    res.json({ from: body.from, to: body.to, context, dryRun, events, byContext });
  });

  return router;
};
