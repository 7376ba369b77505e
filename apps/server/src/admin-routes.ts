import { Router } from 'express';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import {
  RebuildNotVerified,
  projectionRunner,
  type ProjectionRunner,
  type RebuildOptions,
  type RebuildResult,
} from '@lectern/infra/runtime/projection-runner';
import { liveTables } from '@lectern/infra/runtime/projection-runner';
import { ProjectionBusy } from '@lectern/infra/runtime/rebuild-lock';
import type { SqlProjection } from '@lectern/infra/runtime/projection';
import { primaryKeyOf } from '@lectern/infra/runtime/rebuild-verify';
import {
  LineageRequestInvalid,
  traceRows,
  type Lineage,
  type RowKey,
} from '@lectern/infra/runtime/row-lineage';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import type { Logger } from '@lectern/infra/runtime/logger';
import type { Sql } from '@lectern/infra/sql/sql';
import { topicOf } from '@lectern/schemas';
import { auditQuery, diffQuery, explainQuery, rebuildQuery } from '@lectern/schemas/operations/api';
import { auditProjection } from '@lectern/infra/runtime/projection-audit';
import type { RecordAdminAction } from './admin-actions.ts';
import { workBoard } from './projection-work.ts';

type StatusRow = {
  name: string;
  version: number;
  applied_events: string;
  last_position: string | null;
  last_event_at: string | null;
  last_applied_at: string | null;
  rebuilt_at: string | null;
};

/**
 * Operating the read models: their status, and a rebuild from position zero
 * (shadow tables, atomic swap) of a SQL read model or of a consumer that can
 * rebuild what it feeds (the analytics tables in ClickHouse).
 *
 * A rebuild needs the store and the read-model database only, not the
 * model's consumer: the swap locks the live tables and replays the last
 * events under that lock, so a consumer anywhere (this process, a
 * projections process, several replicas) waits for the swap and then goes
 * on in the new tables. The analytics tables have no lock and no
 * checkpoint but the projector's log offsets, so their rebuild waits for
 * that consumer, wherever it runs, to commit past the replay's end (see
 * `rebuildAnalytics`). Every process that has the `api` or the
 * `projections` role serves these routes, so `lectern rebuild` works
 * whichever of them it reaches.
 */
export const projectionAdminRoutes = (deps: {
  sql: Sql;
  log: MessageLog;
  store: EventStore;
  logger: Logger;
  namespace: string;
  /** Every read model of the deployment, running here or not. */
  projections: readonly SqlProjection[];
  /** The ones this process consumes. */
  runners: readonly ProjectionRunner[];
  /** The other consumers of the deployment (the ClickHouse projector), and whether each runs here. */
  consumers: readonly Readonly<{
    name: string;
    kind: string;
    group: string;
    topics: readonly string[];
    runningHere: () => boolean;
    /** Present where it can be rebuilt (the ClickHouse projector; never a worker). */
    rebuild?: (opts: Readonly<{ acceptDifferences: boolean }>) => Promise<RebuildResult>;
  }>[];
  verify: (token: string) => Promise<VerifiedToken>;
  record: RecordAdminAction;
}): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('admin')];
  const board = workBoard();

  // Messages a group has not committed, over its topics; null when the log cannot say.
  const lagOf = async (group: string, topics: readonly string[]): Promise<number | null> => {
    try {
      const all = await Promise.all(topics.map((topic) => deps.log.lag(group, topic)));
      return all.flat().reduce((n, p) => n + Number(BigInt(p.end) - BigInt(p.committed ?? '0')), 0);
    } catch {
      return null;
    }
  };
  const group = (name: string) => `${deps.namespace}.projection.${name}`;

  // One case (camelCase, as every other answer of the API), and every
  // projector, those outside PostgreSQL included.
  router.get('/api/admin/projections', ...guard, async (_req, res) => {
    const rows = await deps.sql.query<StatusRow>(
      `select name, version, applied_events::text as applied_events, last_position::text as last_position,
              last_event_at, last_applied_at, rebuilt_at from projection_status order by name`,
    );
    const running = new Set(deps.runners.filter((r) => r.isRunning()).map((r) => r.projection.name));
    const iso = (t: string | Date | null) => (t === null ? null : new Date(t).toISOString());
    const sqlItems = await Promise.all(
      rows.map(async (r) => {
        const p = deps.projections.find((x) => x.name === r.name);
        return {
          name: r.name,
          kind: 'sql' as const,
          version: r.version,
          appliedEvents: r.applied_events,
          lastPosition: r.last_position,
          lastEventAt: iso(r.last_event_at),
          lastAppliedAt: iso(r.last_applied_at),
          rebuiltAt: iso(r.rebuilt_at),
          lag: p
            ? await lagOf(
                group(r.name),
                p.contexts.map((c) => topicOf(c, deps.namespace)),
              )
            : null,
          runningHere: running.has(r.name),
          work: board.of(r.name),
        };
      }),
    );
    const others = await Promise.all(
      deps.consumers.map(async (c) => ({
        name: c.name,
        kind: c.kind,
        version: null,
        appliedEvents: null,
        lastPosition: null,
        lastEventAt: null,
        lastAppliedAt: null,
        rebuiltAt: null,
        lag: await lagOf(c.group, c.topics),
        runningHere: c.runningHere(),
        work: board.of(c.name),
      })),
    );
    res.json({ items: [...sqlItems, ...others] });
  });

  const rebuildable = deps.consumers.filter((c) => c.rebuild);
  const projectionOf = (name: string, others: readonly { name: string }[] = []): SqlProjection => {
    const projection = deps.projections.find((p) => p.name === name);
    if (!projection)
      throw new Problem('not_found', 'projection_not_found', `There is no projection '${name}'.`, {
        extra: { known: [...deps.projections, ...others].map((p) => p.name) },
      });
    return projection;
  };
  /** The projection's runner here, or one made only to rebuild (never started, it consumes nothing). */
  const runnerOf = async (
    name: string,
    others: readonly { name: string }[] = [],
  ): Promise<ProjectionRunner> => {
    const projection = projectionOf(name, others);
    return (
      deps.runners.find((r) => r.projection.name === name) ??
      (await projectionRunner({
        projection,
        sql: deps.sql,
        log: deps.log,
        store: deps.store,
        logger: deps.logger,
        namespace: deps.namespace,
      }))
    );
  };
  const notVerified = (name: string) => (error: unknown) => {
    if (error instanceof ProjectionBusy)
      throw new Problem(
        'conflict',
        'projection_busy',
        `A rebuild, diff or audit of ${name} is running already (here or in another process); ` +
          'try again once it has finished.',
      );
    if (error instanceof RebuildNotVerified)
      throw new Problem(
        'conflict',
        'rebuild_not_verified',
        `The rebuild of ${name} was not verified: ${error.reason}.`,
      );
    throw error;
  };

  /** Row lineage by a replay into scratch tables; a key, table or field the model lacks is a 400. */
  const trace = (
    projection: SqlProjection,
    rows: readonly RowKey[],
    opts: { field?: string; toPosition?: number },
  ) =>
    traceRows({ sql: deps.sql, store: deps.store, projection, rows, ...opts }).catch((error: unknown) => {
      if (error instanceof LineageRequestInvalid)
        throw new Problem('validation', error.code, error.message, {
          issues: [{ path: error.path, message: error.message }],
        });
      throw error;
    });
  /** Each watched row with its changes, the events shown without their data (history shows it, redacted). */
  const rowsOf = (lineage: Lineage) =>
    lineage.rows.map((row) => ({
      ...row,
      steps: lineage.steps
        .filter((s) => s.table === row.table && sameKey(s.key, row.key))
        .map((s) => ({
          op: s.op,
          changed: s.changed,
          event: {
            id: s.event.id,
            streamId: s.event.streamId,
            revision: s.event.revision,
            position: s.event.position,
            occurredAt: s.event.occurredAt,
            type: s.event.type,
            actor: s.event.metadata.actor,
            correlationId: s.event.metadata.correlationId,
            causationId: s.event.metadata.causationId,
          },
        })),
    }));

  /** `at`: a global position the store has reached, or a 400 that says why not. */
  const atOf = async (value: unknown): Promise<number | undefined> => {
    if (value === undefined) return undefined;
    const r = diffQuery.at(value, '/at');
    if (!r.ok) throw validationProblem(r.issues, 'The query parameter at is not valid.');
    const head = await deps.store.headPosition();
    if (head === null || r.value > head)
      throw new Problem(
        'validation',
        'position_beyond_head',
        head === null
          ? `The store holds no events yet, so there is no position ${r.value}.`
          : `Position ${r.value} is past the newest event of the store (${head}): give at most ${head}.`,
        {
          issues: [{ path: '/at', message: `must be at most ${head ?? 'a position the store has'}` }],
          extra: { headPosition: head },
        },
      );
    return r.value;
  };

  // Changes nothing: replays into shadow tables and compares, at one position, as a rebuild does;
  // then names the events behind each differing row. With `at`, as the live model stood at a position.
  router.get('/api/admin/projections/:name/diff', ...guard, async (req, res) => {
    const runner = await runnerOf(String(req.params.name));
    const name = runner.projection.name;
    const at = await atOf(req.query.at);
    const started = performance.now();
    const { verification, events, rows } = await board.track(name, 'diff', async ({ onProgress, phase }) => {
      const compared = await runner
        .rebuild({ compareOnly: true, onProgress, ...(at === undefined ? {} : { at }) })
        .catch(notVerified(name));
      const differing = compared.verification.tables.flatMap((t) =>
        t.differingKeys.map((key) => ({ table: t.table, key })),
      );
      if (differing.length === 0) return { ...compared, rows: [] };
      phase('explain');
      // As of `at`, the events up to it: the ones that made the row the live model should hold.
      const toPosition = at ?? compared.verification.position ?? undefined;
      return { ...compared, rows: rowsOf(await trace(runner.projection, differing, { toPosition })) };
    });
    const seconds = (performance.now() - started) / 1000;
    const differingRows = verification.tables.reduce((n, t) => n + t.differingRows, 0);
    req.log.info(
      { projection: name, actor: req.ctx.actor?.userId, events, differingRows, at },
      'projection diffed',
    );
    res.json({ projection: name, events, seconds, verification, rows });
  });

  // Changes nothing: the events that made one row, by a replay that watches it.
  router.get('/api/admin/projections/:name/explain', ...guard, async (req, res) => {
    const projection = projectionOf(String(req.params.name));
    const query = <K extends keyof typeof explainQuery>(name: K, required = false): string | undefined => {
      const value = req.query[name];
      if (value === undefined && !required) return undefined;
      const r = explainQuery[name](value, `/${name}`);
      if (!r.ok) throw validationProblem(r.issues, `The query parameter ${name} is not valid.`);
      return r.value;
    };
    const keyText = query('key', true)!;
    const field = query('field');
    const table = query('table') ?? (projection.tables.length === 1 ? projection.tables[0] : undefined);
    if (table === undefined)
      throw new Problem(
        'validation',
        'table_required',
        `${projection.name} has several tables (${projection.tables.join(', ')}): say which with table.`,
        { issues: [{ path: '/table', message: `one of ${projection.tables.join(', ')}` }] },
      );
    if (!projection.tables.includes(table))
      throw new Problem(
        'validation',
        'unknown_table',
        `${projection.name} has no table ${table}; its tables are ${projection.tables.join(', ')}.`,
        { issues: [{ path: '/table', message: `one of ${projection.tables.join(', ')}` }] },
      );
    const key = await keyOf(projection, table, keyText);
    const started = performance.now();
    const lineage = await trace(projection, [{ table, key }], { field });
    const seconds = (performance.now() - started) / 1000;
    req.log.info(
      { projection: projection.name, table, actor: req.ctx.actor?.userId, events: lineage.events },
      'projection row explained',
    );
    res.json({
      projection: projection.name,
      field: field ?? null,
      events: lineage.events,
      seconds,
      row: rowsOf(lineage)[0],
    });
  });

  /** `key` as the table's key columns: a JSON object of them, or the value of a one-column key. */
  const keyOf = async (
    projection: SqlProjection,
    table: string,
    text: string,
  ): Promise<Record<string, string>> => {
    const columns = await primaryKeyOf(deps.sql, liveTables(projection)[table]!);
    const wrong = (why: string) =>
      new Problem(
        'validation',
        'key_columns',
        `A row of ${table} is named by ${columns.join(', ')}: ${why}.`,
        {
          issues: [{ path: '/key', message: why }],
        },
      );
    if (!text.startsWith('{')) {
      if (columns.length !== 1) throw wrong('give a JSON object of those columns');
      return { [columns[0]!]: text };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw wrong('the key is not a JSON object');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw wrong('the key is not a JSON object');
    const entries = Object.entries(parsed);
    if (entries.some(([, v]) => typeof v !== 'string' && typeof v !== 'number'))
      throw wrong('each key value is a string or a number');
    return Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
  };

  /** A SQL read model's runner, or a consumer that rebuilds what it feeds (which tells no progress). */
  const rebuilderOf = async (name: string) => {
    const consumer = rebuildable.find((c) => c.name === name);
    const rebuildConsumer = consumer?.rebuild;
    if (rebuildConsumer)
      return {
        name,
        rebuild: (o: RebuildOptions) => rebuildConsumer({ acceptDifferences: o.acceptDifferences ?? false }),
      };
    const runner = await runnerOf(name, rebuildable);
    return { name: runner.projection.name, rebuild: runner.rebuild };
  };

  router.post('/api/admin/projections/:name/rebuild', ...guard, async (req, res) => {
    const { name, rebuild } = await rebuilderOf(String(req.params.name));
    const accept = rebuildQuery.acceptDifferences(
      req.query.acceptDifferences ?? 'false',
      '/acceptDifferences',
    );
    if (!accept.ok)
      throw validationProblem(accept.issues, 'The query parameter acceptDifferences is not valid.');
    const result = await board
      .track(name, 'rebuild', ({ onProgress }) =>
        rebuild({ acceptDifferences: accept.value === 'true', onProgress }),
      )
      .catch(notVerified(name));
    const { verification, events, seconds, swapped } = result;
    const differingRows = verification.tables.reduce((n, t) => n + t.differingRows, 0);
    await deps.record(req, {
      action: 'projection.rebuild',
      target: name,
      parameters: { acceptDifferences: accept.value === 'true' },
      outcome: swapped ? 'done' : 'refused',
      result: { events, seconds, swapped, position: verification.position, differingRows },
    });
    req.log.info(
      { projection: name, actor: req.ctx.actor?.userId, events, seconds, swapped, differingRows },
      swapped ? 'projection rebuilt' : 'projection rebuilt, not swapped in: it differs from the live model',
    );
    if (!swapped)
      throw new Problem(
        'conflict',
        'rebuild_differs',
        `The rebuilt ${name} differs from the live model in ${differingRows} rows; the live model is kept. ` +
          'Rebuild with acceptDifferences=true to swap it in anyway.',
        { extra: { projection: name, events, seconds, verification } },
      );
    res.json({ projection: name, ...result });
  });

  // The ledger of each stream against the store; then, unless eventsOnly, the rows against a replay.
  router.post('/api/admin/projections/:name/audit', ...guard, async (req, res) => {
    const projection = projectionOf(String(req.params.name));
    const flag = (name: keyof typeof auditQuery): boolean => {
      const r = auditQuery[name](req.query[name] ?? 'false', `/${name}`);
      if (!r.ok) throw validationProblem(r.issues, `The query parameter ${name} is not valid.`);
      return r.value === 'true';
    };
    const [repair, eventsOnly] = [flag('repair'), flag('eventsOnly')];
    const name = projection.name;
    const report = await auditProjection({ sql: deps.sql, store: deps.store, projection, repair });
    const runner = eventsOnly ? null : await runnerOf(name);
    const rows = runner
      ? (
          await board
            .track(name, 'audit', ({ onProgress }) => runner.rebuild({ compareOnly: true, onProgress }))
            .catch(notVerified(name))
        ).verification
      : null;
    const differingRows = rows?.tables.reduce((n, t) => n + t.differingRows, 0) ?? null;
    await deps.record(req, {
      action: 'projection.audit',
      target: name,
      parameters: { repair, eventsOnly },
      outcome: 'done',
      result: { events: report.events, findings: report.findings, repaired: report.repaired, differingRows },
    });
    req.log.info(
      { projection: name, actor: req.ctx.actor?.userId, findings: report.findings, differingRows },
      'projection audited',
    );
    res.json({ ...report, rows });
  });

  return router;
};

const sameKey = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};
