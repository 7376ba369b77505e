import type { chat as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { blockedProblem } from './blocks.ts';

/** A room as its decisions see it: who is in it, who owns it, its slow mode. Messages are not folded in. */
export type Room =
  | Readonly<{ status: 'none' }>
  | Readonly<{
      status: 'open';
      roomId: string;
      kind: schema.RoomKind;
      ownerId: string | null;
      members: ReadonlySet<string>;
      /** One message per this many seconds per member (not the owner, not admins); 0 when off. */
      slowModeSeconds: number;
    }>;

/**
 * Blocks arrive as lookups in the command (`…BlockedBy…`), read by the
 * handler from the blocked party's own stream: the decider stays pure and the
 * block is as current as the store.
 */
export type RoomCommand =
  | Readonly<{
      type: 'CreateGroup';
      roomId: string;
      name: string;
      ownerId: string;
      members: readonly string[];
      /** Whether any of `members` has blocked the owner. */
      ownerBlockedByAMember: boolean;
      at: string;
    }>
  | Readonly<{
      type: 'OpenDirect';
      roomId: string;
      opener: string;
      other: string;
      /** Whether `other` has blocked `opener`. */
      openerBlocked: boolean;
      at: string;
    }>
  | Readonly<{
      type: 'Invite';
      userId: string;
      by: string;
      /** Whether `userId` has blocked `by`. */
      inviterBlocked: boolean;
      at: string;
    }>
  | Readonly<{ type: 'Leave'; userId: string; at: string }>
  | Readonly<{ type: 'SetSlowMode'; seconds: number; by: string; admin: boolean; at: string }>;

export const initialState = (): Room => ({ status: 'none' });

const noRoom = () => new Problem('not_found', 'room_not_found', 'No such room.');
const notMember = () => new Problem('forbidden', 'not_a_member', 'You are not a member of this room.');

/** The room, open, with `userId` in it; the problem a caller outside it gets otherwise. */
export const memberOf = (room: Room, userId: string): Extract<Room, { status: 'open' }> => {
  if (room.status !== 'open') throw noRoom();
  if (!room.members.has(userId)) throw notMember();
  return room;
};

export const decide = (cmd: RoomCommand, room: Room): schema.RoomStreamEvent[] => {
  switch (cmd.type) {
    case 'CreateGroup': {
      // The id comes from the command id: a retried creation finds its room made.
      if (room.status === 'open') return [];
      if (cmd.ownerBlockedByAMember) throw blockedProblem();
      const members = [cmd.ownerId, ...cmd.members.filter((m) => m !== cmd.ownerId)];
      const data: schema.RoomCreated = {
        roomId: cmd.roomId,
        kind: 'group',
        name: cmd.name,
        createdBy: cmd.ownerId,
        members: [...new Set(members)],
        createdAt: cmd.at,
      };
      return [{ type: 'chat.RoomCreated', data }];
    }
    case 'OpenDirect': {
      if (cmd.opener === cmd.other)
        throw new Problem('validation', 'direct_with_self', 'A direct room is with someone else.');
      // Refused even when the room exists: being blocked is not learned by opening it once before.
      if (cmd.openerBlocked) throw blockedProblem();
      // One room per pair: the id is the pair's, so opening it again finds it.
      if (room.status === 'open') return [];
      const data: schema.RoomCreated = {
        roomId: cmd.roomId,
        kind: 'direct',
        name: null,
        createdBy: cmd.opener,
        members: [cmd.opener, cmd.other].sort(),
        createdAt: cmd.at,
      };
      return [{ type: 'chat.RoomCreated', data }];
    }
    case 'Invite': {
      const open = memberOf(room, cmd.by);
      if (open.kind === 'direct')
        throw new Problem('forbidden', 'direct_room_fixed', 'A direct room has its two members for good.');
      if (open.ownerId !== cmd.by) throw new Problem('forbidden', 'not_the_owner', 'Only the owner invites.');
      if (open.members.has(cmd.userId)) return [];
      if (cmd.inviterBlocked) throw blockedProblem();
      return [
        {
          type: 'chat.MemberInvited',
          data: { roomId: open.roomId, userId: cmd.userId, invitedBy: cmd.by, invitedAt: cmd.at },
        },
      ];
    }
    case 'Leave': {
      const open = memberOf(room, cmd.userId);
      if (open.kind === 'direct')
        throw new Problem('forbidden', 'direct_room_fixed', 'A direct room has its two members for good.');
      if (open.ownerId === cmd.userId)
        throw new Problem('conflict', 'owner_cannot_leave', 'The owner cannot leave their room.');
      return [{ type: 'chat.MemberLeft', data: { roomId: open.roomId, userId: cmd.userId, leftAt: cmd.at } }];
    }
    case 'SetSlowMode': {
      if (room.status !== 'open') throw noRoom();
      // An admin sets it in any room, as an audited act; otherwise only a group's owner.
      const byAdmin = cmd.admin && room.ownerId !== cmd.by;
      if (!byAdmin) {
        memberOf(room, cmd.by);
        if (room.ownerId !== cmd.by)
          throw new Problem(
            'forbidden',
            'not_the_owner',
            "Only the room's owner or an admin sets slow mode.",
          );
      }
      if (room.slowModeSeconds === cmd.seconds) return [];
      return [
        {
          type: 'chat.SlowModeSet',
          data: { roomId: room.roomId, seconds: cmd.seconds, setBy: cmd.by, byAdmin, setAt: cmd.at },
        },
      ];
    }
  }
};

export const evolve = (room: Room, e: schema.RoomStreamEvent): Room => {
  switch (e.type) {
    case 'chat.RoomCreated':
      return {
        status: 'open',
        roomId: e.data.roomId,
        kind: e.data.kind,
        ownerId: e.data.kind === 'group' ? e.data.createdBy : null,
        members: new Set(e.data.members),
        slowModeSeconds: 0,
      };
    case 'chat.MemberInvited':
      if (room.status !== 'open') return room;
      return { ...room, members: new Set([...room.members, e.data.userId]) };
    case 'chat.MemberLeft': {
      if (room.status !== 'open') return room;
      const members = new Set(room.members);
      members.delete(e.data.userId);
      return { ...room, members };
    }
    case 'chat.SlowModeSet':
      if (room.status !== 'open') return room;
      return { ...room, slowModeSeconds: e.data.seconds };
    default:
      return unknownEvent(e, room);
  }
};

export const roomDecider: Decider<Room, RoomCommand, schema.RoomStreamEvent> = {
  initialState,
  decide,
  evolve,
};

/**
 * The member of a direct room other than `userId`, whose blocklist decides
 * whether `userId` may write there; null in a group room (or no room).
 */
export const directPeer = (room: Room, userId: string): string | null =>
  room.status === 'open' && room.kind === 'direct'
    ? ([...room.members].find((m) => m !== userId) ?? null)
    : null;

/**
 * The slow mode that binds `userId` in the room: its seconds, or 0 when it
 * is off or they are exempt (the owner and admins moderate, they are not
 * slowed).
 */
export const slowModeFor = (room: Room, userId: string, admin: boolean): number =>
  room.status !== 'open' || admin || room.ownerId === userId ? 0 : room.slowModeSeconds;

/**
 * What the handler looked up for a writer: whether the other member of a
 * direct room has blocked them (always false in a group), and why the
 * profanity filter refused the text (null when it allowed it).
 */
type Writer = Readonly<{ blockedByPeer: boolean; textRefused: string | null }>;

/**
 * Whether `userId` may write in the room: a member, not blocked by the peer
 * of a direct room, with a text the filter allows. A send checks it before
 * it spends a turn of slow mode or links an attachment; its decision checks
 * again.
 */
export const mayWrite = (room: Room, userId: string, writer: Writer): void => {
  memberOf(room, userId);
  textChecks(writer);
};

/** The text checks shared by a send and an edit, after membership. */
const textChecks = (cmd: Writer): void => {
  if (cmd.blockedByPeer) throw blockedProblem();
  // A 400 with a pointer, like any body the API refuses; the text is stored nowhere.
  if (cmd.textRefused !== null)
    throw new Problem('validation', 'message_not_allowed', cmd.textRefused, {
      issues: [{ path: '/body', message: cmd.textRefused }],
    });
};

/**
 * The message a send decides, once the room says the sender may write. A
 * message says something: text, or attachments (then the text may be
 * empty). One with attachments, or without text, is a v2 event; any other
 * is still written as v1, so a send retried across the change is the same
 * content.
 */
export const decideSend = (
  room: Room,
  cmd: Readonly<{
    messageId: string;
    senderId: string;
    body: string;
    attachments?: readonly schema.AttachmentRef[];
  }> &
    Writer,
): schema.MessageStreamEvent => {
  const open = memberOf(room, cmd.senderId);
  textChecks(cmd);
  const attachments = cmd.attachments ?? [];
  if (cmd.body.length === 0 && attachments.length === 0)
    throw new Problem('validation', 'validation_failed', 'A message has text or attachments.', {
      issues: [{ path: '/body', message: 'must be at least 1 characters without attachments' }],
    });
  const data = { roomId: open.roomId, messageId: cmd.messageId, senderId: cmd.senderId, body: cmd.body };
  return attachments.length === 0 && cmd.body.length > 0
    ? { type: 'chat.MessageSent', data }
    : { type: 'chat.MessageSent', schemaVersion: 2, data: { ...data, attachments } };
};

/** What the store holds at a seq, as an edit or a removal needs it: the message sent there, or nothing. */
export type Original = Readonly<{ senderId: string; attachments?: readonly schema.AttachmentRef[] }> | null;

export const decideEdit = (
  room: Room,
  original: Original,
  cmd: Readonly<{ seq: number; editorId: string; body: string; redacted: boolean }> & Writer,
): schema.MessageStreamEvent => {
  const open = memberOf(room, cmd.editorId);
  // An edit is new text too: a message sent before the block cannot be rewritten after it.
  textChecks(cmd);
  if (!original) throw new Problem('not_found', 'message_not_found', 'No message has this seq in the room.');
  if (original.senderId !== cmd.editorId)
    throw new Problem('forbidden', 'not_the_sender', 'Only its sender edits a message.');
  if (cmd.redacted) throw new Problem('conflict', 'message_redacted', 'The message was removed.');
  return {
    type: 'chat.MessageEdited',
    data: { roomId: open.roomId, seq: cmd.seq, editorId: cmd.editorId, body: cmd.body },
  };
};

export const decideRedact = (
  room: Room,
  original: Original,
  cmd: Readonly<{ seq: number; actorId: string; admin: boolean; reason: string | null }>,
): schema.MessageStreamEvent => {
  if (room.status !== 'open') throw noRoom();
  // An admin removes any message of any room; anyone else only their own, in a room they are in.
  const byAdmin = cmd.admin && original?.senderId !== cmd.actorId;
  if (!byAdmin) memberOf(room, cmd.actorId);
  if (!original) throw new Problem('not_found', 'message_not_found', 'No message has this seq in the room.');
  if (!byAdmin && original.senderId !== cmd.actorId)
    throw new Problem('forbidden', 'not_the_sender', 'Only its sender or an admin removes a message.');
  return {
    type: 'chat.MessageRedacted',
    data: { roomId: room.roomId, seq: cmd.seq, actorId: cmd.actorId, byAdmin, reason: cmd.reason },
  };
};
