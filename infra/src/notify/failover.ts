import { SendError, type ChannelSender } from '../ports/channel-sender.ts';

/**
 * One sender over several providers of a channel, in order: the first that
 * accepts the message wins. A transient failure of one moves on to the
 * next; a permanent one stops at once (the message itself was refused, and
 * another provider would refuse it too). When all fail transiently, the
 * last error is thrown, still transient, for the worker to retry later.
 *
 * `name` of the result is the list (`primary>secondary`); the error names
 * the provider that failed last, and `onFailover` hears of each move.
 *
 * @example const mail = failoverSender([await smtpSender({ url: a }), await smtpSender({ url: b, name: 'backup' })]);
 */
export const failoverSender = <Message>(
  senders: readonly ChannelSender<Message>[],
  onFailover?: (from: string, to: string, error: SendError) => void,
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
          if (next) onFailover?.(sender.name, next.name, e);
        }
      }
      throw last!;
    },
    async close() {
      await Promise.all(senders.map((s) => s.close()));
    },
  };
};
