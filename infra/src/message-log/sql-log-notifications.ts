import type { Sql } from '../sql/sql.ts';

/**
 * The SQL log's wake-ups: `pg_notify` on one channel, with a payload that
 * names a topic (messages were produced) or a group (its membership
 * changed), and the sticky wake-up a consumer waits on. They only save
 * waiting: a consumer that misses one still polls.
 */
export const CHANNEL = 'lectern_message_log';
export const notifyData = (topic: string) => `t:${topic}`;
export const notifyGroup = (groupId: string) => `g:${groupId}`;

/** One consumer's interest: the topics it reads and the group it is a member of. */
export type Subscriber = Readonly<{
  topics: ReadonlySet<string>;
  groupId: string;
  onData(): void;
  onGroup(): void;
}>;

/**
 * One LISTEN per log, fanned out to its consumers.
 *
 * @example
 *   const wakeups = notifications(sql, report);
 *   await wakeups.subscribe({ topics: new Set([topic]), groupId, onData, onGroup });
 *   await wakeups.notify(notifyGroup(groupId));
 */
export const notifications = (sql: Sql, report: (error: unknown, context: string) => void) => {
  const subscribers = new Set<Subscriber>();
  let unlisten: Promise<() => Promise<void>> | null = null;
  const dispatch = (payload: string) => {
    const name = payload.slice(2);
    for (const s of subscribers) {
      if (payload.startsWith('t:') && s.topics.has(name)) s.onData();
      else if (payload.startsWith('g:') && s.groupId === name) s.onGroup();
    }
  };
  const ensureListening = () => {
    unlisten ??= sql.listen(CHANNEL, dispatch).catch((error: unknown) => {
      // Consumers keep polling; the next consumer to start tries again.
      report(error, 'listen');
      unlisten = null;
      return async () => {};
    });
    return unlisten;
  };

  return {
    /** Adds `s`; settles once the log listens, or once listening failed (and was reported). */
    subscribe(s: Subscriber): Promise<unknown> {
      subscribers.add(s);
      return ensureListening();
    },

    unsubscribe(s: Subscriber): void {
      subscribers.delete(s);
    },

    /** Sends `payload` outside any transaction; a failure is reported, not thrown. */
    notify: (payload: string): Promise<void> =>
      sql.query('select pg_notify($1, $2)', [CHANNEL, payload]).then(
        () => {},
        (error: unknown) => report(error, 'notify'),
      ),

    /** Stops listening (consumers are stopped first). */
    async close(): Promise<void> {
      const stop = await unlisten;
      unlisten = null;
      await stop?.();
    },
  };
};

export type Notifications = ReturnType<typeof notifications>;

/**
 * What a consumer waits on between fetches, woken by a notification (or by
 * a grant). Resolves on `notify()` or after `ms`; sticky, so a notify between
 * `clear()` and `wait()` is not lost.
 */
export const wakeup = () => {
  let pending = false;
  let wake: (() => void) | null = null;
  return {
    notify() {
      pending = true;
      wake?.();
    },
    clear() {
      pending = false;
    },
    wait(ms: number): Promise<void> {
      if (pending) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        wake = done;
      });
    },
  };
};
