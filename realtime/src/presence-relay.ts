import type { PresenceBus, PresenceChange, PresenceSubscription } from '@lectern/infra/ports/presence-bus';
import type { Logger } from '@lectern/infra/runtime/logger';

/** A presence change as its channel's subscribers receive it (`online`: whether the user is still there). */
export const presenceFrame = (change: PresenceChange) => ({
  type: 'presence',
  channel: change.channel,
  change: {
    type: change.type,
    userId: change.userId,
    online: change.type === 'join' ? change.userConnections === 1 : change.userConnections > 0,
    ...(change.type === 'leave' ? { reason: change.reason } : {}),
  },
});

/**
 * The gateway's ears on the PresenceBus: one bus subscription per channel
 * that has subscribers on this process, whose joins and leaves go to
 * `fanOut` (the channel's subscribers here).
 */
export const presenceRelay = (
  o: Readonly<{ bus: PresenceBus; logger: Logger; fanOut(channel: string, frame: object): void }>,
) => {
  const subs = new Map<string, Promise<PresenceSubscription>>();
  return {
    /**
     * Resolves once this process hears the channel's joins and leaves. A
     * failure (Redis away) is thrown and forgotten, so the next subscriber
     * to the channel tries again.
     */
    async follow(channel: string): Promise<void> {
      let sub = subs.get(channel);
      if (!sub) {
        sub = o.bus.subscribe([channel], (change) => o.fanOut(channel, presenceFrame(change)));
        subs.set(channel, sub);
      }
      try {
        await sub;
      } catch (error) {
        if (subs.get(channel) === sub) subs.delete(channel);
        throw error;
      }
    },
    /** Stops hearing the channel (its last subscriber here is gone). */
    unfollow(channel: string): void {
      const sub = subs.get(channel);
      if (!sub) return;
      subs.delete(channel);
      void sub
        .then((s) => s.unsubscribe())
        .catch((err: unknown) => o.logger.warn({ err, channel }, 'presence unsubscribe failed'));
    },
    unfollowAll(): void {
      for (const channel of [...subs.keys()]) this.unfollow(channel);
    },
  };
};
