import { readFile } from 'node:fs/promises';
import { Pool } from 'undici';
import { clip } from '../runtime/text.ts';
import { SendError, type ChannelSender, type PushMessage, type SmsMessage } from '../ports/channel-sender.ts';

/**
 * SMS and push providers over HTTP, through one contract of ours that a
 * vendor's adapter (or a small relay in front of it) speaks:
 *
 *   POST <url>   Authorization: Bearer <token>   Idempotency-Key: <messageId>
 *   { "to": "+4915…", "text": "…" }                     (SMS)
 *   { "token": "…", "title": "…", "body": "…", "data": {…} }   (push)
 *   → 2xx { "id": "<the provider's id>" }
 *
 * 429 and 5xx are transient (a `Retry-After` in seconds is kept for the
 * worker), as are timeouts and connections that fail; any other 4xx is
 * permanent: this message was refused and will be refused again, and so
 * is a redirect (the contract has none to follow). The token is read from
 * a file, never taken as a value or put in a URL.
 *
 * Each sender keeps a pool of keep-alive connections to its provider (an
 * undici `Pool`), as many as the worker has messages in flight: a fan-out
 * sends tens of thousands of messages, and `fetch` spends several times
 * the CPU of a pooled request on each (streams, a `Response`, an abort
 * signal), which on a busy worker was most of what a message cost.
 *
 * A pooled connection can be closed by the provider (or a load balancer
 * before it) just as a request goes out on it: the request then fails with
 * a reset or a close and no answer. Such a request is sent once more at
 * once, on another connection, rather than failing the attempt: the
 * Idempotency-Key makes a repeat safe if the first did arrive. Any other
 * failure, and a second such one, is the worker's to retry with its backoff.
 */
export type HttpProviderOptions = Readonly<{
  name: string;
  url: string;
  tokenFile?: string | null;
  /** Per request, for each of connecting, the answer's head and its body; default 10 s. */
  timeoutMs?: number;
  /** Connections kept to the provider: the messages the worker has in flight at most; default 64. */
  connections?: number;
}>;

/** Whether an HTTP status is worth another attempt (429, 408 and 5xx are; other 4xx are not). */
export const httpFailure = (status: number): 'transient' | 'permanent' =>
  status === 429 || status === 408 || status >= 500 ? 'transient' : 'permanent';

const retryAfterMs = (header: string | null): number | null => {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
};

/** How a request fails on a connection the other side closed as it was sent: no answer came. */
const UNANSWERED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

const httpProviderSender = async <Message extends { messageId: string }>(
  opts: HttpProviderOptions,
  bodyOf: (m: Message) => Record<string, unknown>,
): Promise<ChannelSender<Message>> => {
  const url = new URL(opts.url);
  if (url.username || url.password) throw new Error(`${opts.name}: the URL must not carry credentials`);
  const token = opts.tokenFile ? (await readFile(opts.tokenFile, 'utf8')).trim() : null;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const pool = new Pool(url.origin, {
    connections: opts.connections ?? 64,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const path = `${url.pathname}${url.search}`;
  return {
    name: opts.name,
    async send(m) {
      let status: number;
      let retryAfter: string | null;
      let text: string;
      const request = {
        path,
        method: 'POST' as const,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': m.messageId,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(bodyOf(m)),
      };
      try {
        const res = await pool.request(request).catch((error: unknown) => {
          if (!UNANSWERED.has(String((error as { code?: unknown }).code))) throw error;
          return pool.request(request);
        });
        status = res.statusCode;
        const header = res.headers['retry-after'];
        retryAfter = typeof header === 'string' ? header : null;
        // Read to the end whatever the status: the connection goes back to the pool only then.
        text = await res.body.text();
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw new SendError(
          opts.name,
          'transient',
          typeof code === 'string' ? code : (error as Error).name,
          `${opts.name}: ${(error as Error).message}`,
        );
      }
      if (status < 200 || status >= 300) {
        throw new SendError(
          opts.name,
          httpFailure(status),
          String(status),
          `${opts.name} answered ${status}: ${clip(text, 300)}`,
          retryAfterMs(retryAfter),
        );
      }
      let id: unknown;
      try {
        id = (JSON.parse(text) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      return { provider: opts.name, providerMessageId: typeof id === 'string' && id ? id : m.messageId };
    },
    async close() {
      await pool.close();
    },
  };
};

/** An SMS provider speaking the contract above. */
export const httpSmsSender = (opts: HttpProviderOptions): Promise<ChannelSender<SmsMessage>> =>
  httpProviderSender<SmsMessage>(opts, (m) => ({ to: m.to, text: m.text }));

/** A push provider speaking the contract above. */
export const httpPushSender = (opts: HttpProviderOptions): Promise<ChannelSender<PushMessage>> =>
  httpProviderSender<PushMessage>(opts, (m) => ({
    token: m.token,
    title: m.title,
    body: m.body,
    data: m.data,
  }));
