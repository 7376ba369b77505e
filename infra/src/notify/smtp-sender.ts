import { readFile } from 'node:fs/promises';
import nodemailer from 'nodemailer';
import { SendError, type SendFailure, type EmailSender } from '../ports/channel-sender.ts';

export type SmtpOptions = Readonly<{
  /** `smtp://host:port` (STARTTLS when the server offers it) or `smtps://host:port` (TLS from the start); no credentials. */
  url: string;
  /** The account, when the server wants one; its password is read from `passwordFile`, never taken as a value. */
  user?: string | null;
  passwordFile?: string | null;
  /** The provider's name in logs and the delivery log (default `smtp`). */
  name?: string;
  /** Connection, greeting and socket timeouts (default 10 s each). */
  timeoutMs?: number;
  /** Connections kept open to the server (default 4): a fan-out sends over a few, not one per message. */
  connections?: number;
}>;

/**
 * Whether a failed SMTP exchange is worth another attempt. An SMTP reply
 * says so itself: 4xx is transient (greylisting, a full queue, a rate
 * limit), 5xx permanent (no such mailbox, too large, refused). Without a
 * reply the server was not reached, or went away mid-message (connection,
 * timeout, DNS): transient. A message nodemailer refuses to build (a bad
 * address, no recipient) is permanent: sending it again changes nothing.
 */
export const smtpFailure = (error: unknown): { failure: SendFailure; code: string | null } => {
  const e = error as { responseCode?: unknown; code?: unknown };
  if (typeof e.responseCode === 'number') {
    return { failure: e.responseCode >= 500 ? 'permanent' : 'transient', code: String(e.responseCode) };
  }
  const code = typeof e.code === 'string' ? e.code : null;
  return { failure: code === 'EENVELOPE' || code === 'EMESSAGE' ? 'permanent' : 'transient', code };
};

/** What a server said it queued the message as ("250 2.0.0 Ok: queued as 4Xb…"), else the whole reply. */
const queuedAs = (response: string): string => /queued as\s+(\S+)/i.exec(response)?.[1] ?? response.trim();

/**
 * An {@link EmailSender} over SMTP with nodemailer, on a small pool of
 * connections. Nothing secret is in the URL or in any error it raises: the
 * password comes from a file, and errors carry the reply code and text.
 *
 * @example const smtp = await smtpSender({ url: process.env.SMTP_URL! }); await smtp.send(message);
 */
export const smtpSender = async (opts: SmtpOptions): Promise<EmailSender> => {
  const url = new URL(opts.url);
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    throw new Error(`SMTP URL must be smtp:// or smtps://, not ${url.protocol}`);
  if (url.username || url.password)
    throw new Error('SMTP URL must not carry credentials: give the user and a password file');
  const secure = url.protocol === 'smtps:';
  const password = opts.passwordFile ? (await readFile(opts.passwordFile, 'utf8')).trim() : null;
  const timeout = opts.timeoutMs ?? 10_000;
  const name = opts.name ?? 'smtp';
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port: Number(url.port) || (secure ? 465 : 587),
    secure,
    pool: true,
    maxConnections: opts.connections ?? 4,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    ...(opts.user ? { auth: { user: opts.user, pass: password ?? '' } } : {}),
  });
  return {
    name,
    async send(m) {
      try {
        const info = await transport.sendMail({
          messageId: m.messageId,
          from: m.from,
          to: m.to,
          subject: m.subject,
          text: m.text,
          ...(m.html === null ? {} : { html: m.html }),
          headers: { ...m.headers },
        });
        return { provider: name, providerMessageId: queuedAs(String(info.response ?? info.messageId)) };
      } catch (error) {
        const { failure, code } = smtpFailure(error);
        throw new SendError(name, failure, code, `${name}: ${(error as Error).message}`);
      }
    },
    async close() {
      transport.close();
    },
  };
};
