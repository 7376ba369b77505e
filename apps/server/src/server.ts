import { createHttpApp, sendProblem, type ReadinessCheck } from '@lectern/infra/http/app';
import { tokenVerifier } from '@lectern/infra/http/auth';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { MessageLog } from '@lectern/infra/ports/message-log';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { analyticsProjector, type AnalyticsProjector } from '@lectern/infra/analytics/projector';
import type { Sql } from '@lectern/infra/sql/index';
import { createLogger, type Logger } from '@lectern/infra/runtime/logger';
import { createMetrics, type Metrics } from '@lectern/infra/runtime/metrics';
import { startRelay, type Relay } from '@lectern/infra/runtime/relay';
import {
  projectionRunner,
  waitForCheckpoint,
  type ProjectionRunner,
} from '@lectern/infra/runtime/projection-runner';
import { randomIds, systemClock } from '@lectern/infra/runtime/ids';
import { dlqTopicOf } from '@lectern/infra/runtime/dead-letters';
import { consumerReadiness } from '@lectern/infra/runtime/progress';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import { sqlIdempotencyStore } from '@lectern/infra/idempotency/sql-idempotency';
import { idempotency } from '@lectern/infra/http/idempotency';
import { sqlKeyRing, type KeyRing } from '@lectern/infra/auth/key-ring';
import { accessTokenIssuer } from '@lectern/infra/auth/tokens';
import {
  devOutbox,
  devRoutes,
  discardingOutbox,
  identityCommandRoutes,
  jwksRoutes,
  policy as identityPolicy,
} from '@lectern/identity-commands';
import { identityQueryRoutes } from '@lectern/identity-queries';
import { identityUsersProjection } from '@lectern/identity-projection-users';
import { identitySessionsProjection } from '@lectern/identity-projection-sessions';
import { profileCommandRoutes } from '@lectern/profile-commands';
import { activeExperienceLevelCodes, profileQueryRoutes } from '@lectern/profile-queries';
import { profilesProjection } from '@lectern/profile-projection-profiles';
import { profileHistoryProjection } from '@lectern/profile-projection-history';
import { experienceLevelsProjection } from '@lectern/profile-projection-experience-levels';
import type { Config } from './config.ts';
import { projectionAdminRoutes } from './admin-routes.ts';
import { deadLetterRoutes } from './dead-letter-routes.ts';
import { listen, untilAborted } from './http-lifecycle.ts';
import { openEngines } from './engines.ts';
import { apiDocument, mountedRoutes, openApiRoute, type MountedRoute } from './openapi.ts';
import { analyticsBodyLimits, analyticsRoutes } from './analytics.ts';

export const projections = [
  profilesProjection,
  profileHistoryProjection,
  experienceLevelsProjection,
  identityUsersProjection,
  identitySessionsProjection,
];

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
  /** The analytics projector (log → `events`), when this process has the `projections` role. */
  analyticsProjector: AnalyticsProjector | null;
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

/** The contexts whose domain events the analytics projector takes, besides telemetry. */
const analyticsContexts = ['profile', 'identity'];

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
 *    or the SQL log; ClickHouse or chDB (its schema ensured). The database
 *    is claimed for this deployment's namespace.
 * 2. Relay (role `relay`): store → log.
 * 3. Projection runners (role `projections`): log → read models, and the
 *    analytics projector: log → ClickHouse. They join their consumer groups
 *    together, so one wait for a dead member's session covers them all.
 * 4. Routes (role `api`: commands and queries; roles `api` and
 *    `projections`: the read-model admin routes).
 *
 * `stop()` drains HTTP (see `listen`), then stops consumers and the relay,
 * then closes the engines.
 */
export const startLectern = async (config: Config, opts: { logger?: Logger } = {}): Promise<Lectern> => {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
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
  const { app, finish } = createHttpApp({ logger, metrics, readiness, bodyLimits: analyticsBodyLimits });
  let serving = false;
  app.use((req, res, next) => {
    if (serving) return next();
    res.setHeader('Retry-After', '1');
    sendProblem(res, 503, 'starting', `Lectern is starting (${phase ?? 'almost there'}).`, req.path);
  });
  const http = await listen(app, config.port);
  logger.info({ port: http.port }, 'lectern listening (health and readiness only until started)');

  try {
    // 1. Engines.
    const { sql, store, log, analytics } = await openEngines(config, { logger, metrics, closers });

    readiness.push(
      { name: 'read-models', check: () => sql.query('select 1').then(() => {}) },
      { name: 'event-store', check: () => store.ping() },
      { name: 'message-log', check: () => log.ping() },
      ...(analytics ? [{ name: 'analytics', check: () => analytics.ping() }] : []),
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

    // 3. Projections.
    const runners: ProjectionRunner[] = [];
    let analyticsProjectorStarted: AnalyticsProjector | null = null;
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
        closers.unshift(() => runner.stop());
        readiness.push(consumerReadiness(`projection:${projection.name}`, runner));
      }
      // Telemetry from the ingest topic and the domain events of these contexts, into `events`.
      const projector = analyticsProjector({
        store: analytics!, // opened for this role
        log,
        logger,
        metrics,
        stallAfterMs: config.consumerStallMs,
        namespace: config.namespace,
        contexts: analyticsContexts,
      });
      closers.unshift(() => projector.stop());
      readiness.push(consumerReadiness('projection:analytics', projector));
      const joining = new Set([...runners.map((r) => r.projection.name), 'analytics']);
      const joined = (name: string) => {
        joining.delete(name);
        phase = joining.size
          ? `joining consumer groups ${[...joining].map((n) => groupName(config.namespace, n)).join(', ')}`
          : null;
      };
      joined('');
      await Promise.all([
        ...runners.map((r) => r.start().then(() => joined(r.projection.name))),
        projector.start().then(() => joined('analytics')),
      ]);
      analyticsProjectorStarted = projector;
    }

    // 4. Routes. Identity signs with a key ring kept in the shared database, so
    // every process signs with the same key; services verify through its JWKS
    // (in process, or at JWT_JWKS_URL when identity runs elsewhere).
    phase = 'mounting routes';
    const keyRing = await sqlKeyRing(sql, {
      clock: systemClock,
      // A retired key stays published as long as a token it signed can live, plus the verifiers' skew and cache.
      overlapMs: identityPolicy.accessTokenTtl + 5 * 60_000,
    });
    const issuer = accessTokenIssuer(keyRing, {
      ...config.tokens,
      ttlSeconds: identityPolicy.accessTokenTtl / 1000,
      clock: systemClock,
    });
    const signAccessToken = (claims: { sub: string; roles: readonly string[] }) => issuer.sign(claims);
    const verify = tokenVerifier({
      ...config.tokens,
      ...(config.jwt?.jwksUrl
        ? { jwksUrl: config.jwt.jwksUrl }
        : config.jwt?.jwks
          ? { jwks: config.jwt.jwks }
          : { keys: keyRing.getKey }),
    });
    if (config.roles.includes('api')) {
      app.get('/openapi.json', openApiRoute(apiDocument({ production: config.production })));
      const local = new Map(runners.map((r) => [r.projection.name, r]));
      // A query waiting for its read model answers `stale` at once when the
      // process starts to stop, rather than holding the shutdown up.
      const waitFor = (name: string, streamId: string, position: number, timeoutMs: number) =>
        untilAborted(
          local.get(name)?.waitFor(streamId, position, timeoutMs) ??
            waitForCheckpoint(sql, name, streamId, position, timeoutMs),
          http.stopping,
          false,
        );
      const outbox = config.production ? null : await devOutbox(sql);
      // Before every route: a claimed Idempotency-Key gives the command id (rule 9).
      app.use(
        idempotency({
          store: await sqlIdempotencyStore(sql),
          verify,
          clock: systemClock,
          onError: (error, context) => logger.error({ err: error }, context),
        }),
      );
      app.use(jwksRoutes(keyRing));
      app.use(
        identityCommandRoutes({
          store,
          limiter: await sqlRateLimiter(sql),
          keyRing,
          signAccessToken,
          verify,
          outbox: outbox ?? discardingOutbox(logger),
          clock: systemClock,
          ids: randomIds,
          appUrl: config.appUrl,
          bootstrapAdmins: config.bootstrapAdmins,
        }),
      );
      app.use(identityQueryRoutes({ sql, verify, waitFor }));
      // Development only: the outbox and a token minter. Absent (404) in production.
      if (outbox) app.use(devRoutes({ outbox, signAccessToken }));
      app.use(
        profileCommandRoutes({
          store,
          verify,
          clock: systemClock,
          activeExperienceLevels: () => activeExperienceLevelCodes(sql),
        }),
      );
      app.use(profileQueryRoutes({ sql, verify, waitFor }));
      app.use(
        await analyticsRoutes({
          store: analytics!, // opened for this role
          log,
          namespace: config.namespace,
          verify,
          ingestKeys: config.analyticsIngestKeys,
          clock: systemClock,
        }),
      );
    }
    if (config.roles.includes('api') || config.roles.includes('projections'))
      app.use(
        projectionAdminRoutes({
          sql,
          log,
          store,
          logger,
          namespace: config.namespace,
          projections,
          runners,
          analytics: {
            contexts: analyticsContexts,
            runningHere: () => analyticsProjectorStarted?.isRunning() ?? false,
          },
          verify,
        }),
      );
    if (config.roles.includes('api') || config.roles.includes('projections'))
      app.use(
        deadLetterRoutes({
          log,
          verify,
          // One dead-letter topic per consumer of the deployment, wherever it runs.
          topics: [...projections.map((p) => `projection.${p.name}`), 'projection.analytics'].map((c) =>
            dlqTopicOf(config.namespace, c),
          ),
        }),
      );
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
      analyticsProjector: analyticsProjectorStarted,
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
