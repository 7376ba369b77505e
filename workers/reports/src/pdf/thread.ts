import { Worker } from 'node:worker_threads';
import type { ReportDocument } from './document.ts';

/**
 * Renders in a worker thread, so a long document never holds up the event
 * loop (the process keeps answering HTTP and consuming the log meanwhile).
 * One thread per render: renders are rare and seconds long, so a pool would
 * save little. An abort or the timeout ends the thread and rejects.
 *
 * @example const pdf = await renderInThread(doc, { signal, timeoutMs: 120_000 });
 */
export const renderInThread = (
  doc: ReportDocument,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<Buffer> =>
  new Promise<Buffer>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new Error('the render was aborted before it began'));
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url), { workerData: doc });
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      f();
    };
    const onAbort = () => finish(() => reject(new Error('the render was aborted')));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`the render took longer than ${opts.timeoutMs} ms`))),
      opts.timeoutMs ?? 120_000,
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
