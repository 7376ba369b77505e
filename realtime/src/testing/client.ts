import { once } from 'node:events';
import { WebSocket } from 'ws';

/** A frame the gateway sent, as parsed JSON. */
export type Frame = Record<string, unknown> & { type: string };

/**
 * A WebSocket client for tests and the bench: it keeps every frame it
 * receives, waits (bounded) for one that matches, and records how the
 * connection closed.
 */
export const testClient = async (url: string) => {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  let closed: { code: number; reason: string } | null = null;
  ws.on('message', (data) => {
    frames.push(JSON.parse(String(data)) as Frame);
    notify();
  });
  ws.on('close', (code, reason) => {
    closed = { code, reason: reason.toString() };
    notify();
  });
  ws.on('error', () => {});
  await once(ws, 'open');

  const until = async <T>(
    what: string,
    check: () => T | undefined,
    timeoutMs: number,
    orClosed = true,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = check();
      if (found !== undefined) return found;
      // Nothing more will come: said at once, with how it closed, rather than after the timeout.
      if (orClosed && closed)
        throw new Error(
          `the connection closed (${JSON.stringify(closed)}) while waiting for ${what}; frames: ${JSON.stringify(frames.slice(-5))}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; frames: ${JSON.stringify(frames.slice(-5))}`,
        );
      await new Promise<void>((resolve) => {
        const w = () => {
          waiters.delete(w);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(w, left);
        waiters.add(w);
      });
    }
  };

  return {
    ws,
    frames,
    send: (frame: object) => ws.send(JSON.stringify(frame)),
    /** The first frame received so far or later that matches, bounded by `timeoutMs` (default 60 s). */
    next: (what: string, match: (f: Frame) => boolean, timeoutMs = 60_000) =>
      until(what, () => frames.find(match), timeoutMs),
    /** Resolves once `check()` holds (checked as each frame arrives), bounded by `timeoutMs` (default 60 s). */
    until: (what: string, check: () => boolean, timeoutMs = 60_000) =>
      until(what, () => (check() ? true : undefined), timeoutMs),
    /** How the connection closed, once it has. */
    closed: (timeoutMs = 60_000) => until('the close', () => closed ?? undefined, timeoutMs, false),
    /** The items of `channel` received so far, by seq. */
    items: (channel: string) =>
      frames.filter((f) => f.type === 'item' && f.channel === channel).map((f) => f.seq as number),
    close: () => ws.close(),
  };
};

export type TestClient = Awaited<ReturnType<typeof testClient>>;
