/**
 * A way to hand a message to someone who delivers it, one port for every
 * channel: e-mail (an SMTP server: mailpit in development and CI, a relay in
 * production), SMS and push (HTTP providers). The notifications worker holds
 * one sender per provider and fails over from a primary to a secondary on a
 * transient failure (`failoverSender`).
 *
 * `send` resolves once the provider has accepted the message, with who
 * accepted it and the id it gave; it rejects with a {@link SendError} that
 * says whether trying again can help (`transient`: the provider was
 * unreachable, busy, rate-limiting, or answered SMTP 4xx / HTTP 5xx) or not
 * (`permanent`: it refused this message, SMTP 5xx / HTTP 4xx). A sender
 * never retries on its own: retries and backoff are the worker tier's,
 * which knows the attempt count.
 *
 * `messageId` is ours and stable for one notification (derived from the
 * causing event, the recipient and the channel), so a message sent twice
 * after a crash can be recognized by the receiving side (the e-mail's
 * Message-ID, the HTTP providers' idempotency key).
 *
 * @example
 *   const r = await email.send({ messageId: '<n-1f3c@lectern.example>', from, to: 'ada@example.org',
 *     subject: 'Welcome', text: 'Hello', html: '<p>Hello</p>', headers: {} });
 */
export type ChannelSender<Message> = Readonly<{
  /** The provider's name, for logs, metrics and the delivery log. */
  name: string;
  send(message: Message): Promise<Readonly<{ provider: string; providerMessageId: string }>>;
  close(): Promise<void>;
}>;

/**
 * Our template's id, which providers that tag or categorise messages are
 * given; and, for our logs only (never sent to a provider), the event that
 * caused the message and its correlation id.
 */
type Tagged = Readonly<{ tag: string; cause?: MessageCause }>;

/** The event a message was sent for, and its correlation: what a log line about the message names. */
export type MessageCause = Readonly<{ eventId: string; correlationId: string | null }>;

export type EmailMessage = Tagged &
  Readonly<{
    /** An RFC 5322 Message-ID with its angle brackets: `<local@domain>`. */
    messageId: string;
    from: string;
    to: string;
    subject: string;
    text: string;
    html: string | null;
    /** Extra headers, e.g. `List-Unsubscribe`; never a secret. */
    headers: Readonly<Record<string, string>>;
  }>;

export type SmsMessage = Tagged &
  Readonly<{
    messageId: string;
    /** E.164: `+` and up to 15 digits. */
    to: string;
    text: string;
  }>;

export type PushMessage = Tagged &
  Readonly<{
    messageId: string;
    /** The device's token at the push service. */
    token: string;
    title: string;
    body: string;
    data: Readonly<Record<string, string>>;
  }>;

export type EmailSender = ChannelSender<EmailMessage>;
export type SmsSender = ChannelSender<SmsMessage>;
export type PushSender = ChannelSender<PushMessage>;

export type SendFailure = 'transient' | 'permanent';

export class SendError extends Error {
  readonly failure: SendFailure;
  readonly provider: string;
  /** The provider's own code when it gave one (an SMTP reply or HTTP status, an errno name). */
  readonly code: string | null;
  /** How long the provider asked to be left alone (HTTP `Retry-After`), when it said. */
  readonly retryAfterMs: number | null;
  constructor(
    provider: string,
    failure: SendFailure,
    code: string | null,
    message: string,
    retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'SendError';
    this.provider = provider;
    this.failure = failure;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}
