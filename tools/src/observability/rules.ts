import {
  availabilityObjective,
  burnRates,
  latencyObjective,
  le,
  pipeline,
  readYourWritesObjective,
  readYourWritesP95Seconds,
  routeGroups,
  routeMatcher,
  windows,
} from './slo.ts';

export type RecordingRule = Readonly<{
  record: string;
  expr: string;
  labels?: Readonly<Record<string, string>>;
}>;
export type AlertingRule = Readonly<{
  alert: string;
  expr: string;
  for?: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}>;
export type Rule = RecordingRule | AlertingRule;
export type RuleGroup = Readonly<{ name: string; rules: readonly Rule[] }>;

const HTTP = 'lectern_http_request_duration_seconds';
const WAIT = 'lectern_consistency_wait_seconds';
const RUNBOOK = 'docs/operations.md#slos-and-alerts';

/** The recorded error ratio of an SLO over a window: what the burn-rate alerts compare. */
export const ratioRecord = (window: string): string => `lectern:slo_errors:ratio_rate${window}`;

/** The SLOs with an error budget: what their ratio counts, and the share that must be good. */
const budgets = [
  {
    slo: 'availability',
    objective: availabilityObjective,
    name: 'Availability',
    bad: 'of requests answered 5xx',
  },
  {
    slo: 'latency',
    objective: latencyObjective,
    name: 'Latency',
    bad: "of requests slower than their route group's p95 target",
  },
  {
    slo: 'read_your_writes',
    objective: readYourWritesObjective,
    name: 'ReadYourWrites',
    bad: 'of reads sent with a consistency token answered stale',
  },
  {
    slo: 'read_your_writes_latency',
    objective: latencyObjective,
    name: 'ReadYourWritesLatency',
    bad: `of the consistency waits that caught up took longer than ${readYourWritesP95Seconds} s`,
  },
] as const;

/** 1. Error ratios of every SLO over every window, per route group for the HTTP ones. */
const sloRecords = (): RecordingRule[] =>
  windows.flatMap((w) => [
    ...routeGroups.flatMap((g): RecordingRule[] => {
      const all = `sum(rate(${HTTP}_count{${routeMatcher(g)}}[${w}]))`;
      return [
        {
          record: ratioRecord(w),
          expr: `(sum(rate(${HTTP}_count{${routeMatcher(g)},status=~"5.."}[${w}])) or vector(0))\n/\n${all}`,
          labels: { slo: 'availability', route_group: g.name },
        },
        ...(g.p95Seconds === null
          ? []
          : [
              {
                record: ratioRecord(w),
                expr: `1 - (\n  sum(rate(${HTTP}_bucket{${routeMatcher(g)},le="${le(g.p95Seconds)}"}[${w}]))\n  /\n  ${all}\n)`,
                labels: { slo: 'latency', route_group: g.name },
              },
            ]),
      ];
    }),
    {
      record: ratioRecord(w),
      expr: `(sum(rate(${WAIT}_count{outcome="stale"}[${w}])) or vector(0))\n/\nsum(rate(${WAIT}_count[${w}]))`,
      labels: { slo: 'read_your_writes' },
    },
    {
      record: ratioRecord(w),
      // Of the waits that caught up: a stale one is slow by definition, and
      // already spends the read_your_writes budget.
      expr: `1 - (\n  sum(rate(${WAIT}_bucket{outcome="caught_up",le="${le(readYourWritesP95Seconds)}"}[${w}]))\n  /\n  sum(rate(${WAIT}_count{outcome="caught_up"}[${w}]))\n)`,
      labels: { slo: 'read_your_writes_latency' },
    },
  ]);

/** 2. What the dashboards draw: rates and p95 per route group, and the pipeline's p95s. */
const dashboardRecords = (): RecordingRule[] => [
  ...routeGroups.flatMap((g): RecordingRule[] => [
    {
      record: 'lectern:http_requests:rate5m',
      expr: `sum(rate(${HTTP}_count{${routeMatcher(g)}}[5m]))`,
      labels: { route_group: g.name },
    },
    {
      record: 'lectern:http_request_duration_seconds:p95_rate5m',
      expr: `histogram_quantile(0.95, sum by (le) (rate(${HTTP}_bucket{${routeMatcher(g)}}[5m])))`,
      labels: { route_group: g.name },
    },
  ]),
  {
    record: 'lectern:event_store_append_duration_seconds:p95_rate5m',
    expr: 'histogram_quantile(0.95, sum by (le) (rate(lectern_event_store_append_duration_seconds_bucket[5m])))',
  },
  {
    record: 'lectern:consistency_wait_seconds:p95_rate5m',
    expr: `histogram_quantile(0.95, sum by (le, projection) (rate(${WAIT}_bucket[5m])))`,
  },
  {
    record: 'lectern:relay_published_events:rate5m',
    expr: 'sum(rate(lectern_relay_published_events_total[5m]))',
  },
];

/** 3. Multiwindow, multi-burn-rate alerts: a fast pair that pages, a slow pair that opens a ticket. */
const burnAlerts = (): AlertingRule[] =>
  budgets.flatMap((b) =>
    (['page', 'ticket'] as const).map((severity) => {
      const pairs = burnRates.filter((r) => r.severity === severity);
      const budget = Number((1 - b.objective).toFixed(6));
      const expr = pairs
        .map(
          (r) =>
            `(\n  ${ratioRecord(r.long)}{slo="${b.slo}"} > (${r.factor} * ${budget})\n  and\n  ${ratioRecord(r.short)}{slo="${b.slo}"} > (${r.factor} * ${budget})\n)`,
        )
        .join('\nor\n');
      const where = b.slo.startsWith('read_your_writes') ? '' : ' on {{ $labels.route_group }}';
      return {
        alert: `Lectern${b.name}BudgetBurn${severity === 'page' ? '' : 'Slow'}`,
        expr,
        for: severity === 'page' ? '2m' : '15m',
        labels: { severity, slo: b.slo },
        annotations: {
          summary: `The ${b.slo} error budget${where} burns too fast`,
          description:
            `{{ $value | humanizePercentage }} ${b.bad} over the long window (objective ${b.objective * 100}% good ` +
            `over 30 days); at this pace that spends ${pairs.map((p) => p.spends).join(', or ')}.`,
          runbook: RUNBOOK,
        },
      };
    }),
  );

/** 4. Thresholds on the pipeline: lag, stalls, dead letters, retries. */
const pipelineAlerts = (): AlertingRule[] => [
  {
    alert: 'LecternProjectionLagging',
    expr:
      `max by (projection) (lectern_projection_lag_milliseconds) > ${pipeline.projectionLagMs}\n` +
      'and on (projection)\nmax by (projection) (lectern_projection_lag_events) > 0',
    for: pipeline.forDuration,
    labels: { severity: 'ticket', slo: 'projection_lag' },
    annotations: {
      summary: 'Read model {{ $labels.projection }} applies events more than 30 s after they happened',
      description: 'The newest event it applied was {{ $value }} ms old, and messages still wait for it.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternConsumerStalled',
    expr: 'max by (consumer) (lectern_consumer_stalled_seconds) > 0',
    for: '5m',
    labels: { severity: 'page', slo: 'stuck_consumers' },
    annotations: {
      summary: 'Consumer {{ $labels.consumer }} has lag and has not advanced',
      description:
        'Not advanced for {{ $value }} s with messages waiting; /readyz names it. A restart will not move it: read its logs and dead letters.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternProjectionAuditFindings',
    expr: 'max by (projection) (lectern_projection_audit_findings) > 0',
    labels: { severity: 'ticket', slo: 'projection_integrity' },
    annotations: {
      summary: 'The audit of read model {{ $labels.projection }} found events it did not apply once',
      description:
        '{{ $value }} skipped, unapplied, doubled or unaccounted. `lectern audit {{ $labels.projection }}` names them; `--repair` applies the skipped and unapplied ones.',
      runbook: 'docs/operations.md#audit',
    },
  },
  {
    alert: 'LecternDeadLettersGrowing',
    // The second half catches a first letter: a counter's series is born at 1,
    // which `increase` cannot see. Per series (per process), so that one
    // process's first letter shows while another has held some for long.
    expr:
      'sum by (consumer) (\n  increase(lectern_dead_lettered_total[15m]) > 0\n  or\n' +
      '  (lectern_dead_lettered_total unless lectern_dead_lettered_total offset 15m)\n)',
    labels: { severity: 'ticket', slo: 'dead_letters' },
    annotations: {
      summary: 'Consumer {{ $labels.consumer }} set messages aside in its dead-letter topic',
      description:
        '{{ $value | humanize }} in the last 15 minutes. `lectern dlq show {{ $labels.consumer }}` shows them with their errors; redrive once the cause is fixed.',
      runbook: 'docs/operations.md#dead-letters',
    },
  },
  {
    alert: 'LecternWorkerRetrying',
    expr:
      'sum by (consumer) (rate(lectern_consumer_retries_total[15m]))\n/ on (consumer)\n' +
      'label_replace(sum by (reactor) (rate(lectern_reactor_attempts_total[15m])), "consumer", "$1", "reactor", "(.*)")\n' +
      `> ${pipeline.workerRetryRatio}`,
    for: pipeline.forDuration,
    labels: { severity: 'ticket', slo: 'worker_retries' },
    annotations: {
      summary: 'Worker {{ $labels.consumer }} retries more than 10% of its tries',
      description: '{{ $value | humanizePercentage }} of its tries in 15 minutes were retries.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternWorkerLagging',
    // Only while messages wait for it: an idle worker keeps the age of its last event.
    expr:
      '(\n' +
      `  max by (reactor) (lectern_reactor_lag_milliseconds{reactor!="transcoding"}) > ${pipeline.workerLagMs}\n  or\n` +
      `  max by (reactor) (lectern_reactor_lag_milliseconds{reactor="transcoding"}) > ${pipeline.transcodeLagMs}\n` +
      ')\nand on (reactor)\n' +
      'label_replace(max by (projection) (lectern_projection_lag_events{projection=~"worker\\\\..+"}), "reactor", "$1", "projection", "worker\\\\.(.+)") > 0',
    for: pipeline.forDuration,
    labels: { severity: 'ticket', slo: 'consumer_lag' },
    annotations: {
      summary: 'Worker {{ $labels.reactor }} takes up events long after they happened',
      description: 'The newest event it took up was {{ $value }} ms old, and messages still wait for it.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternWorkerStuck',
    expr:
      `max by (reactor) (lectern_reactor_oldest_pending_seconds{reactor!="transcoding"}) > ${pipeline.workerOldestPendingSeconds}\nor\n` +
      `max by (reactor) (lectern_reactor_oldest_pending_seconds{reactor="transcoding"}) > ${pipeline.transcodeOldestPendingSeconds}`,
    for: pipeline.forDuration,
    labels: { severity: 'ticket', slo: 'stuck_consumers' },
    annotations: {
      summary: 'Worker {{ $labels.reactor }} holds an event it has not finished',
      description: 'Its oldest claimed event is {{ $value | humanizeDuration }} old.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternRelayLagging',
    expr:
      `max(lectern_relay_lag_milliseconds) > ${pipeline.relayLagMs}\n` +
      'and\nsum(rate(lectern_relay_published_events_total[5m])) > 0',
    for: pipeline.forDuration,
    labels: { severity: 'ticket', slo: 'relay_lag' },
    annotations: {
      summary: 'The relay publishes events more than 5 s after they were appended',
      description: 'Its last batch was {{ $value }} ms old when published.',
      runbook: RUNBOOK,
    },
  },
  {
    alert: 'LecternRelayStalled',
    expr:
      'sum(rate(lectern_event_store_append_duration_seconds_count[10m])) > 0\n' +
      'unless\nsum(rate(lectern_relay_published_events_total[10m])) > 0',
    for: '5m',
    labels: { severity: 'page', slo: 'relay_lag' },
    annotations: {
      summary: 'Events are appended but the relay publishes none',
      description:
        'Appends go on ({{ printf "%.2f" $value }}/s) and nothing reached the log for 10 minutes: no read model, worker or socket sees them. Is the one relay process running?',
      runbook: RUNBOOK,
    },
  },
];

export const ruleGroups = (): readonly RuleGroup[] => [
  { name: 'lectern-slo-ratios', rules: sloRecords() },
  { name: 'lectern-dashboards', rules: dashboardRecords() },
  { name: 'lectern-slo-burn', rules: burnAlerts() },
  { name: 'lectern-pipeline', rules: pipelineAlerts() },
];

/** A YAML scalar: JSON's double-quoted strings are YAML's too. */
const scalar = (s: string): string => (/^[A-Za-z0-9_.:/-]+$/.test(s) ? s : JSON.stringify(s));

const block = (text: string, indent: string): string =>
  `|-\n${text
    .split('\n')
    .map((l) => `${indent}${l}`)
    .join('\n')}`;

const map = (m: Readonly<Record<string, string>>, indent: string): string =>
  Object.entries(m)
    .map(([k, v]) => `\n${indent}${k}: ${scalar(v)}`)
    .join('');

/** The rule file, as Prometheus reads it (`rule_files:`). */
export const renderRules = (groups: readonly RuleGroup[]): string => {
  const out = [
    '# Generated by tools/src/observability/generate.ts from tools/src/observability/slo.ts:',
    '# edit those and run `./dev obs-generate`; `./dev obs-check` checks this file is current.',
    'groups:',
  ];
  for (const g of groups) {
    out.push(`  - name: ${g.name}`, '    rules:');
    for (const r of g.rules) {
      if ('record' in r) out.push(`      - record: ${r.record}`);
      else out.push(`      - alert: ${r.alert}`);
      out.push(`        expr: ${block(r.expr, '          ')}`);
      if ('alert' in r && r.for) out.push(`        for: ${r.for}`);
      if (r.labels && Object.keys(r.labels).length) out.push(`        labels:${map(r.labels, '          ')}`);
      if ('annotations' in r) out.push(`        annotations:${map(r.annotations, '          ')}`);
    }
  }
  return `${out.join('\n')}\n`;
};
