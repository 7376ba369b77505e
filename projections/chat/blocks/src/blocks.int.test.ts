import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { chat as schema } from '@lectern/schemas';
import { blocksOf, chatBlocksProjection } from './index.ts';

const spec = projectionSpec(chatBlocksProjection);
test.after.always(() => spec.close());

const ada = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const eve = '0b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10';
const blocked = (blockedUserId: string, blockedAt: string): schema.BlocklistStreamEvent => ({
  type: 'chat.UserBlocked',
  data: { userId: ada, blockedUserId, blockedAt },
});

test('a blocklist is its blocks less its unblocks, newest first; a redelivery changes nothing', async (t) => {
  const feed = eventFeed();
  const events = feed.append(schema.blocksStreamId(ada), [
    blocked(bob, '2026-03-01T10:00:00.000Z'),
    blocked(eve, '2026-03-01T10:01:00.000Z'),
    {
      type: 'chat.UserUnblocked',
      data: { userId: ada, blockedUserId: bob, unblockedAt: '2026-03-01T10:02:00.000Z' },
    },
    blocked(bob, '2026-03-01T10:03:00.000Z'),
  ]);
  const expected = [
    { userId: bob, blockedAt: '2026-03-01T10:03:00.000Z' },
    { userId: eve, blockedAt: '2026-03-01T10:01:00.000Z' },
  ];
  await spec.given(events).then(t, (sql) => blocksOf(sql, ada), expected);
  await spec
    .given(events)
    .when(events)
    .then(t, (sql) => blocksOf(sql, ada), expected);
  await spec.given(events).then(t, (sql) => blocksOf(sql, bob), []);
});
