import { ROLES, type ProcessRole } from './config.ts';

/** The OpenTelemetry SDK of this process, while it runs. */
export type Tracing = Readonly<{
  serviceName: string;
  /** Sends the spans still buffered, then stops exporting. */
  stop(): Promise<void>;
}>;

/**
 * The service name of a process with these roles: `lectern` for all of them
 * (the embedded profile), else `lectern-<role>[+<role>…]`, so that Jaeger
 * tells the api's spans from the relay's. `OTEL_SERVICE_NAME` overrides it.
 */
export const serviceNameOf = (roles: readonly ProcessRole[], env: NodeJS.ProcessEnv): string =>
  env.OTEL_SERVICE_NAME?.trim() ||
  (ROLES.every((r) => roles.includes(r)) ? 'lectern' : `lectern-${roles.join('+')}`);

/**
 * Starts the OpenTelemetry SDK, exporting spans over OTLP/HTTP to
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (the SDK appends `/v1/traces`), or does
 * nothing at all when that is unset: the SDK is not even loaded then, and
 * the spans infra starts (infra/src/runtime/tracing.ts) are the API's
 * non-recording ones. Called by the process entry before the app starts, so
 * the first request's span is recorded. No automatic instrumentation: the
 * spans are infra's own, named after what Lectern does.
 *
 * The exporter reads the rest of the standard `OTEL_*` variables
 * (`OTEL_EXPORTER_OTLP_HEADERS` for a collector's credentials, the batch
 * processor's `OTEL_BSP_*`); none of them is ever logged.
 *
 * @example const tracing = await startTracing(config.roles, process.env); … await tracing?.stop();
 */
export const startTracing = async (
  roles: readonly ProcessRole[],
  env: NodeJS.ProcessEnv,
): Promise<Tracing | null> => {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!endpoint) return null;
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const serviceName = serviceNameOf(roles, env);
  const sdk = new NodeSDK({
    serviceName,
    // From `env` (what the caller was given), as the spec joins it: the
    // exporter alone would read process.env.
    traceExporter: new OTLPTraceExporter({
      url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || `${endpoint.replace(/\/+$/, '')}/v1/traces`,
    }),
    // Traces only: metrics are Prometheus's (/metrics) and logs go to stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return { serviceName, stop: () => sdk.shutdown() };
};
