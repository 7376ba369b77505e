import type { AddressInfo } from 'node:net';
import test from 'ava';
import { createHttpApp } from '@lectern/infra/http/app';
import { createLogger } from '@lectern/infra/runtime/logger';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  SpanKind,
  inSpan,
  messageSpans,
  parseTraceparent,
  startSpan,
  traceparentOf,
} from '@lectern/infra/runtime/tracing';
import { serviceNameOf, startTracing } from '../src/tracing.ts';

// What a recording SDK makes of infra's spans: the SDK of the process entry,
// with an exporter that keeps what it is given instead of sending it.
type Exported = Readonly<{
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Readonly<Record<string, unknown>>;
  status: number;
  /** The trace and span ids of the contexts it links to. */
  links: readonly string[];
}>;

const REQUEST = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const OTHER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Serves an app made by `createHttpApp` on loopback until `use` settles. */
const serving = async <T>(
  tracePeers: ((address: string, hop: number) => boolean) | undefined,
  route: (app: ReturnType<typeof createHttpApp>['app']) => void,
  use: (base: string) => Promise<T>,
): Promise<T> => {
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
    ...(tracePeers ? { tracePeers } : {}),
  });
  route(app);
  finish();
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    return await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
};

const STRANGER = () => false;

test.serial('off: no endpoint, no SDK; spans do not record and work runs as before', async (t) => {
  t.is(await startTracing(['api'], {}), null);
  const sync = inSpan('x', {}, (span) => {
    t.false(span.isRecording());
    return 42;
  });
  t.is(sync, 42, 'a synchronous function stays synchronous');
  t.is(traceparentOf(startSpan('y', { parent: REQUEST }).span), null);
  const spans = messageSpans('z', [REQUEST, OTHER, null]);
  t.is(await spans.run(async () => 'done'), 'done');

  // The events' context still continues a trusted caller's trace, and never a stranger's.
  const answered = (peers: typeof STRANGER | undefined) =>
    serving(
      peers,
      (app) => app.get('/t', (req, res) => void res.json({ traceparent: req.ctx.traceparent })),
      async (base) => {
        const r = await fetch(`${base}/t`, { headers: { traceparent: REQUEST } });
        const body = (await r.json()) as { traceparent: string };
        t.is(r.headers.get('traceparent'), body.traceparent);
        return body.traceparent;
      },
    );
  t.regex(
    await answered(undefined),
    /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/,
  );
  const own = await answered(STRANGER);
  t.regex(own, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.false(own.includes('0af7651916cd43dd8448eb211c80319c'), "a stranger's trace id is not taken");
});

test.serial('service names: one per role, lectern for them all, OTEL_SERVICE_NAME first', (t) => {
  t.is(serviceNameOf(['api'], {}), 'lectern-api');
  t.is(serviceNameOf(['relay', 'projections'], {}), 'lectern-relay+projections');
  t.is(serviceNameOf(['api', 'relay', 'projections', 'workers', 'realtime'], {}), 'lectern');
  t.is(serviceNameOf(['api'], { OTEL_SERVICE_NAME: 'edge-api' }), 'edge-api');
});

test.serial('parseTraceparent takes W3C version 00 only, never an all-zero id', (t) => {
  t.like(parseTraceparent(REQUEST), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
  });
  t.is(parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'), null);
  t.is(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'), null);
  t.is(parseTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), null);
  t.is(parseTraceparent('garbage'), null);
  t.is(parseTraceparent(undefined), null);
});

test.serial('on: spans continue the traceparent they are given, nest, and fail with the error', async (t) => {
  const exported: Exported[] = [];
  const sdk = new NodeSDK({
    serviceName: 'lectern-test',
    traceExporter: {
      export(spans, done) {
        for (const s of spans)
          exported.push({
            name: s.name,
            kind: s.kind,
            traceId: s.spanContext().traceId,
            spanId: s.spanContext().spanId,
            parentSpanId: s.parentSpanContext?.spanId,
            attributes: s.attributes,
            status: s.status.code,
            links: s.links.map((l) => `${l.context.traceId}-${l.context.spanId}`),
          });
        done({ code: 0 /* SUCCESS */ });
      },
      shutdown: async () => {},
    },
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();

  // 1. A request's span continues the caller's trace; what runs inside nests under it.
  const request = startSpan('PUT', { kind: SpanKind.SERVER, parent: REQUEST });
  const carried = traceparentOf(request.span);
  t.regex(carried ?? '', /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  await request.run(() => inSpan('event-store append', {}, async () => {}));
  request.span.end();

  // 2. A batch of two traces (and a message with none): a span per trace, each under its message's parent.
  const publish = messageSpans('publish t', [carried, carried, OTHER, null], { kind: SpanKind.PRODUCER });
  const header = traceparentOf(publish.spanFor(carried));
  await publish.run(async () => {});

  // 3. The consumer: its process span is a child of the header; apply nests under it (same trace).
  const processed = messageSpans('process t', [header], { kind: SpanKind.CONSUMER });
  await processed.run(() => messageSpans('apply p', [header]).run(async () => {}));

  // 4. Over HTTP: named by the route template, never the path's ids; what the
  //    handler starts after the body arrived nests under it; its context is
  //    the request's; probes make no span.
  let handlerTraceparent = '';
  await serving(
    undefined,
    (app) =>
      app.put('/things/:id', async (req, res) => {
        handlerTraceparent = req.ctx.traceparent;
        await inSpan('event-store append', { attributes: { 'lectern.event.count': 1 } }, async () => {});
        res.status(201).json({ ok: true });
      }),
    async (base) => {
      const answered = await fetch(`${base}/things/secret-id-42`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', traceparent: OTHER },
        // The body comes in two pieces, the second later: it arrives in the
        // request stream's events, outside the middleware's call.
        body: new ReadableStream({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('{"name":'));
            await new Promise((r) => setTimeout(r, 50));
            controller.enqueue(new TextEncoder().encode('"body text"}'));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      t.is(answered.status, 201);
      t.is(answered.headers.get('traceparent'), handlerTraceparent);
      t.is((await fetch(`${base}/healthz`)).status, 200);
    },
  );

  // 4b. A stranger's traceparent is not continued: the request starts its own trace, linked to theirs.
  const strangers = await serving(
    STRANGER,
    (app) => app.post('/strange', (req, res) => void res.json({ traceparent: req.ctx.traceparent })),
    async (base) => {
      const r = await fetch(`${base}/strange`, { method: 'POST', headers: { traceparent: OTHER } });
      return ((await r.json()) as { traceparent: string }).traceparent;
    },
  );

  // 5. A failure marks the span, and is rethrown untouched.
  await t.throwsAsync(
    inSpan('react w', { parent: OTHER }, async () => {
      throw new Error('provider down');
    }),
    { message: 'provider down' },
  );
  await sdk.shutdown();

  const one = (name: string, traceId?: string) => {
    const found = exported.filter((s) => s.name === name && (!traceId || s.traceId === traceId));
    t.is(found.length, 1, `${name} ${traceId ?? ''}`);
    return found[0]!;
  };
  const put = one('PUT');
  t.is(put.parentSpanId, 'b7ad6b7169203331');
  t.is(one('event-store append', put.traceId).parentSpanId, put.spanId);
  const sent = one('publish t', put.traceId);
  t.is(sent.parentSpanId, put.spanId);
  t.is(one('publish t', '4bf92f3577b34da6a3ce929d0e0e4736').parentSpanId, '00f067aa0ba902b7');
  t.is(exported.filter((s) => s.name === 'publish t').length, 3, 'one per trace, the untraced one a root');
  const process = one('process t');
  t.is(process.parentSpanId, sent.spanId);
  t.is(one('apply p').parentSpanId, process.spanId);
  const route = one('PUT /things/:id');
  t.is(route.kind, SpanKind.SERVER);
  t.is(route.parentSpanId, '00f067aa0ba902b7');
  t.like(route.attributes, { 'http.route': '/things/:id', 'http.response.status_code': 201 });
  t.is(handlerTraceparent, `00-${route.traceId}-${route.spanId}-01`);
  t.is(exported.filter((s) => s.name === 'event-store append' && s.parentSpanId === route.spanId).length, 1);
  t.false(JSON.stringify(exported).includes('secret-id-42'), 'no raw path');
  t.false(JSON.stringify(exported).includes('body text'), 'no body');
  t.false(
    exported.some((s) => s.name.includes('healthz')),
    'probes are not traced',
  );
  const strange = one('POST /strange');
  t.not(strange.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.is(strange.parentSpanId, undefined, 'a root');
  t.deepEqual(strange.links, ['4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7']);
  t.is(strangers, `00-${strange.traceId}-${strange.spanId}-01`);
  const failed = one('react w');
  t.is(failed.status, 2 /* ERROR */);
  t.is(failed.attributes['error.type'], 'Error');
});
