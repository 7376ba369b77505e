import { parentPort, workerData } from 'node:worker_threads';
import type { ReportDocument } from './document.ts';
import { renderPdf } from './render.ts';

/*
 * The render thread: renders the document it was started with and posts
 * the bytes back (transferred, not copied), or the error's message.
 */
const doc = workerData as ReportDocument;
try {
  const pdf = await renderPdf(doc);
  const bytes = pdf.buffer.slice(pdf.byteOffset, pdf.byteOffset + pdf.byteLength);
  parentPort!.postMessage({ ok: true, bytes }, [bytes as ArrayBuffer]);
} catch (error) {
  parentPort!.postMessage({ ok: false, message: (error as Error)?.stack ?? String(error) });
}
