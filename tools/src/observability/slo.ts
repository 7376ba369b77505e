/**
 * Lectern's service-level objectives, in one place: the Prometheus rules
 * (rules.ts), the Grafana dashboards (dashboards.ts) and the SLO table of
 * docs/operations.md are all written from these values.
 */

/**
 * A group of API routes with one availability and one latency objective.
 * `routes` is a regular expression (RE2, anchored by Prometheus) over the
 * `route` label of `lectern_http_request_duration_seconds`, which is the
 * Express route (`/api/courses/:courseId`); the groups never overlap.
 */
export type RouteGroup = Readonly<{
  name: string;
  routes: string;
  /** p95 target in seconds; a bucket bound of the histogram, so the ratio is exact. null: no latency SLO. */
  p95Seconds: number | null;
  why: string;
}>;

export const routeGroups: readonly RouteGroup[] = [
  {
    name: 'identity',
    routes: '/api/identity/.*|/\\.well-known/jwks\\.json',
    p95Seconds: 1,
    why: 'login, registration and resets spend scrypt time on purpose',
  },
  {
    name: 'profile',
    routes: '/api/profile(/.*)?|/api/experience-levels(/.*)?|/api/admin/experience-levels(/.*)?',
    p95Seconds: 0.25,
    why: 'one aggregate or one read-model row per request',
  },
  {
    name: 'content',
    routes: '/api/courses(/.*)?|/api/playback/.*',
    p95Seconds: 0.25,
    why: 'catalogue search and detail, author edits, playback manifests',
  },
  {
    name: 'chat',
    routes: '/api/chat/.*',
    p95Seconds: 0.1,
    why: 'history under 200 ms at p95 is the backlog figure; a page costs ≤ 5 ms in the benchmark, so 100 ms keeps it honest',
  },
  {
    name: 'notifications',
    routes: '/api/notify/.*|/api/subscriptions(/.*)?|/api/admin/notifications',
    p95Seconds: 0.25,
    why: 'appends and one-row reads; previews render a template (~11 ms)',
  },
  {
    name: 'analytics-ingest',
    routes: '/api/analytics/ingest',
    p95Seconds: 0.1,
    why: 'a validated batch produced straight to the log',
  },
  {
    name: 'analytics-reports',
    routes:
      '/api/analytics/reports/(dau|wau|mau|retention|funnel|course-completion)|/api/analytics/reports/pdf(/.*)?',
    p95Seconds: 2.5,
    why: 'reports under 2 s on 10M rows (backlog); 2.5 s is the nearest bucket bound',
  },
  {
    name: 'exports',
    routes: '/api/analytics/.*/export',
    p95Seconds: null,
    why: 'streams of any size: their duration is the size of the answer, not a latency',
  },
  {
    name: 'admin',
    routes: '/api/admin/(correlations|dead-letters|events|identity|projections|streams|users)(/.*)?',
    p95Seconds: null,
    why: 'rebuilds and audits run as long as the history they walk',
  },
];

/** Share of requests of a route group that must not be a 5xx, over 30 days. */
export const availabilityObjective = 0.999;
/** Share of requests of a route group that must finish within its p95 target (that is what p95 ≤ target means). */
export const latencyObjective = 0.95;
/** Share of reads sent with a consistency token that must see their write (not `X-Consistency: stale`). */
export const readYourWritesObjective = 0.99;
/** p95 of those waits, in seconds (a bucket bound): the read-your-writes lag. */
export const readYourWritesP95Seconds = 0.5;

/**
 * Multiwindow, multi-burn-rate alerts (the SRE workbook's): each fires when
 * both windows burn the 30-day budget at `factor` times the sustainable
 * rate; the short window makes it stop soon after the burn does.
 */
export const burnRates = [
  { severity: 'page', long: '1h', short: '5m', factor: 14.4, spends: '2% of the budget in 1 h' },
  { severity: 'page', long: '6h', short: '30m', factor: 6, spends: '5% of the budget in 6 h' },
  { severity: 'ticket', long: '1d', short: '2h', factor: 3, spends: '10% of the budget in 1 d' },
  { severity: 'ticket', long: '3d', short: '6h', factor: 1, spends: '10% of the budget in 3 d' },
] as const;

/** Every window a ratio is recorded over. */
export const windows = [...new Set(burnRates.flatMap((b) => [b.short, b.long]))];

/** Thresholds of the pipeline's objectives. */
export const pipeline = {
  /** A projection is behind by more than this (event age when applied) while it has lag. */
  projectionLagMs: 30_000,
  /** The relay publishes events older than this while it is publishing. */
  relayLagMs: 5_000,
  /** A worker takes up events older than this while messages wait for it (transcoding: `transcodeLagMs`). */
  workerLagMs: 60_000,
  /** Videos queue behind each other; an hour's backlog is still a working transcoder. */
  transcodeLagMs: 3_600_000,
  /** A reaction holds an unfinished event for longer than this (transcoding: `transcodeOldestPendingSeconds`). */
  workerOldestPendingSeconds: 300,
  /** A transcode of a long video takes up to an hour (the duration histogram's top bucket). */
  transcodeOldestPendingSeconds: 3600,
  /** Retries above this share of a worker's tries, over 15 minutes. */
  workerRetryRatio: 0.1,
  /** How long each threshold must hold before it alerts. */
  forDuration: '10m',
} as const;

/** The contexts, each with its route groups, read models and workers, for its dashboard. */
export const contexts = [
  { name: 'identity', routeGroups: ['identity'], projections: 'identity_.*', workers: [] },
  {
    name: 'profile',
    routeGroups: ['profile'],
    projections: 'profiles|profile_history|experience_levels',
    workers: [],
  },
  { name: 'content', routeGroups: ['content'], projections: 'course_.*', workers: ['transcoding'] },
  { name: 'chat', routeGroups: ['chat'], projections: 'chat_.*', workers: [] },
  {
    name: 'notifications',
    routeGroups: ['notifications'],
    projections: 'notification_.*',
    workers: ['notifications'],
  },
  {
    name: 'analytics',
    routeGroups: ['analytics-ingest', 'analytics-reports', 'exports'],
    projections: 'analytics|pdf_report_schedules',
    workers: ['reports'],
  },
] as const;

/** The `route` selector of a group, for a PromQL matcher (`route=~"…"`). */
export const routeMatcher = (g: RouteGroup): string => `route=~${JSON.stringify(g.routes)}`;

/** Prometheus' spelling of a bucket bound (`le="0.25"`), as prom-client writes it. */
export const le = (seconds: number): string => String(seconds);
