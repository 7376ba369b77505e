import test from 'ava';
import type { chat as schema } from '@lectern/schemas';
import { spec } from '@lectern/infra/testing/decider-spec';
import { Problem } from '@lectern/infra/runtime/errors';
import { decideEdit, decideRedact, decideSend, directPeer, roomDecider, slowModeFor } from './room.ts';

const room = '3f0c2b7e-8a41-4d8e-9b1a-2c5d6e7f8a90';
const [owner, ann, ben, eve] = [
  '11111111-1111-4111-8111-111111111111',
  '22222222-2222-4222-8222-222222222222',
  '33333333-3333-4333-8333-333333333333',
  '44444444-4444-4444-8444-444444444444',
];
const at = '2026-03-01T10:00:00.000Z';
const rooms = spec(roomDecider);
const group: schema.RoomStreamEvent = {
  type: 'chat.RoomCreated',
  data: { roomId: room, kind: 'group', name: 'G', createdBy: owner, members: [owner, ann], createdAt: at },
};
const direct: schema.RoomStreamEvent = {
  type: 'chat.RoomCreated',
  data: { roomId: room, kind: 'direct', name: null, createdBy: ann, members: [ann, ben], createdAt: at },
};
const invite = (userId: string, by: string) =>
  ({ type: 'Invite', userId, by, inviterBlocked: false, at }) as const;
/** A writer nobody blocked, whose text the filter allowed. */
const free = { blockedByPeer: false, textRefused: null } as const;
const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    return error instanceof Problem ? error.code : 'not a problem';
  }
  return undefined;
};

test('a group is created once with its owner first among its members; a retry decides nothing', (t) => {
  const create = {
    type: 'CreateGroup',
    roomId: room,
    name: 'G',
    ownerId: owner,
    members: [ann, owner, ann],
    ownerBlockedByAMember: false,
    at,
  } as const;
  rooms.given([]).when(create).then(t, [group]);
  rooms.given([group]).when(create).then(t, []);
  rooms
    .given([])
    .when({ ...create, ownerBlockedByAMember: true })
    .thenFails(t, 'blocked');
});

test('a direct room has the sorted pair, never oneself, and is opened once', (t) => {
  const open = {
    type: 'OpenDirect',
    roomId: room,
    opener: ben,
    other: ann,
    openerBlocked: false,
    at,
  } as const;
  rooms
    .given([])
    .when(open)
    .then(t, [{ ...direct, data: { ...direct.data, createdBy: ben } }]);
  rooms.given([direct]).when(open).then(t, []);
  rooms
    .given([])
    .when({ ...open, other: ben })
    .thenFails(t, 'direct_with_self');
  // Blocked, the opener neither makes the room nor reaches one that exists.
  for (const given of [[], [direct]])
    rooms
      .given(given)
      .when({ ...open, openerBlocked: true })
      .thenFails(t, 'blocked');
});

test('only the owner invites; a member leaves; the owner cannot; a direct room is fixed', (t) => {
  rooms
    .given([group])
    .when(invite(ben, owner))
    .then(t, [
      { type: 'chat.MemberInvited', data: { roomId: room, userId: ben, invitedBy: owner, invitedAt: at } },
    ]);
  rooms.given([group]).when(invite(ann, owner)).then(t, []);
  rooms.given([group]).when(invite(ben, ann)).thenFails(t, 'not_the_owner');
  rooms.given([group]).when(invite(ben, eve)).thenFails(t, 'not_a_member');
  rooms.given([]).when(invite(ben, owner)).thenFails(t, 'room_not_found');
  rooms.given([direct]).when(invite(eve, ann)).thenFails(t, 'direct_room_fixed');
  rooms
    .given([group])
    .when({ ...invite(ben, owner), inviterBlocked: true })
    .thenFails(t, 'blocked');
  rooms
    .given([group])
    .when({ type: 'Leave', userId: ann, at })
    .then(t, [{ type: 'chat.MemberLeft', data: { roomId: room, userId: ann, leftAt: at } }]);
  rooms.given([group]).when({ type: 'Leave', userId: owner, at }).thenFails(t, 'owner_cannot_leave');
  rooms.given([direct]).when({ type: 'Leave', userId: ann, at }).thenFails(t, 'direct_room_fixed');
});

test('members send; a member who left no longer does', (t) => {
  const state = rooms.given([group]).state;
  t.deepEqual(decideSend(state, { messageId: eve, senderId: ann, body: 'hi', ...free }), {
    type: 'chat.MessageSent',
    data: { roomId: room, messageId: eve, senderId: ann, body: 'hi' },
  });
  const left = rooms.given([
    group,
    { type: 'chat.MemberLeft', data: { roomId: room, userId: ann, leftAt: at } },
  ]).state;
  t.is(
    code(() =>
      decideSend(left, {
        messageId: eve,
        senderId: ann,
        body: 'hi',
        ...free,
      }),
    ),
    'not_a_member',
  );
  t.is(
    code(() =>
      decideSend(rooms.given([]).state, {
        messageId: eve,
        senderId: ann,
        body: 'hi',
        ...free,
      }),
    ),
    'room_not_found',
  );
});

test('only the sender edits, never a removed message; the sender or an admin removes', (t) => {
  const state = rooms.given([group]).state;
  const mine = { senderId: ann };
  t.is(
    decideEdit(state, mine, {
      seq: 4,
      editorId: ann,
      body: 'b',
      redacted: false,
      ...free,
    }).type,
    'chat.MessageEdited',
  );
  t.is(
    code(() =>
      decideEdit(state, mine, {
        seq: 4,
        editorId: owner,
        body: 'b',
        redacted: false,
        ...free,
      }),
    ),
    'not_the_sender',
  );
  t.is(
    code(() =>
      decideEdit(state, mine, {
        seq: 4,
        editorId: ann,
        body: 'b',
        redacted: true,
        ...free,
      }),
    ),
    'message_redacted',
  );
  t.is(
    code(() =>
      decideEdit(state, null, {
        seq: 4,
        editorId: ann,
        body: 'b',
        redacted: false,
        ...free,
      }),
    ),
    'message_not_found',
  );
  t.deepEqual(decideRedact(state, mine, { seq: 4, actorId: ann, admin: false, reason: null }).data, {
    roomId: room,
    seq: 4,
    actorId: ann,
    byAdmin: false,
    reason: null,
  });
  t.is(
    code(() => decideRedact(state, mine, { seq: 4, actorId: owner, admin: false, reason: null })),
    'not_the_sender',
  );
  // An admin from outside the room, with a reason: an audited removal.
  t.like(decideRedact(state, mine, { seq: 4, actorId: eve, admin: true, reason: 'Spam' }).data, {
    actorId: eve,
    byAdmin: true,
    reason: 'Spam',
  });
  t.is(
    code(() => decideRedact(state, null, { seq: 4, actorId: eve, admin: true, reason: null })),
    'message_not_found',
  );
});

test('in a direct room, a member the other blocked neither sends nor edits', (t) => {
  const state = rooms.given([direct]).state;
  t.is(
    code(() =>
      decideSend(state, {
        messageId: eve,
        senderId: ben,
        body: 'hi',
        blockedByPeer: true,
        textRefused: null,
      }),
    ),
    'blocked',
  );
  t.is(
    code(() =>
      decideEdit(
        state,
        { senderId: ben },
        { seq: 0, editorId: ben, body: 'b', redacted: false, blockedByPeer: true, textRefused: null },
      ),
    ),
    'blocked',
  );
  // Who is asked: the other member of a direct room; nobody in a group.
  t.is(directPeer(state, ben), ann);
  t.is(directPeer(rooms.given([group]).state, ann), null);
  // Outside the room, not being a member is what counts.
  t.is(
    code(() =>
      decideSend(state, {
        messageId: eve,
        senderId: eve,
        body: 'hi',
        blockedByPeer: true,
        textRefused: null,
      }),
    ),
    'not_a_member',
  );
});

test('the owner or an admin sets slow mode; it binds the members, not them', (t) => {
  const set = (seconds: number, setBy: string, byAdmin = false): schema.RoomStreamEvent => ({
    type: 'chat.SlowModeSet',
    data: { roomId: room, seconds, setBy, byAdmin, setAt: at },
  });
  const slow = { type: 'SetSlowMode', seconds: 30, by: owner, admin: false, at } as const;
  rooms
    .given([group])
    .when(slow)
    .then(t, [set(30, owner)]);
  rooms
    .given([group, set(30, owner)])
    .when(slow)
    .then(t, []);
  rooms
    .given([group, set(30, owner)])
    .when({ ...slow, seconds: 0 })
    .then(t, [set(0, owner)]);
  // A direct room has no owner: only an admin slows it.
  const refused: [schema.RoomStreamEvent[], string, string][] = [
    [[group], ann, 'not_the_owner'],
    [[group], eve, 'not_a_member'],
    [[], owner, 'room_not_found'],
    [[direct], ann, 'not_the_owner'],
  ];
  for (const [given, by, failure] of refused)
    rooms
      .given(given)
      .when({ ...slow, by })
      .thenFails(t, failure);
  rooms
    .given([direct])
    .when({ ...slow, by: eve, admin: true })
    .then(t, [set(30, eve, true)]);
  // An admin who owns the room acts as its owner.
  rooms
    .given([group])
    .when({ ...slow, admin: true })
    .then(t, [set(30, owner)]);

  const state = rooms.given([group, set(30, owner)]).state;
  t.is(slowModeFor(state, ann, false), 30);
  t.is(slowModeFor(state, owner, false), 0, 'the owner is not slowed');
  t.is(slowModeFor(state, ann, true), 0, 'nor an admin');
  t.is(slowModeFor(rooms.given([group]).state, ann, false), 0, 'off until set');
});

test('a text the filter refuses is neither sent nor made by an edit; a stranger learns only that they are one', (t) => {
  const state = rooms.given([group]).state;
  const refused = { blockedByPeer: false, textRefused: 'Not allowed.' };
  t.is(
    code(() => decideSend(state, { messageId: eve, senderId: ann, body: 'rude', ...refused })),
    'message_not_allowed',
  );
  t.is(
    code(() =>
      decideEdit(
        state,
        { senderId: ann },
        { seq: 0, editorId: ann, body: 'rude', redacted: false, ...refused },
      ),
    ),
    'message_not_allowed',
  );
  t.is(
    code(() => decideSend(state, { messageId: eve, senderId: eve, body: 'rude', ...refused })),
    'not_a_member',
  );
});
