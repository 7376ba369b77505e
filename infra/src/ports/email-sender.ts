/**
 * A way to hand an e-mail to someone who delivers it: an SMTP server
 * (mailpit in development and CI, a relay in production), later HTTP
 * providers. The notifications worker holds one per provider and fails over
 * from a primary to a secondary on a transient failure.
 *
 * `send` resolves once the provider has accepted the message, with the id
 * the provider gave it; it rejects with an {@link EmailSendError} that says
 * whether trying again can help (`transient`: the provider was unreachable,
 * busy or answered 4xx in SMTP terms) or not (`permanent`: it refused this
 * message, 5xx in SMTP terms). A sender never retries on its own: retries,
 * backoff and failover are the worker's, which knows the attempt count.
 *
 * `messageId` is ours and stable for one notification (derived from the
 * causing event, the recipient and the channel), so a message sent twice
 * after a crash can be recognized by the receiving side.
 *
 * @example
 *   const r = await sender.send({ messageId: '<n-1f3c@lectern.example>', from, to: 'ada@example.org',
 *     subject: 'Welcome', text: 'Hello', html: '<p>Hello</p>', headers: {} });
 */
export type EmailMessage = Readonly<{
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

export type EmailSender = Readonly<{
  /** The provider's name, for logs, metrics and the delivery log. */
  name: string;
  /** Resolves with who accepted it (`provider`, this sender's name or, for a failover, the one that did) and its id there. */
  send(message: EmailMessage): Promise<Readonly<{ provider: string; providerMessageId: string }>>;
  close(): Promise<void>;
}>;

export type EmailFailure = 'transient' | 'permanent';

export class EmailSendError extends Error {
  readonly failure: EmailFailure;
  readonly provider: string;
  /** The provider's own code when it gave one (an SMTP reply code, an errno name). */
  readonly code: string | null;
  constructor(provider: string, failure: EmailFailure, code: string | null, message: string) {
    super(message);
    this.name = 'EmailSendError';
    this.provider = provider;
    this.failure = failure;
    this.code = code;
  }
}
