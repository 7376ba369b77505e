import { Worker } from 'node:worker_threads';
import type { ReportDocument } from './document.ts';

/**
 * Renders in a worker thread, so a long document never holds up the event
 * loop (the process keeps answering HTTP and consuming the log meanwhile).
 * One thread per render, no pool: renders are rare and take up to seconds,
 * against some tens of milliseconds to start a thread. An abort, the timeout
 * or an error ends the thread, and the promise settles only once it is gone,
 * so a rejected render leaves nothing running.
 *
 * @example const pdf = await renderInThread(doc, { signal, timeoutMs: 120_000 });
 */
export const renderInThread = (
  doc: ReportDocument,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<Buffer> =>
  new Promise<Buffer>((resolve, reject) => {
    if (opts.signal?.aborted)
      return reject(new Error('the render was aborted before it began', { cause: opts.signal.reason }));
    // Node 24 strips the types of a .ts module in a worker as in the main thread.
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url), { workerData: doc });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate().then(outcome, outcome);
    };
    const onAbort = () =>
      finish(() => reject(new Error('the render was aborted', { cause: opts.signal?.reason })));
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(
      () => finish(() => reject(new Error(`the render took longer than ${timeoutMs} ms`))),
      timeoutMs,
    );
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: { ok: true; bytes: ArrayBuffer } | { ok: false; message: string }) =>
      finish(() =>
        m.ok ? resolve(Buffer.from(m.bytes)) : reject(new Error(`the render failed: ${m.message}`)),
      ),
    );
    worker.once('error', (error) => finish(() => reject(error)));
    worker.once('exit', (code) => finish(() => reject(new Error(`the render thread exited (${code})`))));
  });
