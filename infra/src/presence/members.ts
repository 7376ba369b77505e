import type { PresenceEntry, PresenceMember } from '../ports/presence-bus.ts';

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Groups a channel's live connections by user, sorted by user and then connection. */
export const groupMembers = (
  entries: readonly (PresenceEntry & Readonly<{ userId: string }>)[],
): readonly PresenceMember[] => {
  const byUser = new Map<string, PresenceEntry[]>();
  for (const { userId, connectionId, nodeId, joinedAt } of entries) {
    const list = byUser.get(userId) ?? [];
    list.push({ connectionId, nodeId, joinedAt });
    byUser.set(userId, list);
  }
  return [...byUser]
    .sort(([a], [b]) => byString(a, b))
    .map(([userId, connections]) => ({
      userId,
      connections: connections.sort((a, b) => byString(a.connectionId, b.connectionId)),
    }));
};
