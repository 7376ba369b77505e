import type { JSONWebKeySet } from 'jose';
import { CONSISTENCY_WAIT_MS } from '@lectern/infra/http/headers';
import { parseMessageKeys } from '@lectern/infra/auth/message-secrets';

/** Development defaults; production must name its own. */
export const DEV_ISSUER = 'https://lectern.local/dev';
export const DEV_AUDIENCE = 'lectern';

export const ROLES = ['api', 'relay', 'projections', 'workers', 'realtime'] as const;
export type ProcessRole = (typeof ROLES)[number];

/** Everything a Lectern process reads from its environment, validated once at start. */
export type Config = Readonly<{
  port: number;
  dataDir: string;
  /** PostgreSQL for read models, the embedded log and (unless eventStoreUrl) the event store; null = PGlite. */
  databaseUrl: string | null;
  /** KurrentDB/EventStoreDB; null = the PostgreSQL/PGlite event store. */
  eventStoreUrl: string | null;
  /** Apache Kafka; null = the log in PostgreSQL/PGlite tables. */
  kafkaBrokers: readonly string[] | null;
  /** A ClickHouse server (`http(s)://user[:password]@host:port/database`); null = chDB in `<dataDir>/chdb`. */
  clickhouseUrl: string | null;
  /**
   * SHA-256 digests (lower-case hex) of the keys that server-side sources send
   * as `X-Ingest-Key` to the analytics ingest endpoint. Only digests are
   * configured, so the environment never holds a usable key.
   */
  analyticsIngestKeys: readonly string[];
  /** What identity signs access tokens as, and what every service demands of them. */
  tokens: Readonly<{ issuer: string; audience: string }>;
  /**
   * Where to get the public keys from when identity runs elsewhere (its
   * `/.well-known/jwks.json`, or the document itself); null = this process's
   * identity key ring.
   */
  jwt: Readonly<{ jwksUrl: string | null; jwks: JSONWebKeySet | null }> | null;
  /**
   * MinIO or another S3-compatible server (`S3_ENDPOINT`, `S3_ACCESS_KEY`,
   * `S3_SECRET_KEY_FILE`: the path of a file holding the secret, never the
   * secret; `S3_BUCKET`, default `lectern`; `S3_PUBLIC_ENDPOINT` where
   * clients reach it if not at the endpoint; `S3_REGION`); null = a folder
   * under `dataDir` with URLs this process signs and serves.
   */
  s3: Readonly<{
    endpoint: string;
    publicEndpoint: string | null;
    accessKey: string;
    secretKeyFile: string;
    bucket: string;
    region: string | null;
  }> | null;
  /**
   * Where clients reach this process (`LECTERN_PUBLIC_URL`): the embedded
   * blob store's URLs point there. Default `http://localhost:<port>`.
   */
  publicUrl: string | null;
  /** The web app: links in the e-mails point there. */
  appUrl: string;
  /**
   * The keys identity derives its messages' secrets (link tokens, phone
   * codes) with and the notifications worker derives them again
   * (`LECTERN_MESSAGE_KEYS`: base64url keys of ≥ 32 bytes, the current
   * first; see docs/architecture.md, "Secrets in messages"). Required in
   * production; null in development, where a key kept in the development
   * database serves.
   */
  messageKeys: readonly Buffer[] | null;
  /** Where notifications go out; a channel without providers uses the development mailbox (never in production). */
  notify: NotifyConfig;
  /** Verified e-mails that are given the admin role (how the first admin comes to be). */
  bootstrapAdmins: readonly string[];
  roles: readonly ProcessRole[];
  /** Prefix of log topics and consumer groups (`lectern`): one per deployment sharing a broker. */
  namespace: string;
  logLevel: string;
  production: boolean;
  /**
   * How long a consumer (a projection, the analytics projector) may have lag
   * without advancing before `/readyz` says degraded and
   * `lectern_consumer_stalled_seconds` shows it (`LECTERN_CONSUMER_STALL_MS`,
   * default 60 000).
   */
  consumerStallMs: number;
  /**
   * How often a process with the `projections` role audits every SQL read
   * model against the event store, events only (`LECTERN_AUDIT_INTERVAL_MS`,
   * default 21 600 000: six hours; 0 never). See `lectern audit`.
   */
  auditIntervalMs: number;
  /**
   * On SIGTERM, how long requests in flight may take to finish before their
   * connections are cut (`LECTERN_SHUTDOWN_GRACE_MS`, default 10 000). Keep
   * it under the platform's own grace (Kubernetes: 30 s) with room for the
   * consumers to commit and the engines to close.
   */
  shutdownGraceMs: number;
  /**
   * How long Kafka waits for a member that stopped heartbeating before
   * giving its partitions to others (`LECTERN_KAFKA_SESSION_TIMEOUT_MS`,
   * default 10 000): after a kill -9, the group's consumption freezes for
   * about this long. Heartbeats go every tenth of it.
   */
  kafkaSessionTimeoutMs: number;
  /**
   * How long a query sent with `X-Consistency-Token` waits for its read
   * model before answering `X-Consistency: stale`
   * (`LECTERN_CONSISTENCY_WAIT_MS`, default 3000).
   */
  consistencyWaitMs: number;
  /**
   * How long a worker's claim on an event holds others off
   * (`LECTERN_WORKER_LEASE_MS`, default 60 000): after a kill -9, the work
   * it held waits this long before another worker takes it over. Keep it
   * well above the slowest side effect (a provider's timeout).
   */
  workerLeaseMs: number;
  /**
   * Redis for presence across processes (`REDIS_URL`, its password in the
   * file `REDIS_PASSWORD_FILE`, never in the URL); null: presence in process,
   * which only a single process (the embedded profile) may use.
   */
  redis: Readonly<{ url: string; passwordFile: string | null }> | null;
  /**
   * Connections one user may hold open on the WebSocket gateway, across
   * every gateway process (`LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER`,
   * default 20).
   */
  realtimeMaxConnectionsPerUser: number;
}>;

/** A provider of a channel: its URL and the file holding its credential (never the credential). */
export type ProviderConfig = Readonly<{
  name: string;
  url: string;
  user: string | null;
  secretFile: string | null;
}>;

export type NotifyConfig = Readonly<{
  /** `LECTERN_MAIL_FROM`: who the e-mails are from (default `Lectern <no-reply@lectern.localhost>`). */
  from: string;
  /** `SMTP_URL` then `SMTP_FALLBACK_URL` (each with `_USER` and `_PASSWORD_FILE`): the first that takes a message sends it. */
  email: readonly ProviderConfig[];
  /** `SMS_PROVIDER_URL` then `SMS_FALLBACK_URL` (each with `_TOKEN_FILE`). */
  sms: readonly ProviderConfig[];
  /** `PUSH_PROVIDER_URL` then `PUSH_FALLBACK_URL` (each with `_TOKEN_FILE`). */
  push: readonly ProviderConfig[];
  /** `SMTP_MAX_PER_SECOND` (100), `SMS_MAX_PER_SECOND` (10), `PUSH_MAX_PER_SECOND` (500): each process's pace per channel. */
  perSecond: Readonly<{ email: number; sms: number; push: number }>;
}>;

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Reads and checks the environment; every problem is reported at once.
 *
 * @example loadConfig({ PORT: '8080', DATABASE_URL: 'postgres://…' })
 */
export const loadConfig = (env: Readonly<Record<string, string | undefined>>): Config => {
  const problems: string[] = [];
  const url = (name: string, protocols: readonly string[]): string | null => {
    const value = env[name]?.trim();
    if (!value) return null;
    try {
      const u = new URL(value);
      if (!protocols.includes(u.protocol)) problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
      if (u.password && name.endsWith('JWKS_URL')) problems.push(`${name} must not carry a password`);
    } catch {
      problems.push(`${name} is not a URL`);
    }
    return value;
  };

  const portText = env.PORT?.trim() || '8000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535)
    problems.push(`PORT must be a number from 0 to 65535 (got '${portText}')`);

  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = url('REDIS_URL', ['redis:', 'rediss:']);
  if (redisUrl && URL.canParse(redisUrl) && new URL(redisUrl).password)
    problems.push('REDIS_URL must not carry a password: put it in the file REDIS_PASSWORD_FILE names');
  const redis = redisUrl ? { url: redisUrl, passwordFile: env.REDIS_PASSWORD_FILE?.trim() || null } : null;
  const eventStoreUrl = url('EVENTSTORE_URL', [
    'kurrentdb:',
    'esdb:',
    'esdb+discover:',
    'kurrentdb+discover:',
  ]);
  const brokersText = env.KAFKA_BROKERS?.trim();
  let kafkaBrokers: string[] | null = null;
  if (brokersText) {
    kafkaBrokers = brokersText.split(',').map((b) => b.trim());
    for (const b of kafkaBrokers)
      if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b)) problems.push(`KAFKA_BROKERS entry '${b}' is not host:port`);
  }

  const clickhouseUrl = url('CLICKHOUSE_URL', ['http:', 'https:']);

  let s3: Config['s3'] = null;
  const s3Endpoint = url('S3_ENDPOINT', ['http:', 'https:']);
  if (s3Endpoint) {
    const accessKey = env.S3_ACCESS_KEY?.trim() ?? '';
    const secretKeyFile = env.S3_SECRET_KEY_FILE?.trim() ?? '';
    if (!accessKey) problems.push('S3_ACCESS_KEY is required with S3_ENDPOINT');
    if (!secretKeyFile)
      problems.push(
        'S3_SECRET_KEY_FILE (the path of a file holding the secret) is required with S3_ENDPOINT',
      );
    if (env.S3_SECRET_KEY)
      problems.push('S3_SECRET_KEY is not read: put the secret in a file and name it in S3_SECRET_KEY_FILE');
    try {
      const u = new URL(s3Endpoint);
      if (u.username || u.password) problems.push('S3_ENDPOINT must not carry credentials');
      if (u.pathname !== '/' || u.search)
        problems.push('S3_ENDPOINT is a scheme, host and port, without a path');
    } catch {
      // reported by url()
    }
    const bucket = env.S3_BUCKET?.trim() || 'lectern';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      problems.push('S3_BUCKET must be 3 to 63 lowercase letters, digits, dots or hyphens');
    s3 = {
      endpoint: s3Endpoint.replace(/\/$/, ''),
      publicEndpoint: url('S3_PUBLIC_ENDPOINT', ['http:', 'https:'])?.replace(/\/$/, '') ?? null,
      accessKey,
      secretKeyFile,
      bucket,
      region: env.S3_REGION?.trim() || null,
    };
  }
  const publicUrl = url('LECTERN_PUBLIC_URL', ['http:', 'https:'])?.replace(/\/$/, '') ?? null;

  const analyticsIngestKeys = (env.ANALYTICS_INGEST_KEYS ?? '')
    .split(',')
    .map((k) => k.trim().toLowerCase())
    .filter(Boolean);
  for (const [i, k] of analyticsIngestKeys.entries())
    if (!/^[0-9a-f]{64}$/.test(k))
      problems.push(
        `ANALYTICS_INGEST_KEYS entry ${i + 1} is not a SHA-256 digest (64 hex digits); configure ` +
          `the digest of a key, never the key: printf %s "$KEY" | sha256sum`,
      );

  let jwt: Config['jwt'] = null;
  const jwksUrl = url('JWT_JWKS_URL', ['https:', 'http:']);
  const inline = env.JWT_PUBLIC_JWKS?.trim();
  let jwks: JSONWebKeySet | null = null;
  if (inline) {
    try {
      const parsed = JSON.parse(inline) as JSONWebKeySet;
      if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error();
      if (parsed.keys.some((k) => 'd' in k))
        problems.push('JWT_PUBLIC_JWKS must hold public keys only (found a private "d")');
      jwks = parsed;
    } catch {
      problems.push('JWT_PUBLIC_JWKS must be a JWKS document: {"keys":[…]}');
    }
  }
  if (jwksUrl || jwks) jwt = { jwksUrl, jwks };

  const production = env.NODE_ENV === 'production';
  const issuer = env.JWT_ISSUER?.trim() || (production ? '' : DEV_ISSUER);
  const audience = env.JWT_AUDIENCE?.trim() || (production ? '' : DEV_AUDIENCE);
  if (!issuer) problems.push('JWT_ISSUER is required with NODE_ENV=production');
  if (!audience) problems.push('JWT_AUDIENCE is required with NODE_ENV=production');
  const appUrl = url('LECTERN_APP_URL', ['https:', 'http:']) ?? (production ? '' : 'http://localhost:3000');
  if (!appUrl) problems.push('LECTERN_APP_URL is required with NODE_ENV=production');

  let messageKeys: readonly Buffer[] | null = null;
  if (env.LECTERN_MESSAGE_KEYS?.trim()) {
    try {
      messageKeys = parseMessageKeys(env.LECTERN_MESSAGE_KEYS);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }

  // Providers: a primary and a fallback per channel, each a URL without
  // credentials and, where it needs one, the file that holds its secret.
  const provider = (
    prefix: string,
    name: string,
    protocols: readonly string[],
    secret: 'PASSWORD_FILE' | 'TOKEN_FILE',
  ): ProviderConfig[] => {
    const at = url(`${prefix}_URL`, protocols);
    if (!at) return [];
    try {
      const u = new URL(at);
      if (u.username || u.password) problems.push(`${prefix}_URL must not carry credentials`);
    } catch {
      // reported by url()
    }
    if (env[`${prefix}_${secret.replace('_FILE', '')}`])
      problems.push(
        `${prefix}_${secret.replace('_FILE', '')} is not read: name a file in ${prefix}_${secret}`,
      );
    return [
      {
        name,
        url: at,
        user: env[`${prefix}_USER`]?.trim() || null,
        secretFile: env[`${prefix}_${secret}`]?.trim() || null,
      },
    ];
  };
  const rate = (name: string, fallback: number): number => {
    const text = env[name]?.trim();
    if (!text) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < 1 || value > 1_000_000)
      problems.push(`${name} must be a whole number of messages a second from 1 to 1000000 (got '${text}')`);
    return value;
  };
  const notify: NotifyConfig = {
    perSecond: {
      email: rate('SMTP_MAX_PER_SECOND', 100),
      sms: rate('SMS_MAX_PER_SECOND', 10),
      push: rate('PUSH_MAX_PER_SECOND', 500),
    },
    from: env.LECTERN_MAIL_FROM?.trim() || 'Lectern <no-reply@lectern.localhost>',
    email: [
      ...provider('SMTP', 'smtp', ['smtp:', 'smtps:'], 'PASSWORD_FILE'),
      ...provider('SMTP_FALLBACK', 'smtp-fallback', ['smtp:', 'smtps:'], 'PASSWORD_FILE'),
    ],
    sms: [
      ...provider('SMS_PROVIDER', 'sms', ['https:', 'http:'], 'TOKEN_FILE'),
      ...provider('SMS_FALLBACK', 'sms-fallback', ['https:', 'http:'], 'TOKEN_FILE'),
    ],
    push: [
      ...provider('PUSH_PROVIDER', 'push', ['https:', 'http:'], 'TOKEN_FILE'),
      ...provider('PUSH_FALLBACK', 'push-fallback', ['https:', 'http:'], 'TOKEN_FILE'),
    ],
  };
  if (!/^[^<>\n]*<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/.test(notify.from))
    problems.push('LECTERN_MAIL_FROM must be an address or `Name <address>`');

  const bootstrapAdmins = (env.LECTERN_BOOTSTRAP_ADMINS ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean);
  for (const e of bootstrapAdmins)
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e))
      problems.push(`LECTERN_BOOTSTRAP_ADMINS entry '${e}' is not an e-mail`);

  const rolesText = env.LECTERN_ROLES?.trim() || ROLES.join(',');
  const roles = rolesText.split(',').map((r) => r.trim()) as ProcessRole[];
  for (const r of roles)
    if (!ROLES.includes(r)) problems.push(`LECTERN_ROLES entry '${r}' is not one of ${ROLES.join(', ')}`);

  // In production every message must be deliverable: no development mailbox, no guessable key.
  if (production && !messageKeys && (roles.includes('api') || roles.includes('workers')))
    problems.push('LECTERN_MESSAGE_KEYS is required with NODE_ENV=production (roles api and workers)');
  if (production && roles.includes('workers') && notify.email.length === 0)
    problems.push('SMTP_URL is required with NODE_ENV=production in the workers role');
  // The one-click unsubscribe links in messages point at the API from outside.
  if (production && roles.includes('workers') && !publicUrl)
    problems.push('LECTERN_PUBLIC_URL is required with NODE_ENV=production in the workers role');

  const namespace = env.LECTERN_NAMESPACE?.trim() || 'lectern';
  if (!/^[a-z][a-z0-9_-]{0,40}$/.test(namespace))
    problems.push('LECTERN_NAMESPACE must be lowercase letters, digits, - or _ (at most 41)');

  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel))
    problems.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);

  const milliseconds = (name: string, fallback: number, min: number, max: number): number => {
    const text = env[name]?.trim();
    if (!text) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max)
      problems.push(`${name} must be a whole number of milliseconds from ${min} to ${max} (got '${text}')`);
    return value;
  };
  const shutdownGraceMs = milliseconds('LECTERN_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000);
  // Kafka brokers refuse sessions outside group.min/max.session.timeout.ms (6 s to 30 min by default).
  const kafkaSessionTimeoutMs = milliseconds('LECTERN_KAFKA_SESSION_TIMEOUT_MS', 10_000, 6000, 1_800_000);
  const consistencyWaitMs = milliseconds('LECTERN_CONSISTENCY_WAIT_MS', CONSISTENCY_WAIT_MS, 0, 600_000);
  const workerLeaseMs = milliseconds('LECTERN_WORKER_LEASE_MS', 60_000, 1000, 3_600_000);
  const auditIntervalMs = milliseconds('LECTERN_AUDIT_INTERVAL_MS', 21_600_000, 0, 604_800_000);

  const maxText = env.LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER?.trim();
  const realtimeMaxConnectionsPerUser = maxText ? Number(maxText) : 20;
  if (
    maxText &&
    (!/^\d+$/.test(maxText) || realtimeMaxConnectionsPerUser < 1 || realtimeMaxConnectionsPerUser > 10_000)
  )
    problems.push(
      `LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER must be a whole number from 1 to 10000 (got '${maxText}')`,
    );

  const stallText = env.LECTERN_CONSUMER_STALL_MS?.trim();
  const consumerStallMs = stallText ? Number(stallText) : 60_000;
  if (stallText && (!/^\d+$/.test(stallText) || consumerStallMs < 1000))
    problems.push(
      `LECTERN_CONSUMER_STALL_MS must be a whole number of milliseconds, at least 1000 (got '${stallText}')`,
    );

  if (problems.length) throw new ConfigError(problems);
  return {
    port,
    dataDir: env.LECTERN_DATA_DIR?.trim() || './.lectern',
    databaseUrl,
    eventStoreUrl,
    kafkaBrokers,
    clickhouseUrl,
    analyticsIngestKeys,
    s3,
    publicUrl,
    tokens: { issuer, audience },
    jwt,
    appUrl: appUrl.replace(/\/$/, ''),
    messageKeys,
    notify,
    bootstrapAdmins,
    roles,
    namespace,
    logLevel,
    production,
    consumerStallMs,
    auditIntervalMs,
    shutdownGraceMs,
    kafkaSessionTimeoutMs,
    consistencyWaitMs,
    workerLeaseMs,
    redis,
    realtimeMaxConnectionsPerUser,
  };
};
