import type { Server, ServerResponse } from 'node:http';
import type { Express } from 'express';

/** The port a process was told to listen on is taken: said before any engine opens. */
export class PortInUse extends Error {
  readonly port: number;
  constructor(port: number, options?: ErrorOptions) {
    super(
      `Port ${port} is already in use (another Lectern, or another program, listens on it). ` +
        'Stop that process, or set PORT to a free port (PORT=0 picks one).',
      options,
    );
    this.name = 'PortInUse';
    this.port = port;
  }
}

/** An HTTP server that can stop gracefully. */
export type HttpLifecycle = Readonly<{
  server: Server;
  port: number;
  /** Aborted when draining starts: waits that can answer early (read-your-writes) do. */
  stopping: AbortSignal;
  /**
   * 1. Stops accepting connections and closes idle keep-alive ones at once.
   * 2. Lets requests in flight finish, each on a connection that closes after
   *    its answer, for up to `graceMs`.
   * 3. Then cuts what is left. Resolves when no connection remains.
   */
  drain(graceMs: number): Promise<{ cut: number }>;
}>;

/**
 * Listens on `port` before anything else starts, so that `/healthz` answers
 * from the first moment and a busy port is reported before engines open
 * (an EADDRINUSE stack after a minute of Kafka joins helps nobody).
 */
/** How long an idle keep-alive connection is kept (see `listen`). */
export const KEEP_ALIVE_MS = 65_000;

export const listen = async (app: Express, port: number, host?: string): Promise<HttpLifecycle> => {
  const server: Server = await new Promise((resolve, reject) => {
    const listening = (error?: Error) => {
      if (!error) return resolve(s);
      reject(
        (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? new PortInUse(port, { cause: error })
          : error,
      );
    };
    // Every interface unless a host is named (the CLI's --direct binds loopback only).
    const s = host === undefined ? app.listen(port, listening) : app.listen(port, host, listening);
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  // An idle keep-alive connection stays open 65 s (Node's default is 5 s). A
  // client reuses one until its own timer, a little shorter than the server's
  // (it reads ours from the Keep-Alive header), says it may be gone; when the
  // client's event loop is held up longer than that margin, it writes onto a
  // connection the server has just closed: ECONNRESET (seen beside stress-ng).
  // 65 s also outlasts the 60 s idle timeout of common load balancers, which
  // must close first. The headers timeout must exceed it (Node's advice).
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;

  // Responses not yet finished: at drain, each is told to close its
  // connection after answering, so a keep-alive client does not send the
  // next request onto a connection that is about to go.
  const open = new Set<ServerResponse>();
  const controller = new AbortController();
  server.on('request', (_req, res: ServerResponse) => {
    if (controller.signal.aborted) res.shouldKeepAlive = false;
    open.add(res);
    res.once('close', () => {
      open.delete(res);
      if (controller.signal.aborted) server.closeIdleConnections();
    });
  });

  let draining: Promise<{ cut: number }> | null = null;
  return {
    server,
    port: bound,
    stopping: controller.signal,
    drain: (graceMs) =>
      (draining ??= new Promise((resolve) => {
        controller.abort();
        for (const res of open) if (!res.headersSent) res.shouldKeepAlive = false;
        let cut = 0;
        const deadline = setTimeout(() => {
          cut = open.size;
          server.closeAllConnections();
        }, graceMs);
        server.close(() => {
          clearTimeout(deadline);
          resolve({ cut });
        });
        server.closeIdleConnections();
      })),
  };
};

/**
 * `wait`, or `fallback` as soon as `signal` aborts, whichever comes first.
 * The listener is removed when `wait` settles, so long-lived signals do not
 * collect one per call.
 */
export const untilAborted = <T>(wait: Promise<T>, signal: AbortSignal, fallback: T): Promise<T> => {
  if (signal.aborted) return Promise.resolve(fallback);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => resolve(fallback);
    signal.addEventListener('abort', onAbort, { once: true });
    wait.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
};
