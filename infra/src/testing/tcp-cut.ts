import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP proxy a test puts in front of an engine to take it away for real:
 * `cut()` stops listening and drops every open connection, so a client
 * meets ECONNREFUSED (or a reset mid-request), as it would when the engine's
 * host is down; `restore()` listens again on the same port. The engine
 * itself never notices. `stall()` makes new connections wait unanswered
 * instead, as a server too busy to start a session does.
 *
 * @example
 *   const proxy = await tcpCut({ host: '127.0.0.1', port: 9000 });
 *   const blobs = await openMinioStore({ endpoint, publicEndpoint: proxy.url, … });
 *   await proxy.cut(); …; await proxy.restore(); …; await proxy.close();
 */
export const tcpCut = async (target: Readonly<{ host: string; port: number }>) => {
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
  };
  let stalled: net.Socket[] | null = null;
  let resets = 0;
  let resetNext = false;
  const forward = (client: net.Socket) => {
    if (client.destroyed) return;
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    // The first bytes of a request on any connection, new or kept alive,
    // meet a reset when one is asked for: the server closed it just then.
    client.on('data', (chunk: Buffer) => {
      if (resetNext) {
        resetNext = false;
        resets++;
        client.resetAndDestroy();
        return;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    client.on('end', () => upstream.end());
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (stalled) stalled.push(client);
    else forward(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  let up = true;
  return {
    /** `http://127.0.0.1:<port>`: where clients reach the engine through the proxy. */
    url: `http://127.0.0.1:${port}`,
    isUp: () => up,
    async cut(): Promise<void> {
      if (!up) return;
      up = false;
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of open) s.destroy();
      await closed;
    },
    async restore(): Promise<void> {
      if (up) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      up = true;
    },
    /**
     * New connections are accepted but get no answer until `unstall()`, as
     * from a server too busy to start a session; open ones go on working.
     */
    stall(): void {
      stalled ??= [];
    },
    /**
     * The next request that reaches the proxy, on a new connection or a
     * kept-alive one, is met with a TCP reset (once), as when the server
     * closes an idle connection just as the client reuses it.
     */
    resetNextRequest(): void {
      resetNext = true;
    },
    /** How many requests met a reset asked for by `resetNextRequest`. */
    resets: () => resets,
    /** How many connections wait for `unstall()`. */
    stalledCount: () => stalled?.filter((s) => !s.destroyed).length ?? 0,
    unstall(): void {
      const waiting = stalled ?? [];
      stalled = null;
      waiting.forEach(forward);
    },
    async close(): Promise<void> {
      this.unstall();
      await this.cut();
    },
  };
};

export type TcpCut = Awaited<ReturnType<typeof tcpCut>>;
