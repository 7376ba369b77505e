import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics every process exposes (ARCHITECTURE.md §5.9), on one registry
 * made by the composition root.
 */
export const createMetrics = () => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ms = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    httpDuration: new Histogram({
      name: 'lectern_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: ms,
      registers: [registry],
    }),
    appendDuration: new Histogram({
      name: 'lectern_event_store_append_duration_seconds',
      help: 'Event store append latency',
      buckets: ms,
      registers: [registry],
    }),
    consistencyWait: new Histogram({
      name: 'lectern_consistency_wait_seconds',
      help: 'How long a read sent with a consistency token waited for its read model, by outcome (caught_up or stale)',
      labelNames: ['projection', 'outcome'] as const,
      buckets: ms,
      registers: [registry],
    }),
    relayLagMs: new Gauge({
      name: 'lectern_relay_lag_milliseconds',
      help: 'Time from an event occurring to the relay publishing it, for the last batch',
      registers: [registry],
    }),
    relayPublished: new Counter({
      name: 'lectern_relay_published_events_total',
      help: 'Events the relay published to the log',
      registers: [registry],
    }),
    projectionLagEvents: new Gauge({
      name: 'lectern_projection_lag_events',
      help: 'Messages in the log not yet applied by a projection',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    projectionLagMs: new Gauge({
      name: 'lectern_projection_lag_milliseconds',
      help: 'Age of the newest event applied by a projection when it was applied',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    projectionApplied: new Counter({
      name: 'lectern_projection_applied_events_total',
      help: 'Events applied by a projection',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    projectionAuditFindings: new Gauge({
      name: 'lectern_projection_audit_findings',
      help: 'Skipped, unapplied, doubled and unaccounted events the last audit of a projection found',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    projectionAuditedAt: new Gauge({
      name: 'lectern_projection_audit_last_run_seconds',
      help: 'When the last audit of a projection ended (Unix seconds)',
      labelNames: ['projection'] as const,
      registers: [registry],
    }),
    consumerRetries: new Counter({
      name: 'lectern_consumer_retries_total',
      help: 'Batches or events a consumer retried after a failure',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    consumerStalledSeconds: new Gauge({
      name: 'lectern_consumer_stalled_seconds',
      help: 'How long a consumer has had lag without committing anything, once past its stall limit (else 0)',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    reactorAttempts: new Counter({
      name: 'lectern_reactor_attempts_total',
      help: 'Tries of a reaction on an event (first tries and retries)',
      labelNames: ['reactor'] as const,
      registers: [registry],
    }),
    reactorLagMs: new Gauge({
      name: 'lectern_reactor_lag_milliseconds',
      help: 'Age of the newest event a reaction took up, when it took it up (redriven letters left out)',
      labelNames: ['reactor'] as const,
      registers: [registry],
    }),
    reactorOldestPendingSeconds: new Gauge({
      name: 'lectern_reactor_oldest_pending_seconds',
      help: 'Age of the oldest event a reaction has claimed and not finished (0 when none)',
      labelNames: ['reactor'] as const,
      registers: [registry],
    }),
    transcodeDuration: new Histogram({
      name: 'lectern_transcode_duration_seconds',
      help: 'Wall time of the try that ended a transcode job, from its start to the ladder or the failure recorded',
      labelNames: ['outcome'] as const,
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    transcodeSpeedFactor: new Histogram({
      name: 'lectern_transcode_speed_factor',
      help: "Seconds of video encoded per second of wall time (ffmpeg's speed), per job",
      buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'lectern_dead_lettered_total',
      help: 'Events sent to a dead-letter topic (the DLQ size grows by these)',
      labelNames: ['consumer'] as const,
      registers: [registry],
    }),
    realtimeConnections: new Gauge({
      name: 'lectern_realtime_connections',
      help: 'WebSocket connections open on this gateway process',
      registers: [registry],
    }),
    realtimeFramesSent: new Counter({
      name: 'lectern_realtime_frames_sent_total',
      help: 'Frames the gateway sent, by type (item, reply, presence, error…)',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    realtimeClosed: new Counter({
      name: 'lectern_realtime_closed_total',
      help: 'Connections the gateway closed, by reason (slow_consumer, token_expired, rate_limited…)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
};

export type Metrics = ReturnType<typeof createMetrics>;
