import test from 'ava';
import type { chat as schema } from '@lectern/schemas';
import { spec } from '@lectern/infra/testing/decider-spec';
import { BLOCKLIST_MAX } from '@lectern/schemas/chat/events';
import { blocklistDecider, hasBlocked } from './blocks.ts';

const [ann, ben, eve] = [
  '22222222-2222-4222-8222-222222222222',
  '33333333-3333-4333-8333-333333333333',
  '44444444-4444-4444-8444-444444444444',
];
const at = '2026-03-01T10:00:00.000Z';
const lists = spec(blocklistDecider);
const blocked = (userId: string, blockedUserId: string): schema.BlocklistStreamEvent => ({
  type: 'chat.UserBlocked',
  data: { userId, blockedUserId, blockedAt: at },
});
const unblocked = (userId: string, blockedUserId: string): schema.BlocklistStreamEvent => ({
  type: 'chat.UserUnblocked',
  data: { userId, blockedUserId, unblockedAt: at },
});

test('a block is stored once; blocking again or unblocking a stranger decides nothing', (t) => {
  const block = { type: 'Block', userId: ann, blockedUserId: ben, at } as const;
  const unblock = { type: 'Unblock', userId: ann, blockedUserId: ben, at } as const;
  lists
    .given([])
    .when(block)
    .then(t, [blocked(ann, ben)]);
  lists
    .given([blocked(ann, ben)])
    .when(block)
    .then(t, []);
  lists.given([]).when(unblock).then(t, []);
  lists
    .given([blocked(ann, ben)])
    .when(unblock)
    .then(t, [unblocked(ann, ben)]);
  lists
    .given([blocked(ann, ben), unblocked(ann, ben)])
    .when(block)
    .then(t, [blocked(ann, ben)]);
});

test('nobody blocks themselves', (t) => {
  lists.given([]).when({ type: 'Block', userId: ann, blockedUserId: ann, at }).thenFails(t, 'block_self');
});

test('the list folds blocks and unblocks, and is bounded', (t) => {
  const state = lists.given([blocked(ann, ben), blocked(ann, eve), unblocked(ann, ben)]).state;
  t.false(hasBlocked(state, ben));
  t.true(hasBlocked(state, eve));
  const full = Array.from({ length: BLOCKLIST_MAX }, (_, i) =>
    blocked(ann, `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
  );
  lists
    .given(full)
    .when({ type: 'Block', userId: ann, blockedUserId: ben, at })
    .thenFails(t, 'blocklist_full');
  // Unblocking one makes room again.
  lists
    .given([...full, unblocked(ann, '00000000-0000-4000-8000-000000000000')])
    .when({ type: 'Block', userId: ann, blockedUserId: ben, at })
    .then(t, [blocked(ann, ben)]);
});
