import {
  context,
  trace,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

/**
 * Spans, through the OpenTelemetry API only: the SDK that records and
 * exports them is started by the process entry (apps/server/src/tracing.ts)
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Without it the API hands out
 * non-recording spans and these helpers cost a few allocations, no I/O.
 *
 * The trace context crosses processes as W3C `traceparent` strings: in the
 * event metadata (set from the HTTP request's span) and in the log's
 * `traceparent` header (set by the relay from its publish span). A consumer's
 * spans are children of the header's context, so one request's trace holds
 * its append, its publish and every apply, reaction and delivery it caused.
 *
 * @example
 *   await inSpan('event-store append', { attributes: { 'lectern.event.count': 2 } }, () => store.append(…));
 */

const TRACER = '@lectern/infra';

// What the API's global provider delegates to while no SDK is registered (a
// constant of the API, not state of ours); and the span handed out then.
const NO_SDK = new ProxyTracerProvider().getDelegate();
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const off = (): boolean => {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NO_SDK;
};

export { SpanKind };

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a W3C `traceparent` names (from another process), or null. */
export const parseTraceparent = (value: string | null | undefined): SpanContext | null => {
  const m = value ? TRACEPARENT.exec(value) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null;
  return {
    traceId: m[1]!,
    spanId: m[2]!,
    traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
};

/** The W3C `traceparent` of a recording span, or null when nothing records (tracing is off). */
export const traceparentOf = (span: Span): string | null => {
  if (!span.isRecording()) return null;
  const c = span.spanContext();
  return `00-${c.traceId}-${c.spanId}-0${c.traceFlags & TraceFlags.SAMPLED}`;
};

type SpanOptions = Readonly<{
  kind?: SpanKind;
  attributes?: Attributes;
  /**
   * The parent as a `traceparent` from elsewhere (a message header); when
   * absent or malformed, the span is a child of the active span, if any.
   */
  parent?: string | null | undefined;
  /**
   * A `traceparent` the span is linked to but does not continue: the span
   * starts a trace of its own (a request from a caller not trusted to
   * choose our trace or its sampling), and the caller's context stays
   * findable as a link. Ignored when `parent` is given.
   */
  linkOnly?: string | null | undefined;
}>;

const parentContext = (parent: string | null | undefined): Context => {
  const active = context.active();
  const remote = parseTraceparent(parent);
  if (!remote) return active;
  // Already inside a span of that trace (the log adapter's `process` span
  // around a runner's `apply`): nest under it rather than beside it.
  if (trace.getSpanContext(active)?.traceId === remote.traceId) return active;
  return trace.setSpanContext(active, remote);
};

/**
 * Starts a span, ended by the caller; `run` calls a function with it as the
 * active span, so that spans started inside are its children.
 */
export const startSpan = (
  name: string,
  opts: SpanOptions = {},
): Readonly<{ span: Span; run<T>(fn: () => T): T }> => {
  // No SDK (tracing off): not even a context to make; the work runs as it would without us.
  if (off()) return { span: NOT_RECORDING, run: (fn) => fn() };
  const parent = parentContext(opts.parent);
  const linked = opts.parent ? null : parseTraceparent(opts.linkOnly);
  const span = trace.getTracer(TRACER).startSpan(
    name,
    {
      kind: opts.kind ?? SpanKind.INTERNAL,
      ...(opts.attributes ? { attributes: opts.attributes } : {}),
      ...(linked ? { root: true, links: [{ context: linked }] } : {}),
    },
    parent,
  );
  const active = trace.setSpan(parent, span);
  return { span, run: (fn) => context.with(active, fn) };
};

/** Marks a span failed with the error's type and message (never its stack or any payload). */
export const failSpan = (span: Span, error: unknown): void => {
  if (!span.isRecording()) return;
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
  span.setAttribute('error.type', (error as Error)?.name ?? 'Error');
};

const settle = <T>(spans: readonly Span[], run: () => T): T => {
  const fail = (error: unknown) => {
    for (const s of spans) {
      failSpan(s, error);
      s.end();
    }
  };
  let result: T;
  try {
    result = run();
  } catch (error) {
    fail(error);
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        for (const s of spans) s.end();
        return value;
      },
      (error: unknown) => {
        fail(error);
        throw error;
      },
    ) as T;
  }
  for (const s of spans) s.end();
  return result;
};

/**
 * Runs `fn` as the active span `name`, ending it when `fn` returns or its
 * promise settles (failed if it throws). A synchronous `fn` stays synchronous.
 */
export const inSpan = <T>(name: string, opts: SpanOptions, fn: (span: Span) => T): T => {
  const { span, run } = startSpan(name, opts);
  return settle([span], () => run(() => fn(span)));
};

/**
 * Spans for work on a batch of messages that may belong to several traces:
 * one span per distinct parent `traceparent` (null: a message that carries
 * none), each a child of its message's context, all covering the same work.
 * Where the batch is of one trace, `fn` runs with that span active, so what
 * it starts nests under it; otherwise spans `fn` starts name their parents
 * themselves.
 */
export const messageSpans = (
  name: string,
  parents: readonly (string | null | undefined)[],
  opts: Omit<SpanOptions, 'parent'> = {},
): Readonly<{
  /** The span of a message with this parent (to carry on as its header). */
  spanFor(parent: string | null | undefined): Span;
  run<T>(fn: () => T): T;
}> => {
  const spans = new Map<string, ReturnType<typeof startSpan>>();
  for (const p of parents) {
    const key = p ?? '';
    if (!spans.has(key)) spans.set(key, startSpan(name, { ...opts, parent: p }));
  }
  const only = spans.size === 1 ? [...spans.values()][0]! : null;
  return {
    spanFor: (parent) => spans.get(parent ?? '')!.span,
    run: (fn) =>
      settle(
        [...spans.values()].map((s) => s.span),
        only ? () => only.run(fn) : fn,
      ),
  };
};

/**
 * The log adapters' span around a consumer's handling of one batch: a
 * `process <topic>` span per trace, each a child of the publish span its
 * messages' `traceparent` header names (see `messageSpans`).
 *
 * @example await consumeSpans('kafka', groupId, batch).run(() => handleBatch(batch, control));
 */
export const consumeSpans = (
  system: string,
  groupId: string,
  batch: Readonly<{
    topic: string;
    partition: number;
    messages: readonly { headers: Readonly<Record<string, string>> }[];
  }>,
): ReturnType<typeof messageSpans> =>
  messageSpans(
    `process ${batch.topic}`,
    batch.messages.map((m) => m.headers.traceparent),
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'process',
        'messaging.destination.name': batch.topic,
        'messaging.destination.partition.id': String(batch.partition),
        'messaging.consumer.group.name': groupId,
        'messaging.batch.message_count': batch.messages.length,
      },
    },
  );
