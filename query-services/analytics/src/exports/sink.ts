import type { Writable } from 'node:stream';

/**
 * The destination of an export closed or failed before the export ended
 * (typically: the client went away). Not a server fault; the export stops
 * reading rows, which releases the query.
 */
export class ExportAborted extends Error {
  constructor(message = 'the destination closed before the export ended', opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = 'ExportAborted';
  }
}

/**
 * Resolves when `out` can take more, rejects with `ExportAborted` when it
 * closes or fails first. A response whose client disconnected never emits
 * `drain` again, so waiting on `drain` alone would hang the export forever
 * and keep its query open.
 */
export const drained = (out: Writable): Promise<void> =>
  new Promise((resolve, reject) => {
    if (out.destroyed || out.writableEnded) {
      reject(new ExportAborted());
      return;
    }
    const settle = (error?: unknown) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => settle();
    const onClose = () => settle(new ExportAborted());
    const onError = (cause: unknown) => settle(new ExportAborted('the destination failed', { cause }));
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onError);
  });

/**
 * Writes one chunk and waits, when `out`'s buffer is full, until it has
 * drained: the producer never runs ahead of the consumer by more than one
 * buffer, which is what keeps an export's memory constant however slow the
 * client reads.
 */
export const writeChunk = async (out: Writable, chunk: string | Uint8Array): Promise<void> => {
  if (out.destroyed || out.writableEnded) throw new ExportAborted();
  if (!out.write(chunk)) await drained(out);
};

/** Ends `out` and resolves once everything written has been handed on. */
export const endOf = (out: Writable): Promise<void> =>
  new Promise((resolve, reject) => {
    if (out.destroyed) {
      reject(new ExportAborted());
      return;
    }
    const onClose = () => {
      // A response closes after it finished; closing without finishing is an abort.
      if (!out.writableFinished) reject(new ExportAborted());
    };
    out.once('close', onClose);
    out.end((error?: Error | null) => {
      out.off('close', onClose);
      if (error) reject(new ExportAborted('the destination failed', { cause: error }));
      else resolve();
    });
  });

export type Peeked<T> = Readonly<{ empty: boolean; rows: AsyncIterable<T>; close(): Promise<void> }>;

/**
 * The first item of an async iterable, and an iterable of all its items
 * (the first included). Exports read the first row before sending a byte:
 * a query that fails at once then still gets a proper error response.
 * `close` releases the source when the rest is never read.
 */
export const peek = async <T>(source: AsyncIterable<T>): Promise<Peeked<T>> => {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  let started = false;
  return {
    empty: first.done === true,
    rows: {
      [Symbol.asyncIterator]() {
        if (started) throw new Error('a peeked iterable can be read once');
        started = true;
        let pending: IteratorResult<T> | null = first;
        return {
          next: () => {
            if (pending) {
              const r = pending;
              pending = null;
              return Promise.resolve(r);
            }
            return iterator.next();
          },
          return: async (value?: unknown) => {
            await iterator.return?.();
            return { done: true as const, value: value as T };
          },
        };
      },
    },
    close: async () => {
      if (!started && !first.done) await iterator.return?.();
    },
  };
};
