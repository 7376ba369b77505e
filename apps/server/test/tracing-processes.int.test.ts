import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { freshDatabase, requireEngine } from '@lectern/infra/testing/engines';
import { jsonClient } from './http-client.ts';
import { PATIENT_READS } from './patient-reads.ts';
import { startServerProcess } from '../src/process.ts';

/**
 * Traces across processes (issue 13 part 4): a profile PUT through an api,
 * a relay and a projections process on Kafka, each exporting its spans over
 * OTLP to a real Jaeger (infra/local/jaeger.sh), is one trace there, with
 * the spans of all three services chained parent to child.
 */

const databaseUrl = requireEngine(test, 'DATABASE_URL', 'PostgreSQL (traces across processes)');
const brokers = requireEngine(test, 'KAFKA_BROKERS', 'Kafka (traces across processes)');
const otlpUrl = requireEngine(test, 'JAEGER_OTLP_URL', 'Jaeger OTLP (traces across processes)');
const jaegerUrl = requireEngine(test, 'JAEGER_URL', 'Jaeger API (traces across processes)');

/** A span as Jaeger's HTTP API (`/api/traces/<id>`) answers it. */
type JaegerSpan = Readonly<{
  spanID: string;
  operationName: string;
  processID: string;
  references: readonly { refType: string; spanID: string }[];
  tags: readonly { key: string; value: unknown }[];
}>;
type JaegerTrace = Readonly<{
  spans: readonly JaegerSpan[];
  processes: Readonly<Record<string, { serviceName: string }>>;
}>;

const readTrace = async (traceId: string): Promise<JaegerTrace | null> => {
  const res = await fetch(`${jaegerUrl}/api/traces/${traceId}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`Jaeger answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { data?: JaegerTrace[] };
  return body.data?.[0] ?? null;
};

if (databaseUrl && brokers && otlpUrl && jaegerUrl) {
  test('a PUT is one trace in Jaeger across api, relay and projections on Kafka', async (t) => {
    const db = await freshDatabase(databaseUrl);
    const namespace = `trace-${db.name}`;
    const dirs: string[] = [];
    const shared = {
      ...PATIENT_READS,
      DATABASE_URL: db.url,
      KAFKA_BROKERS: brokers,
      LECTERN_NAMESPACE: namespace,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
      // Sent within a second rather than the default five: the test waits for them.
      OTEL_BSP_SCHEDULE_DELAY: '500',
    };
    const start = async (roles: string) => {
      // A data folder each: chDB serves one process per folder.
      const dir = await mkdtemp(join(tmpdir(), 'lectern-trace-'));
      dirs.push(dir);
      return startServerProcess({ ...shared, LECTERN_DATA_DIR: dir, LECTERN_ROLES: roles });
    };
    const started = await Promise.allSettled([start('api'), start('relay'), start('projections')]);
    const processes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const [api] = processes;
    try {
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      const http = jsonClient(() => api!.url);
      const token = (
        await http('POST', '/api/dev/token', { body: { sub: randomUUID(), roles: ['learner'] } })
      ).body!.token as string;
      // The client starts the trace, as a browser or gateway with tracing would.
      const traceId = randomBytes(16).toString('hex');
      const displayName = `Traced ${randomUUID()}`;
      const put = await http('PUT', '/api/profile', {
        token,
        body: { displayName },
        headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      });
      t.is(put.status, 200, JSON.stringify(put.body));
      t.regex(put.headers.get('traceparent') ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      // Read-your-writes: the projections process applied the event.
      const read = await http('GET', '/api/profile', {
        token,
        headers: { 'x-consistency-token': put.headers.get('x-consistency-token')! },
      });
      t.is(read.headers.get('x-consistency'), 'caught-up');
      t.is(read.body?.displayName, displayName);

      // The processes export in batches: wait (bounded) until every service's spans arrived.
      const wanted = ['lectern-api', 'lectern-relay', 'lectern-projections'];
      const deadline = Date.now() + 120_000;
      let trace: JaegerTrace | null = null;
      let services: string[] = [];
      for (;;) {
        trace = await readTrace(traceId);
        services = trace
          ? [...new Set(trace.spans.map((s) => trace!.processes[s.processID]!.serviceName))]
          : [];
        const applied = trace?.spans.some((s) => s.operationName === 'apply profiles');
        if (wanted.every((w) => services.includes(w)) && applied) break;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      t.truthy(trace, `no trace ${traceId} in Jaeger`);
      t.deepEqual(services.filter((s) => wanted.includes(s)).sort(), [...wanted].sort(), services.join(', '));

      // The chain, parent to child, across the three processes.
      const spans = trace!.spans;
      const serviceOf = (s: JaegerSpan) => trace!.processes[s.processID]!.serviceName;
      const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
      const named = (name: string, service: string) => {
        const found = spans.find((s) => s.operationName === name && serviceOf(s) === service);
        t.truthy(
          found,
          `${name} in ${service}; spans: ${spans.map((s) => `${serviceOf(s)}:${s.operationName}`).join(', ')}`,
        );
        return found!;
      };
      const tag = (s: JaegerSpan, key: string) => s.tags.find((x) => x.key === key)?.value;
      const request = named('PUT /api/profile', 'lectern-api');
      t.is(tag(request, 'http.route'), '/api/profile');
      t.is(tag(request, 'http.response.status_code'), 200);
      const append = named('event-store append', 'lectern-api');
      t.is(parentOf(append), request.spanID);
      const topic = `${namespace}.profile.events`;
      const publish = named(`publish ${topic}`, 'lectern-relay');
      t.is(parentOf(publish), request.spanID);
      // Several projections may consume the topic, each its own process span: the one above apply.
      const apply = named('apply profiles', 'lectern-projections');
      const processed = spans.find((s) => s.spanID === parentOf(apply));
      t.is(processed?.operationName, `process ${topic}`);
      t.is(processed && serviceOf(processed), 'lectern-projections');
      t.is(processed && parentOf(processed), publish.spanID);
      t.is(processed && tag(processed, 'messaging.system'), 'kafka');

      // Nothing the client sent in the body or as a credential is in any span.
      const everything = JSON.stringify(spans);
      t.false(everything.includes(displayName), 'the request body stays out of spans');
      t.false(everything.includes(token), 'the token stays out of spans');
    } finally {
      await Promise.all(processes.map((p) => p.stop()));
      await Promise.all(
        dirs.map((d) => rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 })),
      );
      await db.drop();
    }
  });
}
