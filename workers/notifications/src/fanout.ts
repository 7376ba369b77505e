import type { RecordedEvent } from '@lectern/schemas';
import { isContentEvent } from '@lectern/schemas/content/events';
import type { PlannedMessage, Recipient } from './identity-messages.ts';
import type { Preferences } from './requested-messages.ts';

export type Topic = Readonly<{ kind: 'course' | 'author'; id: string }>;

/** A follower on a page: the user, and which of the topics asked about they follow. */
export type Follower = Readonly<{ userId: string; topics: readonly Topic[] }>;

export type FanoutDeps = Readonly<{
  appUrl: string;
  recipientOf: (userId: string) => Promise<Recipient | null>;
  /** A page's recipients at once (those known). */
  recipientsOf: (userIds: readonly string[]) => Promise<ReadonlyMap<string, Recipient>>;
  /**
   * Those of the users whose registration, as the event store holds it, the
   * recipients read model has applied (and those the store holds none of:
   * they have no address), waiting for it a bounded while; the others are
   * those the model still lags behind. One read of the store for them all.
   *
   * @example const settled = await deps.recipientsApplied(missing);
   */
  recipientsApplied: (userIds: readonly string[]) => Promise<ReadonlySet<string>>;
  /** A page's channels and devices at once. */
  preferencesOfUsers: (userIds: readonly string[]) => Promise<ReadonlyMap<string, Preferences>>;
  /** One page of the users following any of the topics, in user-id order after `afterUserId`. */
  followersOf: (
    topics: readonly Topic[],
    page: { afterUserId: string | null; limit: number },
  ) => Promise<readonly Follower[]>;
}>;

/** A page of a fan-out: its messages, and the followers left out until the recipients read model has them. */
export type FanoutPage = Readonly<{ messages: readonly PlannedMessage[]; lagging: readonly string[] }>;

/** Followers are read this many at a time; each page's messages are sent before the next is read. */
export const FANOUT_PAGE = 500;

/**
 * `content.CoursePublished` to everyone who follows the course or its
 * author, a page of followers at a time in user-id order, each user once:
 * an e-mail, and a push to each of their devices, each a notification of
 * its own (suppressed, with the reason, where the user turned the channel
 * off or has no address). "No address" is decided only once the recipients
 * read model has applied the user's registration: a follower it does not
 * know yet is left out of the page (`lagging`), for the event to be tried
 * again, never suppressed for the projection's lag. Each message names the
 * topic it came by, which its unsubscribe link turns off: the course where
 * the user follows it (what the message is about), else the author.
 */
export async function* coursePublishedMessages(
  event: RecordedEvent,
  deps: FanoutDeps,
): AsyncGenerator<FanoutPage> {
  if (!isContentEvent(event) || event.type !== 'content.CoursePublished') return;
  const d = event.data;
  const author = await deps.recipientOf(d.authorId);
  const variables = {
    courseTitle: d.title,
    courseUrl: `${deps.appUrl}/courses/${d.courseId}`,
    authorName: author?.displayName?.trim() || 'A Lectern author',
  };
  const topics: Topic[] = [
    { kind: 'course', id: d.courseId },
    { kind: 'author', id: d.authorId },
  ];
  for (let after: string | null = null; ;) {
    const page = await deps.followersOf(topics, { afterUserId: after, limit: FANOUT_PAGE });
    if (page.length === 0) return;
    const userIds = page.map((f) => f.userId);
    const [recipients, preferences] = await Promise.all([
      deps.recipientsOf(userIds),
      deps.preferencesOfUsers(userIds),
    ]);
    // A follower without a recipient: known to the store but not yet to the read model, or truly without one.
    const missing = userIds.filter((u) => !recipients.has(u));
    const applied = missing.length ? await deps.recipientsApplied(missing) : new Set<string>();
    const lagging = new Set(missing.filter((u) => !applied.has(u)));
    const settled = missing.filter((u) => applied.has(u));
    // Those the model applied while we asked may have an address now.
    const late = settled.length ? await deps.recipientsOf(settled) : new Map<string, Recipient>();
    const planned: PlannedMessage[] = [];
    for (const { userId, topics: followed } of page) {
      if (lagging.has(userId)) continue;
      const recipient = recipients.get(userId) ?? late.get(userId);
      const chosen = preferences.get(userId) ?? {
        channels: { email: true, sms: true, push: true },
        devices: [],
      };
      const base = {
        template: 'course-published',
        userId,
        variables,
        expiresAt: null,
        locale: recipient?.locale ?? 'en',
        preferences: chosen.channels,
        topic: followed[0] ?? topics[0]!,
      };
      planned.push({ ...base, channel: 'email', address: recipient?.email ?? '' });
      for (const device of chosen.devices)
        planned.push({ ...base, channel: 'push', address: device.token, deviceId: device.deviceId });
    }
    yield { messages: planned, lagging: [...lagging] };
    if (page.length < FANOUT_PAGE) return;
    after = page[page.length - 1]!.userId;
  }
}
