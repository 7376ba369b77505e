import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import helmet from 'helmet';
import proxyaddr from 'proxy-addr';
import { textIssues } from '@lectern/schemas/validation';
import { pathMethods } from './methods.ts';
import { Problem, statusOf, validationProblem } from '../runtime/errors.ts';
import { childTraceparent, idFrom, type RequestContext } from '../runtime/context.ts';
import type { Logger } from '../runtime/logger.ts';
import type { Metrics } from '../runtime/metrics.ts';
import { SpanKind, failSpan, startSpan, traceparentOf } from '../runtime/tracing.ts';

/**
 * A check throws when the process cannot serve (503), or returns
 * `{ degraded }` when it serves but something needs an operator: a consumer
 * stalled on a message or an engine (200, `status: 'degraded'`, the check
 * naming it). A stalled consumer does not make the process unfit to serve,
 * and taking it out of rotation or restarting it would not move the
 * consumer on; so it is said, not refused.
 */

/**
 * Which peers may say who the client is (`X-Forwarded-For`): a proxy on
 * this machine only, never a stranger claiming to be one.
 */
const TRUSTED_PROXIES = 'loopback';
const trusted = proxyaddr.compile(TRUSTED_PROXIES);

/**
 * The client's address as `req.ip` has it, for a request express does not
 * see (a WebSocket upgrade): the peer, or behind a trusted proxy, the last
 * address it forwarded for.
 */
export const clientAddress = (req: IncomingMessage): string => proxyaddr(req, trusted);

export type ReadinessCheck = Readonly<{
  name: string;
  check: () => Promise<void | Degraded> | void | Degraded;
}>;
export type Degraded = Readonly<{ degraded: string }>;

declare module 'express-serve-static-core' {
  interface Request {
    ctx: RequestContext;
    log: Logger;
  }
}

/**
 * Edge headers for a JSON API. Nothing we serve is a page, so the policy
 * forbids everything a browser could load or run from a response, and any
 * framing: a response that is somehow rendered (an error echoed into HTML by
 * a proxy, a sniffed type) can do nothing. HSTS is two years with
 * subdomains; `preload` is an operator's decision about the domain, not ours.
 */
export const securityHeaders = (): RequestHandler =>
  helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    strictTransportSecurity: { maxAge: 63_072_000, includeSubDomains: true, preload: false },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    // Only `no-cors` loads (an <img>, a <script>) are held back by this; CORS
    // fetches from a front end on another origin are governed by CORS.
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: { policy: 'require-corp' },
    xFrameOptions: { action: 'deny' },
    xContentTypeOptions: true,
    xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
    xPoweredBy: true,
  }) as RequestHandler;

const problemBody = (status: number, code: string, title: string, instance: string, extra: object = {}) => ({
  type: `https://lectern.dev/problems/${code}`,
  title,
  status,
  code,
  instance,
  ...extra,
});

/** Sends an RFC 9457 problem document. */
export const sendProblem = (
  res: express.Response,
  status: number,
  code: string,
  title: string,
  instance: string,
  extra: object = {},
): void => {
  res
    .status(status)
    .type('application/problem+json')
    .send(JSON.stringify(problemBody(status, code, title, instance, extra)));
};

/**
 * An express app with what every Lectern process serves and does:
 *
 * 0. security headers (helmet) on every response, errors and 404s included,
 *    because they are set before anything else can answer;
 * 1. request and correlation ids, trace context, one JSON log line per request;
 * 2. request latency metrics by route;
 * 3. `/healthz` (the process lives), `/readyz` (its engines answer and its
 *    consumers run), `/metrics` (Prometheus);
 * 4. JSON bodies up to `bodyLimit` (or, for a path in `bodyLimits`, its own
 *    limit), with malformed or oversized ones answered as problems rather
 *    than crashes.
 *
 * Routes are mounted with `mount`; `finish()` adds the 404 and error
 * handlers last.
 */
export const createHttpApp = (opts: {
  logger: Logger;
  metrics: Metrics;
  readiness: readonly ReadinessCheck[];
  bodyLimit?: string;
  /**
   * Paths whose bodies may be larger (or must be smaller) than `bodyLimit`:
   * path → bytes or a size like `'1mb'`. One parser reads every body, so a
   * route cannot raise the limit on its own once the shared one has refused.
   */
  bodyLimits?: Readonly<Record<string, string | number>>;
  /**
   * The peers whose `traceparent` a request's span continues (default: those
   * trusted for `X-Forwarded-For`, this machine); from any other the span
   * starts a trace of its own, linked to theirs. A test passes `() => false`
   * to be a stranger from loopback.
   */
  tracePeers?: (address: string, hop: number) => boolean;
}): {
  app: Express;
  finish(): void;
  /**
   * Mounts a handler that reads its own request bodies (an upload of raw
   * bytes), ahead of the JSON parser and of anything mounted on `app` so
   * far; it may be set after the app is serving.
   */
  mountBeforeBodies(path: string, handler: RequestHandler): void;
} => {
  const app = express();
  const tracePeers = opts.tracePeers ?? trusted;
  app.use(securityHeaders());
  app.disable('x-powered-by');
  app.set('trust proxy', TRUSTED_PROXIES);
  app.set('etag', false);

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = idFrom(req.get('x-request-id'));
    const correlationId = idFrom(req.get('x-correlation-id') ?? requestId);
    // The request's span continues the caller's trace. Named by method now
    // and by route template once a route matched: never the raw URL, whose
    // path holds ids. Its context is what the events appended carry; with
    // tracing off (nothing records) a fresh span id continues the trace.
    // Probes are not traced: a kubelet's every few seconds would bury the traces worth reading.
    const probe = req.path === '/healthz' || req.path === '/readyz' || req.path === '/metrics';
    // Only a trusted peer (as for X-Forwarded-For) may choose the trace and
    // its sampling: a stranger's `traceparent` would let it write our spans
    // into any trace and force every request it sends to be recorded. Its
    // context is kept as a link instead, on a trace of our own.
    const incoming = req.get('traceparent');
    const continues = incoming !== undefined && tracePeers(req.socket.remoteAddress ?? '', 0);
    const traced = probe
      ? null
      : startSpan(req.method, {
          kind: SpanKind.SERVER,
          ...(continues ? { parent: incoming } : { linkOnly: incoming }),
          attributes: { 'http.request.method': req.method },
        });
    if (traced?.span.isRecording())
      // 'close', not 'finish': a request the client gave up on ends its span too.
      res.once('close', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        traced.span.updateName(`${req.method} ${route}`);
        traced.span.setAttribute('http.route', route);
        if (res.headersSent) traced.span.setAttribute('http.response.status_code', res.statusCode);
        if (!res.writableFinished) failSpan(traced.span, new Error('the client closed the connection first'));
        else if (res.statusCode >= 500) failSpan(traced.span, new Error(`answered ${res.statusCode}`));
        traced.span.end();
      });
    req.ctx = {
      requestId,
      correlationId,
      causationId: idFrom(req.get('idempotency-key') ?? requestId),
      commandId: randomUUID(),
      traceparent:
        (traced && traceparentOf(traced.span)) ?? childTraceparent(continues ? incoming : undefined),
      actor: null,
    };
    req.log = opts.logger.child({ requestId, correlationId });
    res.setHeader('X-Request-Id', requestId);
    res.setHeader('X-Correlation-Id', correlationId);
    res.setHeader('traceparent', req.ctx.traceparent);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      opts.metrics.httpDuration.observe(
        { method: req.method, route, status: String(res.statusCode) },
        seconds,
      );
      if (!probe)
        req.log.info(
          { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
          'request',
        );
    });
    // What the handlers start (an append's span) nests under the request's,
    // also after a body that came in pieces (tracing.unit.test.ts).
    if (traced) traced.run(next);
    else next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const results = await Promise.all(
      opts.readiness.map(async (r) => {
        try {
          const result = await Promise.race([
            r.check(),
            new Promise<never>((_, reject) =>
              setTimeout(() => reject(new Error('timed out after 2 s')), 2000),
            ),
          ]);
          return result ? { name: r.name, ok: true, degraded: result.degraded } : { name: r.name, ok: true };
        } catch (error) {
          return { name: r.name, ok: false, error: (error as Error).message };
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    const degraded = results.some((r) => 'degraded' in r);
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? (degraded ? 'degraded' : 'ready') : 'not_ready', checks: results });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics());
  });

  // Before bodies are read and before anything mounted later: a method the path does not take is 405.
  app.use(pathMethods(app, sendProblem));

  // Handlers that stream their own bodies, mounted once the engines behind them are open.
  // Behind a plain function: they serve storage URLs, not API operations, so
  // the route listing (and the OpenAPI coverage it checks) does not walk them.
  const raw = express.Router();
  app.use((req, res, next) => raw(req, res, next));

  const jsonTypes = ['application/json', 'application/*+json'];
  const json = express.json({ limit: opts.bodyLimit ?? '256kb', type: jsonTypes });
  // Routing ignores case and a trailing slash, so the lookup does too.
  const pathKey = (path: string) => path.toLowerCase().replace(/(.)\/+$/, '$1');
  const perPath = new Map(
    Object.entries(opts.bodyLimits ?? {}).map(([path, limit]) => [
      pathKey(path),
      express.json({ limit, type: jsonTypes }),
    ]),
  );
  app.use(
    perPath.size === 0 ? json : (req, res, next) => (perPath.get(pathKey(req.path)) ?? json)(req, res, next),
  );

  const mountBeforeBodies = (path: string, handler: RequestHandler) => void raw.use(path, handler);

  const notFound: RequestHandler = (req, res) =>
    sendProblem(res, 404, 'route_not_found', `No route for ${req.method} ${req.path}.`, req.path);

  const onError: ErrorRequestHandler = (error: unknown, req: Request, res, _next) => {
    if (error instanceof Problem) {
      if (error.retryAfterSeconds !== undefined)
        res.setHeader('Retry-After', String(error.retryAfterSeconds));
      return sendProblem(res, statusOf[error.kind], error.code, error.message, req.path, {
        ...(error.issues ? { errors: error.issues } : {}),
        ...error.extra,
      });
    }
    // body-parser's errors carry a status and a type; they are the client's fault.
    const e = error as { type?: string; status?: number };
    if (e.type === 'entity.too.large')
      return sendProblem(res, 413, 'payload_too_large', 'The request body is too large.', req.path);
    if (e.type === 'entity.parse.failed')
      return sendProblem(res, 400, 'malformed_json', 'The request body is not valid JSON.', req.path);
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendProblem(res, e.status, 'bad_request', 'The request could not be read.', req.path);
    req.log.error({ err: error }, 'unhandled error');
    return sendProblem(res, 500, 'internal_error', 'Something went wrong on our side.', req.path, {
      requestId: req.ctx?.requestId,
    });
  };

  return {
    app,
    finish() {
      app.use(notFound);
      app.use(onError);
    },
    mountBeforeBodies,
  };
};

/** Requires a JSON object body (express leaves `req.body` undefined otherwise). */
export const jsonBody = (req: Request): unknown => {
  if (!req.is('application/json') && !req.is('application/*+json'))
    throw new Problem('validation', 'unsupported_media_type', 'Send the body as application/json.');
  // The text rule (ARCHITECTURE rule 11) on the whole body, so a route that reads fields by hand is covered too.
  const issues = textIssues(req.body);
  if (issues.length) throw validationProblem(issues);
  return req.body;
};
