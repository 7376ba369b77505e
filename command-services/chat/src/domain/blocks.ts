import { chat as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

/**
 * Whom one user blocks (stream `chatblocks-<userId>`). It has no lifecycle:
 * an empty list is where every user starts. Decisions elsewhere (a direct
 * message, an invitation) fold the other party's list to ask `hasBlocked`.
 */
export type Blocklist = Readonly<{ blocked: ReadonlySet<string> }>;

export type BlocklistCommand =
  | Readonly<{ type: 'Block'; userId: string; blockedUserId: string; at: string }>
  | Readonly<{ type: 'Unblock'; userId: string; blockedUserId: string; at: string }>;

export const initialBlocklist = (): Blocklist => ({ blocked: new Set() });

/** Has the owner of `list` blocked `userId`? */
export const hasBlocked = (list: Blocklist, userId: string): boolean => list.blocked.has(userId);

/** The problem a blocked user gets for reaching the one who blocked them. */
export const blockedProblem = (): Problem =>
  new Problem('forbidden', 'blocked', 'This user does not accept messages or invitations from you.');

export const decideBlocklist = (cmd: BlocklistCommand, list: Blocklist): schema.BlocklistStreamEvent[] => {
  switch (cmd.type) {
    case 'Block':
      if (cmd.blockedUserId === cmd.userId)
        throw new Problem('validation', 'block_self', 'You cannot block yourself.');
      // Blocking again changes nothing: PUT is idempotent.
      if (list.blocked.has(cmd.blockedUserId)) return [];
      if (list.blocked.size >= schema.BLOCKLIST_MAX)
        throw new Problem(
          'conflict',
          'blocklist_full',
          `You block ${schema.BLOCKLIST_MAX} users already; unblock one first.`,
        );
      return [
        {
          type: 'chat.UserBlocked',
          data: { userId: cmd.userId, blockedUserId: cmd.blockedUserId, blockedAt: cmd.at },
        },
      ];
    case 'Unblock':
      if (!list.blocked.has(cmd.blockedUserId)) return [];
      return [
        {
          type: 'chat.UserUnblocked',
          data: { userId: cmd.userId, blockedUserId: cmd.blockedUserId, unblockedAt: cmd.at },
        },
      ];
  }
};

export const evolveBlocklist = (list: Blocklist, e: schema.BlocklistStreamEvent): Blocklist => {
  switch (e.type) {
    case 'chat.UserBlocked':
      return { blocked: new Set([...list.blocked, e.data.blockedUserId]) };
    case 'chat.UserUnblocked': {
      const blocked = new Set(list.blocked);
      blocked.delete(e.data.blockedUserId);
      return { blocked };
    }
    default:
      return unknownEvent(e, list);
  }
};

export const blocklistDecider: Decider<Blocklist, BlocklistCommand, schema.BlocklistStreamEvent> = {
  initialState: initialBlocklist,
  decide: decideBlocklist,
  evolve: evolveBlocklist,
};
