import { SendError, type ChannelSender, type MessageCause } from '../ports/channel-sender.ts';
import { SpanKind, inSpan } from '../runtime/tracing.ts';
import type { Logger } from '../runtime/logger.ts';

/**
 * One sender over several providers of a channel, in order: the first that
 * accepts the message wins. A transient failure of one moves on to the
 * next; a permanent one stops at once (the message itself was refused, and
 * another provider would refuse it too). When all fail transiently, the
 * last error is thrown, still transient, for the worker to retry later.
 *
 * `name` of the result is the list (`primary>secondary`); the error names
 * the provider that failed last, and `onFailover` hears of each move, with
 * the message (its `cause` names the event and correlation to log).
 *
 * @example const mail = failoverSender([await smtpSender({ url: a }), await smtpSender({ url: b, name: 'backup' })]);
 */
export const failoverSender = <Message>(
  senders: readonly ChannelSender<Message>[],
  onFailover?: (from: string, to: string, error: SendError, message: Message) => void,
): ChannelSender<Message> & { readonly providers: readonly string[] } => {
  if (senders.length === 0) throw new Error('failoverSender needs at least one sender');
  return {
    name: senders.map((s) => s.name).join('>'),
    providers: senders.map((s) => s.name),
    async send(message) {
      let last: SendError | null = null;
      for (const [i, sender] of senders.entries()) {
        try {
          return await sender.send(message);
        } catch (error) {
          const e =
            error instanceof SendError
              ? error
              : new SendError(sender.name, 'transient', null, `${sender.name}: ${String(error)}`);
          if (e.failure === 'permanent') throw e;
          last = e;
          const next = senders[i + 1];
          if (next) onFailover?.(sender.name, next.name, e, message);
        }
      }
      throw last!;
    },
    async close() {
      await Promise.all(senders.map((s) => s.close()));
    },
  };
};

/**
 * What a process logs when a channel's provider fails and the next takes
 * over: both providers, the failure, and the causing event and correlation,
 * so the warning can be followed to the notification and its request.
 *
 * @example failoverSender([primary, secondary], failoverWarning(logger, 'sms'));
 */
export const failoverWarning =
  (logger: Logger, what: string) =>
  (from: string, to: string, error: SendError, message: Readonly<{ cause?: MessageCause }>): void =>
    logger.warn(
      {
        from,
        to,
        code: error.code,
        failure: error.failure,
        eventId: message.cause?.eventId ?? null,
        correlationId: message.cause?.correlationId ?? null,
      },
      `${what}: failing over`,
    );

/**
 * A sender whose every send is a span `send <channel>` (a child of the
 * worker's reaction), naming the provider that took it: never the address,
 * the subject or the text.
 *
 * @example const email = tracedSender('e-mail', failoverSender([primary, backup]));
 */
export const tracedSender = <Message>(
  channel: string,
  sender: ChannelSender<Message>,
): ChannelSender<Message> => ({
  ...sender,
  send: (message) =>
    inSpan(
      `send ${channel}`,
      { kind: SpanKind.CLIENT, attributes: { 'lectern.notify.channel': channel } },
      async (span) => {
        const sent = await sender.send(message);
        span.setAttribute('lectern.notify.provider', sent.provider);
        return sent;
      },
    ),
});
