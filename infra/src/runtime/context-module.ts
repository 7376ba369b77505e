import type { RequestHandler } from 'express';
import type { ApiOperation } from '@lectern/schemas/openapi';
import type { ChSql } from '../analytics/sql.ts';
import type { KeyRing } from '../auth/key-ring.ts';
import type { MessageKeys } from '../auth/message-secrets.ts';
import type { VerifiedToken } from '../http/auth.ts';
import type { AnalyticsStore } from '../ports/analytics-store.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { EventStore } from '../ports/event-store.ts';
import type { MessageLog } from '../ports/message-log.ts';
import type { Sql } from '../sql/sql.ts';
import type { Clock, Ids } from './ids.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { ConsumerProgress } from './progress.ts';
import type { SqlProjection } from './projection.ts';
import type { RebuildResult } from './projection-runner.ts';
import type { RealtimeContribution } from './realtime.ts';
import type { StreamKind } from './stream-kinds.ts';
import type { AsyncApiSection } from '@lectern/schemas/asyncapi';

/**
 * What one process shares with every context it runs: the engines, the
 * token checks, time, ids and telemetry. The composition root builds it
 * once; a context takes what it needs from it and owns nothing global.
 */
export type Platform = Readonly<{
  /** Prefix of topics and consumer groups: one per deployment sharing a broker. */
  namespace: string;
  /** `NODE_ENV=production`: development-only routes stay unmounted. */
  production: boolean;
  /** The read-model database (PostgreSQL or PGlite). */
  sql: Sql;
  store: EventStore;
  log: MessageLog;
  /** ClickHouse or chDB; null in a process whose roles have no use for it (relay only). */
  analytics: AnalyticsStore | null;
  /** MinIO/S3, or a folder with URLs this process signs: uploads and downloads never pass through a route. */
  blobs: BlobStore;
  auth: Readonly<{
    /** Checks an access token: signature, issuer, audience, lifetime. */
    verify: (token: string) => Promise<VerifiedToken>;
    /** The signing keys kept in the shared database (identity publishes their public half). */
    keyRing: KeyRing;
    signAccessToken: (claims: {
      sub: string;
      roles: readonly string[];
    }) => Promise<{ token: string; expiresAt: string }>;
  }>;
  /**
   * The keys the secrets of messages (link tokens, phone codes) are derived
   * with: by the service that decides, and again by the worker that sends,
   * so no secret is ever in an event.
   */
  messageKeys: MessageKeys;
  clock: Clock;
  ids: Ids;
  logger: Logger;
  metrics: Metrics;
  /**
   * Read your writes (ARCHITECTURE rule 6): resolves true once the read
   * model `projection` has applied `streamId` up to `position`, false when
   * the deployment's consistency wait passed first or the process began to stop.
   */
  waitFor: (projection: string, streamId: string, position: number) => Promise<boolean>;
  /** Lag without progress for this long makes a consumer count as stalled (`/readyz`, metric). */
  consumerStallMs: number;
  /** How long a worker's claim on an event holds other workers off (taken over after a crash). */
  workerLeaseMs: number;
}>;

/** A consumer a module runs besides its SQL projections: a ClickHouse projector, a worker's reactor. */
export type RunningConsumer = Readonly<{
  start(): Promise<void>;
  /** Finishes what it holds, commits it, leaves its group. */
  stop(): Promise<void>;
  isRunning(): boolean;
  progress(): ConsumerProgress;
}>;

export type ModuleConsumer = Readonly<{
  /** Unique in the deployment; names the consumer in `/readyz`, the metrics and the admin routes. */
  name: string;
  /** What it feeds, as the admin routes show it (`analytics` for ClickHouse). */
  kind: string;
  /** Its consumer group. */
  group: (namespace: string) => string;
  /** The topics it reads. */
  topics: (namespace: string) => readonly string[];
  /** The consumer its dead letters are filed under (`<ns>.dlq.<deadLetters>`). */
  deadLetters: string;
  create: (platform: Platform) => RunningConsumer;
  /**
   * Rebuilds what it feeds from the event store, verified against the live
   * model before the swap, as the SQL read models are rebuilt; the admin
   * route `POST /api/admin/projections/<name>/rebuild` runs it in any
   * process with the `api` or `projections` role, whether or not the
   * consumer runs there. Absent where nothing can be rebuilt (a worker).
   */
  rebuild?: (platform: Platform, opts: Readonly<{ acceptDifferences: boolean }>) => Promise<RebuildResult>;
}>;

/** A section of the OpenAPI document: a context's operations and what its tags cover. */
export type ApiSection = Readonly<{
  name: string;
  operations: readonly ApiOperation[];
  tags: Readonly<Record<string, string>>;
  /** Routes mounted only outside production (`NODE_ENV=production` leaves them out of the document too). */
  developmentOnly?: boolean;
}>;

/**
 * Everything a context brings to a process, as one value; the composition
 * root composes a list of them and names no context itself. Adding a
 * context is its packages plus one line in that list.
 *
 * What a module needs from the environment arrives as the arguments of the
 * function that makes it (`analyticsModule({ ingestKeys })`), read and
 * checked with the rest of the configuration at start.
 *
 * @example
 *   export const profileModule = (): ContextModule => ({
 *     name: 'profile',
 *     projections: [profilesProjection, profileHistoryProjection],
 *     routes: async (p) => [profileCommandRoutes({ store: p.store, verify: p.auth.verify, clock: p.clock }),
 *                           profileQueryRoutes({ sql: p.sql, verify: p.auth.verify, waitFor: p.waitFor })],
 *     api: [{ name: 'profile', operations: profileApi, tags: profileTags }],
 *   });
 */
export type ContextModule = Readonly<{
  name: string;
  /** PostgreSQL read models, run in the `projections` role (and rebuilt through the admin routes). */
  projections?: readonly SqlProjection[];
  /**
   * Every kind of stream it writes, each with its decider (or none, for a
   * record of facts), its events and what audit views redact: how
   * `lectern history`, `related` and `as-of` read and fold its streams
   * (see `aggregateStream`). Stream categories are unique in a deployment.
   */
  streams?: readonly StreamKind[];
  /** Other consumers, run in the `projections` role. */
  consumers?: readonly ModuleConsumer[];
  /**
   * Its reactions with side effects (`workers/<reaction>`: sending a
   * message, transcoding a video), run in the `workers` role, each in a
   * consumer group of its own (see `reactorWorker`).
   */
  workers?: readonly ModuleConsumer[];
  /**
   * The tables and views it keeps in the analytics store (ClickHouse or
   * chDB), as DDL for `database`: the composition root hands every module's
   * to `AnalyticsStore.ensureSchema` once the store is open.
   */
  analyticsSchema?: (database: string) => readonly ChSql[];
  /** Command and query routes, mounted at `/` in the `api` role, in this order. */
  routes?: (platform: Platform) => Promise<readonly RequestHandler[]>;
  /**
   * What it brings to the WebSocket gateway (`realtime/`, role `realtime`):
   * channel kinds (who may subscribe, which events reach them, their
   * durable history) and socket actions. See `realtime.ts`.
   */
  realtime?: (platform: Platform) => Promise<RealtimeContribution>;
  /** Its part of `/openapi.json`. */
  api?: readonly ApiSection[];
  /** Its part of `/asyncapi.json`: its topics, and what it adds to the socket. */
  asyncApi?: AsyncApiSection;
  /** Request body limits, in bytes, for paths that take more than the default. */
  bodyLimits?: Readonly<Record<string, number>>;
  /**
   * Set by the one module that issues access tokens: how long they live.
   * The platform's signer uses it, and its key ring keeps a retired key
   * published that long (plus skew and cache) so no live token loses its key.
   */
  accessTokens?: Readonly<{ ttlMs: number }>;
}>;
