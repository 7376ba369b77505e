import { createHttpApp, sendProblem, type ReadinessCheck } from '@lectern/infra/http/app';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import type { Sql } from '@lectern/infra/sql/index';
import { createLogger, type Logger } from '@lectern/infra/runtime/logger';
import { createMetrics, type Metrics } from '@lectern/infra/runtime/metrics';
import { startRelay, type Relay } from '@lectern/infra/runtime/relay';
import { scheduledAudits } from '@lectern/infra/runtime/projection-audit';
import {
  projectionRunner,
  projectionStatusMigrations,
  waitForCheckpoint,
  type ProjectionRunner,
} from '@lectern/infra/runtime/projection-runner';
import { randomIds, systemClock } from '@lectern/infra/runtime/ids';
import { migrate } from '@lectern/infra/sql/migrate';
import { dlqTopicOf } from '@lectern/infra/runtime/dead-letters';
import { consumerReadiness } from '@lectern/infra/runtime/progress';
import { measuredConsistencyWait } from '@lectern/infra/runtime/read-your-writes';
import { sqlIdempotencyStore } from '@lectern/infra/idempotency/sql-idempotency';
import { idempotency } from '@lectern/infra/http/idempotency';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { developmentMessageKeys, messageKeys, noMessageKeys } from '@lectern/infra/auth/message-secrets';
import type { Platform, RunningConsumer } from '@lectern/infra/runtime/context-module';
import { loadConfig, type Config } from './config.ts';
import { projectionAdminRoutes } from './admin-routes.ts';
import { deadLetterRoutes } from './dead-letter-routes.ts';
import { auditRoutes } from './audit-routes.ts';
import { adminActionRecorder, adminActionStreams } from './admin-actions.ts';
import { listen, untilAborted } from './http-lifecycle.ts';
import { openEngines } from './engines.ts';
import { openTokens } from './tokens.ts';
import { apiDocument, asyncApi, mountedRoutes, openApiRoute, type MountedRoute } from './openapi.ts';
import { contextModules } from './modules.ts';
import { startRealtime } from './realtime.ts';

/** Every SQL read model of the deployment (benches and tools rebuild them by name). */
export const projections = contextModules(loadConfig({})).flatMap((m) => m.projections ?? []);

export type Lectern = Readonly<{
  url: string;
  port: number;
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  logger: Logger;
  metrics: Metrics;
  runners: readonly ProjectionRunner[];
  relay: Relay | null;
  /**
   * ClickHouse, or chDB in process: the analytics read models (reports,
   * benches and tests query it). Null in a process whose only role is
   * `relay`, which has no use for it and must not hold chDB's folder.
   */
  analytics: AnalyticsStore | null;
  /** The modules' other consumers (the analytics projector: log → `events`) in the `projections` role. */
  consumers: readonly RunningConsumer[];
  /** MinIO/S3 or the blob folder (tests and benches check what uploads stored). */
  blobs: BlobStore;
  /** Identity's signing keys and token issuer (tests and benches mint tokens with them). */
  keyRing: KeyRing;
  /** The issuer and audience tokens are signed for and checked against. */
  tokens: Config['tokens'];
  signAccessToken: (claims: {
    sub: string;
    roles: readonly string[];
  }) => Promise<{ token: string; expiresAt: string }>;
  namespace: string;
  /** The routes the HTTP app mounted (the OpenAPI coverage test holds the document to them). */
  routes(): readonly MountedRoute[];
  stop(): Promise<void>;
}>;

/** An upload not completed within a day is abandoned; the sweep looks every hour. */
const BLOB_UPLOAD_TTL_MS = 24 * 60 * 60_000;
const BLOB_SWEEP_INTERVAL_MS = 60 * 60_000;

/** The consumer group a projection joins; only named in `/readyz` while it joins. */
const groupName = (namespace: string, projection: string) => `${namespace}.projection.${projection}`;

/**
 * The composition root: picks an adapter per port from the configuration
 * (an unset URL means the embedded engine), then starts what this process's
 * roles ask for.
 *
 * 0. HTTP first: `/healthz` answers from the first moment and `/readyz`
 *    says what the process is still waiting for; every other route answers
 *    503 `starting` until step 4 has mounted it. A busy port stops the start
 *    here, before any engine opens.
 * 1. Engines: PostgreSQL or PGlite; KurrentDB or the SQL event store; Kafka
 *    or the SQL log; ClickHouse or chDB (every module's analytics schema
 *    ensured). The database is claimed for this deployment's namespace.
 * 2. Relay (role `relay`): store → log.
 * 3. The platform every context module is built from (modules.ts): engines,
 *    token signing and checks, clock, ids, telemetry.
 * 4. Consumers (role `projections`): each module's read models (log →
 *    PostgreSQL) and other consumers (log → ClickHouse). They join their
 *    consumer groups together, so one wait for a dead member's session
 *    covers them all.
 * 5. Routes (role `api`: each module's commands and queries, in the list's
 *    order; roles `api` and `projections`: the admin routes over read models,
 *    dead letters and the event store's audit reads).
 * 6. The WebSocket gateway (role `realtime`): every module's channels and
 *    socket actions on `/ws`, presence in Redis (`REDIS_URL`) or in process.
 *
 * `stop()` drains HTTP (see `listen`), then stops consumers and the relay,
 * then closes the engines.
 */
export const startLectern = async (
  config: Config,
  opts: { logger?: Logger; host?: string } = {},
): Promise<Lectern> => {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  const modules = contextModules(config);
  const projections = modules.flatMap((m) => m.projections ?? []);
  const consumerSpecs = modules.flatMap((m) => m.consumers ?? []);
  const workerSpecs = modules.flatMap((m) => m.workers ?? []);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers)
      await close().catch((error: unknown) => logger.warn({ err: error }, 'close failed'));
  };

  // 0. HTTP.
  let phase: string | null = 'opening engines';
  const readiness: ReadinessCheck[] = [
    {
      name: 'startup',
      check: () => {
        if (phase) throw new Error(phase);
      },
    },
  ];
  const bodyLimits = Object.assign({}, ...modules.map((m) => m.bodyLimits ?? {})) as Record<string, number>;
  const { app, finish, mountBeforeBodies } = createHttpApp({ logger, metrics, readiness, bodyLimits });
  let serving = false;
  app.use((req, res, next) => {
    if (serving) return next();
    res.setHeader('Retry-After', '1');
    sendProblem(res, 503, 'starting', `Lectern is starting (${phase ?? 'almost there'}).`, req.path);
  });
  const http = await listen(app, config.port, opts.host);
  logger.info({ port: http.port }, 'lectern listening (health and readiness only until started)');

  try {
    // 1. Engines.
    const { sql, store, log, analytics, blobs } = await openEngines(config, {
      logger,
      metrics,
      closers,
      analyticsSchemas: modules.flatMap((m) => (m.analyticsSchema ? [m.analyticsSchema] : [])),
      publicUrl: config.publicUrl ?? `http://localhost:${http.port}`,
    });

    readiness.push(
      { name: 'read-models', check: () => sql.query('select 1').then(() => {}) },
      { name: 'event-store', check: () => store.ping() },
      { name: 'message-log', check: () => log.ping() },
      ...(analytics ? [{ name: 'analytics', check: () => analytics.ping() }] : []),
      { name: 'blobs', check: () => blobs.store.ping() },
    );

    // 2. Relay.
    let relay: Relay | null = null;
    if (config.roles.includes('relay')) {
      phase = 'starting the relay';
      relay = await startRelay({ store, log, sql, logger, metrics, namespace: config.namespace });
      const r = relay;
      closers.unshift(() => r.stop());
      readiness.push({
        name: 'relay',
        check: () => {
          if (!r.isRunning()) throw new Error('relay is not running');
        },
      });
    }

    // 3. The platform. Identity's key ring is kept in the shared database, so
    // every process signs with the same key; services verify through its
    // JWKS (in process, or at JWT_JWKS_URL when identity runs elsewhere).
    phase = 'opening the key ring';
    const { keyRing, verify, signAccessToken } = await openTokens(sql, config, modules);
    const runners: ProjectionRunner[] = [];
    const local = new Map<string, ProjectionRunner>();
    // Production names its keys (the configuration insists where they are
    // used); development keeps one in its database.
    const keys = config.messageKeys ?? (config.production ? null : await developmentMessageKeys(sql));
    const platform: Platform = {
      namespace: config.namespace,
      production: config.production,
      sql,
      store,
      log,
      analytics,
      blobs: blobs.store,
      auth: { verify, keyRing, signAccessToken },
      messageKeys: keys ? messageKeys(keys) : noMessageKeys,
      clock: systemClock,
      ids: randomIds,
      logger,
      metrics,
      // A query waiting for its read model answers `stale` after
      // LECTERN_CONSISTENCY_WAIT_MS, and at once when the process starts to
      // stop, rather than holding the shutdown up.
      // Timed into lectern_consistency_wait_seconds (the read-your-writes SLO).
      waitFor: measuredConsistencyWait(metrics, (name, streamId, position) => {
        const timeoutMs = config.consistencyWaitMs;
        return untilAborted(
          local.get(name)?.waitFor(streamId, position, timeoutMs) ??
            waitForCheckpoint(sql, name, streamId, position, timeoutMs),
          http.stopping,
          false,
        );
      }),
      consumerStallMs: config.consumerStallMs,
      workerLeaseMs: config.workerLeaseMs,
    };

    // 4. Consumers.
    const consumers: RunningConsumer[] = [];
    const consumersHere = new Map<string, RunningConsumer>();
    if (config.roles.includes('projections')) {
      phase = 'migrating read models';
      for (const projection of projections) {
        const runner = await projectionRunner({
          projection,
          sql,
          log,
          store,
          logger,
          metrics,
          namespace: config.namespace,
          stallAfterMs: config.consumerStallMs,
        });
        runners.push(runner);
        local.set(projection.name, runner);
        closers.unshift(() => runner.stop());
        readiness.push(consumerReadiness(`projection:${projection.name}`, runner));
      }
      for (const spec of consumerSpecs) {
        const consumer = spec.create(platform);
        consumers.push(consumer);
        consumersHere.set(spec.name, consumer);
        closers.unshift(() => consumer.stop());
        readiness.push(consumerReadiness(`projection:${spec.name}`, consumer));
      }
      const joining = new Set([
        ...runners.map((r) => r.projection.name),
        ...consumerSpecs.map((c) => c.name),
      ]);
      const joined = (name: string) => {
        joining.delete(name);
        phase = joining.size
          ? `joining consumer groups ${[...joining].map((n) => groupName(config.namespace, n)).join(', ')}`
          : null;
      };
      joined('');
      await Promise.all([
        ...runners.map((r) => r.start().then(() => joined(r.projection.name))),
        ...consumerSpecs.map((spec, i) => consumers[i]!.start().then(() => joined(spec.name))),
      ]);
      if (config.auditIntervalMs > 0) {
        const audits = scheduledAudits({
          sql,
          store,
          projections,
          metrics,
          logger,
          everyMs: config.auditIntervalMs,
        });
        audits.start();
        closers.unshift(() => audits.stop());
      }
    }

    // 5. Workers: each reaction in a consumer group of its own.
    if (config.roles.includes('workers')) {
      phase = 'starting workers';
      const started: RunningConsumer[] = [];
      for (const spec of workerSpecs) {
        const worker = spec.create(platform);
        started.push(worker);
        consumers.push(worker);
        consumersHere.set(spec.name, worker);
        closers.unshift(() => worker.stop());
        readiness.push(consumerReadiness(spec.name, worker));
      }
      await Promise.all(started.map((w) => w.start()));
    }

    // 6. Routes.
    phase = 'mounting routes';
    if (config.roles.includes('api')) {
      app.get('/openapi.json', openApiRoute(apiDocument({ production: config.production })));
      app.get('/asyncapi.json', openApiRoute(asyncApi()));
      // Before every route: a claimed Idempotency-Key gives the command id (rule 9).
      app.use(
        idempotency({
          store: await sqlIdempotencyStore(sql),
          verify,
          clock: systemClock,
          onError: (error, context) => logger.error({ err: error }, context),
        }),
      );
      for (const module of modules) if (module.routes) app.use(...(await module.routes(platform)));
      // The folder store's signed URLs (embedded profile); S3 serves its own.
      if (blobs.router) mountBeforeBodies('/blobs', blobs.router);
      // Uploads begun and never completed are aborted after a day; any api process may sweep.
      const sweep = setInterval(() => {
        blobs.store
          .abortStaleUploads(BLOB_UPLOAD_TTL_MS)
          .then(
            (aborted) => aborted.length && logger.info({ aborted: aborted.length }, 'stale uploads aborted'),
          )
          .catch((error: unknown) => logger.warn({ err: error }, 'sweeping stale uploads failed'));
      }, BLOB_SWEEP_INTERVAL_MS);
      sweep.unref();
      closers.unshift(async () => clearInterval(sweep));
    }
    const recordAdminAction = adminActionRecorder(store);
    // The admin routes read the projections' status table, which an `api`
    // process may see before any `projections` process has made it.
    if (config.roles.includes('api') || config.roles.includes('projections')) {
      await migrate(sql, 'projection_status', projectionStatusMigrations);
      app.use(
        projectionAdminRoutes({
          sql,
          log,
          store,
          logger,
          namespace: config.namespace,
          projections,
          runners,
          consumers: [...consumerSpecs, ...workerSpecs].map((c) => ({
            name: c.name,
            kind: c.kind,
            group: c.group(config.namespace),
            topics: c.topics(config.namespace),
            runningHere: () => consumersHere.get(c.name)?.isRunning() ?? false,
            ...(c.rebuild ? { rebuild: c.rebuild.bind(null, platform) } : {}),
          })),
          verify,
          record: recordAdminAction,
        }),
      );
    }
    if (config.roles.includes('api') || config.roles.includes('projections'))
      app.use(
        deadLetterRoutes({
          log,
          verify,
          record: recordAdminAction,
          // One dead-letter topic per consumer of the deployment, wherever it runs.
          topics: [
            ...projections.map((p) => `projection.${p.name}`),
            ...consumerSpecs.map((c) => c.deadLetters),
            ...workerSpecs.map((c) => c.deadLetters),
          ].map((c) => dlqTopicOf(config.namespace, c)),
        }),
      );
    if (config.roles.includes('api') || config.roles.includes('projections'))
      app.use(
        auditRoutes({
          store,
          log,
          namespace: config.namespace,
          verify,
          record: recordAdminAction,
          streams: [...modules.flatMap((m) => m.streams ?? []), ...adminActionStreams],
        }),
      );
    // 7. The WebSocket gateway (role `realtime`) on `/ws` of this server.
    if (config.roles.includes('realtime')) {
      phase = 'starting the realtime gateway';
      const realtime = await startRealtime({ config, platform, modules, server: http.server });
      closers.unshift(() => realtime.stop());
      // The drain waits for every socket, upgraded ones too, and cannot cut those: they go first.
      http.stopping.addEventListener('abort', () => realtime.gateway.goAway(), { once: true });
      readiness.push(...realtime.readiness);
    }

    finish();
    serving = true;
    phase = null;
    logger.info({ port: http.port, roles: config.roles }, 'lectern started');

    return {
      url: `http://127.0.0.1:${http.port}`,
      port: http.port,
      sql,
      store,
      log,
      logger,
      metrics,
      runners,
      relay,
      analytics,
      blobs: blobs.store,
      consumers,
      keyRing,
      tokens: config.tokens,
      signAccessToken,
      namespace: config.namespace,
      routes: () => mountedRoutes(app),
      async stop() {
        phase = 'shutting down';
        const { cut } = await http.drain(config.shutdownGraceMs);
        if (cut)
          logger.warn({ cut, graceMs: config.shutdownGraceMs }, 'requests cut at the shutdown deadline');
        await closeAll();
      },
    };
  } catch (error) {
    // A start that fails half-way leaves nothing open behind it.
    await http.drain(0);
    await closeAll();
    throw error;
  }
};
