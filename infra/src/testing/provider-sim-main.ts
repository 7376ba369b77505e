import { createServer, type IncomingMessage } from 'node:http';

/**
 * A provider for tests, as its own process (started by `startProviderSim`):
 * it takes messages at `POST /send` as an SMS or push provider of our HTTP
 * contract would, records every request, and answers what it was told to:
 *
 *   POST /_script  {"answers":[{"status":500},{"status":429,"retryAfter":"1"},{"status":200}]}
 *                  queues answers for the next sends (then 200s again);
 *                  {"status":0,"drop":"reset"} (or "close") reads the request and
 *                  drops the connection unanswered, with a reset (or a plain
 *                  close), as a provider's load balancer does that times out
 *                  an idle keep-alive connection just as a request arrives
 *   GET  /_requests  every send received: its headers, body and the status it got
 *   POST /_reset     forgets requests and queued answers
 *
 * A 2xx answers `{"id":"sim-<n>"}`; a repeated Idempotency-Key that was
 * accepted before gets the same id again, as a real provider's would.
 */
type Answer = { status: number; retryAfter?: string; drop?: 'reset' | 'close' };
type Received = {
  at: number;
  headers: Record<string, string>;
  body: unknown;
  status: number;
  id: string | null;
};

const queue: Answer[] = [];
let received: Received[] = [];
const accepted = new Map<string, string>();
let next = 0;

const read = async (req: IncomingMessage): Promise<string> => {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
};

const server = createServer((req, res) => {
  void (async () => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const text = await read(req);
    if (req.method === 'POST' && req.url === '/_script') {
      queue.push(...((JSON.parse(text) as { answers: Answer[] }).answers ?? []));
      return reply(200, { queued: queue.length });
    }
    if (req.method === 'GET' && req.url === '/_requests') return reply(200, { requests: received });
    if (req.method === 'POST' && req.url === '/_reset') {
      queue.length = 0;
      received = [];
      accepted.clear();
      return reply(200, {});
    }
    if (req.method !== 'POST' || req.url !== '/send') return reply(404, { error: 'not found' });
    const key = String(req.headers['idempotency-key'] ?? '');
    const answer = queue.shift() ?? { status: 200 };
    const ok = answer.status >= 200 && answer.status < 300;
    const id = ok ? (accepted.get(key) ?? `sim-${++next}`) : null;
    if (ok && key) accepted.set(key, id!);
    received.push({
      at: Date.now(),
      headers: {
        'idempotency-key': key,
        authorization: req.headers.authorization ? 'present' : 'absent',
        'content-type': String(req.headers['content-type'] ?? ''),
      },
      body: text ? (JSON.parse(text) as unknown) : null,
      status: answer.status,
      id,
    });
    if (answer.drop === 'reset') return void req.socket.resetAndDestroy();
    if (answer.drop === 'close') return void req.socket.destroy();
    reply(answer.status, ok ? { id } : { error: `scripted ${answer.status}` }, {
      ...(answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}),
    });
  })().catch((error: unknown) => {
    res.writeHead(500);
    res.end(String(error));
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
