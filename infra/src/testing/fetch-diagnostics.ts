/**
 * Loaded by ava before every test file (ava.config.js `require`). Node's
 * fetch rejects with a bare "fetch failed" and puts what happened (a reset
 * socket, undici's headers timeout, a refused connection) in `cause`, which
 * ava's report leaves out. This names the cause in the message and keeps the
 * original error as `cause`; nothing else about fetch changes.
 */
const original = globalThis.fetch;

const describe = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as { code?: unknown }).code;
  return `${cause.name}${typeof code === 'string' ? ` ${code}` : ''}: ${cause.message}`;
};

globalThis.fetch = async (input, init) => {
  try {
    return await original(input, init);
  } catch (error) {
    if (error instanceof TypeError && error.message === 'fetch failed' && error.cause !== undefined) {
      const url = input instanceof Request ? input.url : String(input);
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
      throw new TypeError(`fetch failed: ${method} ${url}: ${describe(error.cause)}`, { cause: error.cause });
    }
    throw error;
  }
};
