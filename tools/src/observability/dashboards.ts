import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  RowBuilder,
  type Dashboard,
  type Panel,
  type RowPanel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { availabilityObjective, contexts, routeGroups, type RouteGroup } from './slo.ts';

/** Every panel reads the Prometheus the viewer picks. */
const datasource = { type: 'prometheus', uid: '${datasource}' };
const RATE = '$__rate_interval';
const HTTP = 'lectern_http_request_duration_seconds';
/** Probes and scrapes are not traffic. */
const NOT_PROBES = 'route!~"/healthz|/readyz|/metrics"';

type Query = readonly [expr: string, legend: string];

const target = ([expr, legend]: Query) =>
  new DataqueryBuilder().expr(expr).legendFormat(legend).datasource(datasource);

const timeseries = (title: string, unit: string, ...queries: Query[]) => {
  const p = new TimeseriesBuilder().title(title).unit(unit).datasource(datasource).height(8).span(12);
  for (const q of queries) p.withTarget(target(q));
  return p;
};

const stat = (title: string, unit: string, query: Query) =>
  new StatBuilder()
    .title(title)
    .unit(unit)
    .datasource(datasource)
    .height(4)
    .span(6)
    .withTarget(target(query));

const dashboard = (uid: string, title: string, description: string) =>
  new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['lectern'])
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('utc')
    .tooltip(DashboardCursorSync.Crosshair)
    .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'));

/** A regular expression matching the routes of some groups. */
const routesOf = (groups: readonly RouteGroup[]): string => groups.map((g) => `(${g.routes})`).join('|');
const quoted = (s: string): string => JSON.stringify(s);

const api = (): Dashboard =>
  dashboard('lectern-api', 'Lectern / API', 'Traffic, errors and latency per route group, against their SLOs')
    .withRow(new RowBuilder('Objectives'))
    .withPanel(
      stat('Availability budget left (3 d pace)', 'percentunit', [
        `1 - max(lectern:slo_errors:ratio_rate3d{slo="availability"}) / ${Number((1 - availabilityObjective).toFixed(6))}`,
        'worst group',
      ]),
    )
    .withPanel(stat('Requests/s', 'reqps', [`sum(lectern:http_requests:rate5m)`, 'all groups']))
    .withPanel(
      stat('Worst 5xx ratio (1 h)', 'percentunit', [
        'max(lectern:slo_errors:ratio_rate1h{slo="availability"})',
        'worst group',
      ]),
    )
    .withPanel(
      stat('Worst share over p95 target (1 h)', 'percentunit', [
        'max(lectern:slo_errors:ratio_rate1h{slo="latency"})',
        'worst group',
      ]),
    )
    .withPanel(
      timeseries('Requests/s by route group', 'reqps', ['lectern:http_requests:rate5m', '{{route_group}}']),
    )
    .withPanel(
      timeseries('p95 latency by route group', 's', [
        'lectern:http_request_duration_seconds:p95_rate5m',
        '{{route_group}}',
      ]),
    )
    .withPanel(
      timeseries('5xx ratio by route group (1 h)', 'percentunit', [
        'lectern:slo_errors:ratio_rate1h{slo="availability"}',
        '{{route_group}}',
      ]),
    )
    .withPanel(
      timeseries('Share slower than the p95 target (1 h)', 'percentunit', [
        'lectern:slo_errors:ratio_rate1h{slo="latency"}',
        '{{route_group}}',
      ]),
    )
    .withRow(new RowBuilder('Routes'))
    .withPanel(
      timeseries('Answers/s by status', 'reqps', [
        `sum by (status) (rate(${HTTP}_count{${NOT_PROBES}}[${RATE}]))`,
        '{{status}}',
      ]),
    )
    .withPanel(
      timeseries('Slowest routes (p95)', 's', [
        `topk(10, histogram_quantile(0.95, sum by (le, method, route) (rate(${HTTP}_bucket{${NOT_PROBES}}[${RATE}]))))`,
        '{{method}} {{route}}',
      ]),
    )
    .withPanel(
      timeseries('5xx/s by route', 'reqps', [
        `sum by (method, route) (rate(${HTTP}_count{status=~"5.."}[${RATE}]))`,
        '{{method}} {{route}}',
      ]),
    )
    .withPanel(
      timeseries('Requests outside every route group', 'reqps', [
        `sum by (route) (rate(${HTTP}_count{${NOT_PROBES},route!~${quoted(routesOf(routeGroups))}}[${RATE}]))`,
        '{{route}}',
      ]),
    )
    .withRow(new RowBuilder('Processes'))
    .withPanel(
      timeseries('Event-loop lag p99', 's', [
        'max by (instance) (nodejs_eventloop_lag_p99_seconds)',
        '{{instance}}',
      ]),
    )
    .withPanel(
      timeseries('CPU', 'percentunit', [
        `sum by (instance) (rate(process_cpu_seconds_total[${RATE}]))`,
        '{{instance}}',
      ]),
    )
    .withPanel(
      timeseries('Resident memory', 'bytes', [
        'max by (instance) (process_resident_memory_bytes)',
        '{{instance}}',
      ]),
    )
    .withPanel(
      timeseries('Heap used', 'bytes', ['sum by (instance) (nodejs_heap_size_used_bytes)', '{{instance}}']),
    )
    .build();

const pipeline = (): Dashboard =>
  dashboard(
    'lectern-pipeline',
    'Lectern / Pipeline',
    'Appends, the relay, projections and workers: lag, stalls, retries and dead letters',
  )
    .withRow(new RowBuilder('Event store and relay'))
    .withPanel(
      timeseries(
        'Appends/s and events published/s',
        'ops',
        [`sum(rate(lectern_event_store_append_duration_seconds_count[${RATE}]))`, 'appends'],
        ['lectern:relay_published_events:rate5m', 'published by the relay'],
      ),
    )
    .withPanel(
      timeseries('Append latency p95', 's', [
        'lectern:event_store_append_duration_seconds:p95_rate5m',
        'p95',
      ]),
    )
    .withPanel(timeseries('Relay lag', 'ms', ['max(lectern_relay_lag_milliseconds)', 'last batch']))
    .withPanel(
      timeseries('Read-your-writes wait p95 by read model', 's', [
        'lectern:consistency_wait_seconds:p95_rate5m',
        '{{projection}}',
      ]),
    )
    .withRow(new RowBuilder('Projections'))
    .withPanel(
      timeseries('Lag (messages)', 'short', [
        'max by (projection) (lectern_projection_lag_events)',
        '{{projection}}',
      ]),
    )
    .withPanel(
      timeseries('Lag (event age when applied)', 'ms', [
        'max by (projection) (lectern_projection_lag_milliseconds)',
        '{{projection}}',
      ]),
    )
    .withPanel(
      timeseries('Applied/s', 'ops', [
        `sum by (projection) (rate(lectern_projection_applied_events_total[${RATE}]))`,
        '{{projection}}',
      ]),
    )
    .withPanel(
      timeseries('Reads answered stale (1 h)', 'percentunit', [
        'lectern:slo_errors:ratio_rate1h{slo="read_your_writes"}',
        'stale',
      ]),
    )
    .withRow(new RowBuilder('Consumers and dead letters'))
    .withPanel(
      timeseries('Stalled for', 's', [
        'max by (consumer) (lectern_consumer_stalled_seconds)',
        '{{consumer}}',
      ]),
    )
    .withPanel(
      timeseries('Retries/s', 'ops', [
        `sum by (consumer) (rate(lectern_consumer_retries_total[${RATE}]))`,
        '{{consumer}}',
      ]),
    )
    .withPanel(
      timeseries('Dead letters (last hour)', 'short', [
        'sum by (consumer) (increase(lectern_dead_lettered_total[1h]))',
        '{{consumer}}',
      ]),
    )
    .withPanel(
      timeseries('Dead letters since each process started', 'short', [
        'sum by (consumer) (lectern_dead_lettered_total)',
        '{{consumer}}',
      ]),
    )
    .withRow(new RowBuilder('Workers'))
    .withPanel(
      timeseries('Tries/s', 'ops', [
        `sum by (reactor) (rate(lectern_reactor_attempts_total[${RATE}]))`,
        '{{reactor}}',
      ]),
    )
    .withPanel(
      timeseries('Lag (event age when taken up)', 'ms', [
        'max by (reactor) (lectern_reactor_lag_milliseconds)',
        '{{reactor}}',
      ]),
    )
    .withPanel(
      timeseries('Lag (messages)', 'short', [
        'max by (projection) (lectern_projection_lag_events{projection=~"worker\\\\..+"})',
        '{{projection}}',
      ]),
    )
    .withPanel(
      timeseries('Oldest unfinished event', 's', [
        'max by (reactor) (lectern_reactor_oldest_pending_seconds)',
        '{{reactor}}',
      ]),
    )
    .build();

/** Panels only some contexts have. */
const extras: Record<string, (d: DashboardBuilder) => DashboardBuilder> = {
  content: (d) =>
    d
      .withRow(new RowBuilder('Transcoding'))
      .withPanel(
        timeseries('Transcode duration p95', 's', [
          `histogram_quantile(0.95, sum by (le, outcome) (rate(lectern_transcode_duration_seconds_bucket[${RATE}])))`,
          '{{outcome}}',
        ]),
      )
      .withPanel(
        timeseries('Speed (media s per wall s), median', 'short', [
          `histogram_quantile(0.5, sum by (le) (rate(lectern_transcode_speed_factor_bucket[${RATE}])))`,
          'median',
        ]),
      ),
  chat: (d) =>
    d
      .withRow(new RowBuilder('Realtime gateway'))
      .withPanel(
        timeseries('Open sockets', 'short', [
          'sum by (instance) (lectern_realtime_connections)',
          '{{instance}}',
        ]),
      )
      .withPanel(
        timeseries('Frames sent/s', 'ops', [
          `sum by (type) (rate(lectern_realtime_frames_sent_total[${RATE}]))`,
          '{{type}}',
        ]),
      )
      .withPanel(
        timeseries('Sockets closed by the gateway/s', 'ops', [
          `sum by (reason) (rate(lectern_realtime_closed_total[${RATE}]))`,
          '{{reason}}',
        ]),
      ),
};

const context = (c: (typeof contexts)[number]): Dashboard => {
  const groups = routeGroups.filter((g) => (c.routeGroups as readonly string[]).includes(g.name));
  const routes = `route=~${quoted(routesOf(groups))}`;
  const projections = `projection=~${quoted(c.projections)}`;
  let d = dashboard(
    `lectern-${c.name}`,
    `Lectern / ${c.name}`,
    `The ${c.name} context: its routes, read models${c.workers.length ? ' and workers' : ''}`,
  )
    .withRow(new RowBuilder('Routes'))
    .withPanel(
      timeseries('Requests/s by route', 'reqps', [
        `sum by (method, route) (rate(${HTTP}_count{${routes}}[${RATE}]))`,
        '{{method}} {{route}}',
      ]),
    )
    .withPanel(
      timeseries('p95 by route', 's', [
        `histogram_quantile(0.95, sum by (le, method, route) (rate(${HTTP}_bucket{${routes}}[${RATE}])))`,
        '{{method}} {{route}}',
      ]),
    )
    .withPanel(
      timeseries('Answers/s by status', 'reqps', [
        `sum by (status) (rate(${HTTP}_count{${routes}}[${RATE}]))`,
        '{{status}}',
      ]),
    )
    .withPanel(
      timeseries('SLO error ratios (1 h)', 'percentunit', [
        `lectern:slo_errors:ratio_rate1h{route_group=~${quoted(c.routeGroups.join('|'))}}`,
        '{{route_group}} {{slo}}',
      ]),
    )
    .withRow(new RowBuilder('Read models'))
    .withPanel(
      timeseries('Lag (messages)', 'short', [
        `max by (projection) (lectern_projection_lag_events{${projections}})`,
        '{{projection}}',
      ]),
    )
    .withPanel(
      timeseries('Lag (event age when applied)', 'ms', [
        `max by (projection) (lectern_projection_lag_milliseconds{${projections}})`,
        '{{projection}}',
      ]),
    );
  if (c.workers.length) {
    const reactors = `reactor=~${quoted(c.workers.join('|'))}`;
    const consumers = `consumer=~${quoted(c.workers.map((w) => `${w}|worker\\.${w}`).join('|'))}`;
    d = d
      .withRow(new RowBuilder('Workers'))
      .withPanel(
        timeseries(
          'Tries and retries/s',
          'ops',
          [
            `sum by (reactor) (rate(lectern_reactor_attempts_total{${reactors}}[${RATE}]))`,
            '{{reactor}} tries',
          ],
          [
            `sum by (consumer) (rate(lectern_consumer_retries_total{${consumers}}[${RATE}]))`,
            '{{consumer}} retries',
          ],
        ),
      )
      .withPanel(
        timeseries(
          'Oldest unfinished event, and dead letters (last hour)',
          'short',
          [
            `max by (reactor) (lectern_reactor_oldest_pending_seconds{${reactors}})`,
            '{{reactor}} oldest (s)',
          ],
          [
            `sum by (consumer) (increase(lectern_dead_lettered_total{${consumers}}[1h]))`,
            '{{consumer}} dead letters',
          ],
        ),
      );
  }
  return (extras[c.name]?.(d) ?? d).build();
};

/** Every dashboard, by file name. */
export const dashboards = (): Readonly<Record<string, Dashboard>> => ({
  'api.json': api(),
  'pipeline.json': pipeline(),
  ...Object.fromEntries(contexts.map((c) => [`context-${c.name}.json`, context(c)])),
});

/** Every panel of a dashboard, those inside rows included. */
export const panelsOf = (d: Dashboard): Panel[] =>
  (d.panels ?? []).flatMap((p: Panel | RowPanel) => ('panels' in p ? p.panels : [p]) as Panel[]);

/** The PromQL of every query of every panel. */
export const queriesOf = (d: Dashboard): { panel: string; expr: string }[] =>
  panelsOf(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title ?? '',
      expr: String((t as { expr?: unknown }).expr ?? ''),
    })),
  );
