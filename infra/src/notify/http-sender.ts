import { readFile } from 'node:fs/promises';
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
 * permanent: this message was refused and will be refused again. The token
 * is read from a file, never taken as a value or put in a URL.
 */
export type HttpProviderOptions = Readonly<{
  name: string;
  url: string;
  tokenFile?: string | null;
  /** Per request; default 10 s. */
  timeoutMs?: number;
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

const httpProviderSender = async <Message extends { messageId: string }>(
  opts: HttpProviderOptions,
  bodyOf: (m: Message) => Record<string, unknown>,
): Promise<ChannelSender<Message>> => {
  const url = new URL(opts.url);
  if (url.username || url.password) throw new Error(`${opts.name}: the URL must not carry credentials`);
  const token = opts.tokenFile ? (await readFile(opts.tokenFile, 'utf8')).trim() : null;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    name: opts.name,
    async send(m) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': m.messageId,
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify(bodyOf(m)),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        throw new SendError(
          opts.name,
          'transient',
          typeof code === 'string' ? code : (error as Error).name,
          `${opts.name}: ${(error as Error).message}`,
        );
      }
      const text = await res.text();
      if (!res.ok) {
        throw new SendError(
          opts.name,
          httpFailure(res.status),
          String(res.status),
          `${opts.name} answered ${res.status}: ${clip(text, 300)}`,
          retryAfterMs(res.headers.get('retry-after')),
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
    async close() {},
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
