import { createServer } from 'node:net';
import test from 'ava';

test('a fetch that fails names its cause in the message', async (t) => {
  // A server that closes every connection at once: the socket ends before any answer.
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const error = await t.throwsAsync(fetch(`http://127.0.0.1:${port}/x`, { method: 'POST', body: 'a' }));
    t.regex(error.message, new RegExp(`^fetch failed: POST http://127\\.0\\.0\\.1:${port}/x: \\w+`));
    t.truthy(error.cause);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
