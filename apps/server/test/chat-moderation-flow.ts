import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { testClient } from '@lectern/realtime/testing/client';
import { chatClient } from './chat-client.ts';
import { problem, type Reply } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * Chat's moderation over HTTP (and `chat.send` on the socket), end to end,
 * on one profile: the per-user blocklist and what it refuses or hides,
 * the profanity filter, and per-room slow mode. Slow mode's window passing
 * is tested with a clock the test moves, in command-services/chat
 * (commands.int.test.ts); here the window is an hour, so no answer depends
 * on how fast the machine is.
 */
export const chatModerationFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const { call, user, after, send } = chatClient(lectern);
  const block = (token: string, userId: string) => call('PUT', `/api/chat/blocks/${userId}`, { token });
  const unblock = (token: string, userId: string) => call('DELETE', `/api/chat/blocks/${userId}`, { token });
  const direct = (token: string, userId: string) =>
    call('POST', '/api/chat/direct', { token, body: { userId } });
  /** `chat.send` on a socket of its own; the reply or error frame. */
  const sendOnSocket = async (token: string, roomId: string, body: string) => {
    const c = await testClient(`${(await lectern()).url.replace(/^http/, 'ws')}/ws`);
    try {
      c.send({ type: 'auth', token });
      await c.next('welcome', (f) => f.type === 'welcome');
      c.send({ type: 'chat.send', ref: 1, data: { roomId, clientMessageId: randomUUID(), body } });
      return await c.next('the answer', (f) => f.ref === 1);
    } finally {
      c.close();
    }
  };
  const bodies = (page: Reply) => page.body!.items.map((m: { body: string }) => m.body);

  test.serial(
    `${name}: a blocked user cannot open or write the direct room; unblocking restores it`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = (await direct(ada.token, bob.id)).body!.roomId as string;
      t.is((await send(ada.token, roomId, 'before the block')).status, 201);

      const blocked = await block(bob.token, ada.id);
      t.is(blocked.status, 204, JSON.stringify(blocked.body));
      t.is((await block(bob.token, ada.id)).status, 204, 'blocking again is the same block');
      const list = await call('GET', '/api/chat/blocks', { token: bob.token, headers: after(blocked) });
      t.is(list.headers.get('x-consistency'), 'caught-up');
      t.deepEqual(
        list.body!.items.map((b: { userId: string }) => b.userId),
        [ada.id],
      );
      t.deepEqual((await call('GET', '/api/chat/blocks', { token: ada.token })).body!.items, [], 'per user');

      problem(t, await direct(ada.token, bob.id), 403, 'blocked');
      problem(t, await send(ada.token, roomId, 'let me explain'), 403, 'blocked');
      t.like(await sendOnSocket(ada.token, roomId, 'on the socket then'), { type: 'error', code: 'blocked' });
      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/0`, {
          token: ada.token,
          body: { body: 'rewritten' },
        }),
        403,
        'blocked',
      );
      // The one who blocks still reaches the room.
      t.is((await direct(bob.token, ada.id)).status, 200);
      t.is((await send(bob.token, roomId, 'please stop')).status, 201);

      const lifted = await unblock(bob.token, ada.id);
      t.is(lifted.status, 204);
      t.is((await unblock(bob.token, ada.id)).status, 204, 'unblocking again changes nothing');
      t.deepEqual(
        (await call('GET', '/api/chat/blocks', { token: bob.token, headers: after(lifted) })).body!.items,
        [],
      );
      t.is((await direct(ada.token, bob.id)).status, 200);
      t.is((await send(ada.token, roomId, 'sorry')).status, 201);
    },
  );

  test.serial(`${name}: in a group, what a blocked user says is hidden from the blocker only`, async (t) => {
    const [owner, ann, ben] = [await user(), await user(), await user()];
    const roomId = (
      await call('POST', '/api/chat/rooms', {
        token: owner.token,
        body: { name: 'Study', members: [ann.id, ben.id] },
      })
    ).body!.roomId as string;
    const word = `walrus${randomUUID().slice(0, 8)}`;
    await send(ann.token, roomId, `ann on the ${word}`);
    await send(owner.token, roomId, `owner on the ${word}`);
    const last = await send(ann.token, roomId, `ann again on the ${word}`);
    const blocked = await block(ben.token, ann.id);
    // The history reads two read models: wait for the block's, then for the messages'.
    await call('GET', '/api/chat/blocks', { token: ben.token, headers: after(blocked) });
    const history = (token: string) =>
      call('GET', `/api/chat/rooms/${roomId}/messages`, { token, headers: after(last) });

    t.deepEqual(bodies(await history(ben.token)), [`owner on the ${word}`]);
    t.deepEqual(bodies(await history(owner.token)), [
      `ann on the ${word}`,
      `owner on the ${word}`,
      `ann again on the ${word}`,
    ]);
    // A page of one still holds one: the hidden messages do not take the place of shown ones.
    const one = await call('GET', `/api/chat/rooms/${roomId}/messages?limit=1`, { token: ben.token });
    t.deepEqual(bodies(one), [`owner on the ${word}`]);
    const search = (token: string) => call('GET', `/api/chat/search?q=${word}`, { token });
    t.deepEqual(bodies(await search(ben.token)), [`owner on the ${word}`]);
    t.is((await search(owner.token)).body!.items.length, 3);

    const lifted = await unblock(ben.token, ann.id);
    await call('GET', '/api/chat/blocks', { token: ben.token, headers: after(lifted) });
    t.is(bodies(await history(ben.token)).length, 3, 'unblocking shows them again');
  });

  test.serial(`${name}: a blocked user cannot bring the blocker into a group`, async (t) => {
    const [carl, dora] = [await user(), await user()];
    t.is((await block(carl.token, dora.id)).status, 204);
    problem(
      t,
      await call('POST', '/api/chat/rooms', {
        token: dora.token,
        body: { name: 'Mine', members: [carl.id] },
      }),
      403,
      'blocked',
    );
    const roomId = (await call('POST', '/api/chat/rooms', { token: dora.token, body: { name: 'Mine' } }))
      .body!.roomId as string;
    problem(
      t,
      await call('POST', `/api/chat/rooms/${roomId}/members`, {
        token: dora.token,
        body: { userId: carl.id },
      }),
      403,
      'blocked',
    );
    // The other way round is allowed: carl chose the block, not dora.
    const carlsRoom = (await call('POST', '/api/chat/rooms', { token: carl.token, body: { name: 'Carl' } }))
      .body!.roomId as string;
    t.is(
      (
        await call('POST', `/api/chat/rooms/${carlsRoom}/members`, {
          token: carl.token,
          body: { userId: dora.id },
        })
      ).status,
      200,
    );
  });

  test.serial(`${name}: bad block requests are 400s with stable codes, never a 5xx`, async (t) => {
    const ada = await user();
    problem(t, await block(ada.token, ada.id), 400, 'block_self');
    problem(t, await block(ada.token, 'not-a-user'), 400, 'validation_failed');
    problem(t, await unblock(ada.token, '00000000-0000-0000-0000-00000000000g'), 400, 'validation_failed');
    // An id that is nobody's is accepted: chat does not tell who has an account.
    t.is((await block(ada.token, randomUUID())).status, 204);
    problem(t, await call('GET', '/api/chat/blocks', {}), 401);
    problem(
      t,
      await call('GET', '/api/chat/blocks', { token: ada.token, headers: { 'x-consistency-token': 'x' } }),
      400,
      'invalid_consistency_token',
    );
  });

  test.serial(
    `${name}: slow mode: one message per window per member, 429 slow_mode with Retry-After`,
    async (t) => {
      const [owner, ann, ben, admin] = [await user(), await user(), await user(), await user(['admin'])];
      const roomId = (
        await call('POST', '/api/chat/rooms', {
          token: owner.token,
          body: { name: 'Slow', members: [ann.id, ben.id] },
        })
      ).body!.roomId as string;
      const slow = (token: string, seconds: unknown) =>
        call('PUT', `/api/chat/rooms/${roomId}/slow-mode`, { token, body: { seconds } });
      problem(t, await slow(ann.token, 3600), 403, 'not_the_owner');
      problem(t, await slow(owner.token, 3601), 400, 'validation_failed');
      problem(t, await slow(owner.token, -1), 400, 'validation_failed');
      problem(t, await slow(owner.token, 1.5), 400, 'validation_failed');
      problem(t, await slow(owner.token, '60'), 400, 'validation_failed');
      problem(t, await slow(owner.token, 1e308), 400, 'validation_failed');
      problem(
        t,
        await call('PUT', '/api/chat/rooms/not-a-room/slow-mode', {
          token: owner.token,
          body: { seconds: 5 },
        }),
        400,
        'validation_failed',
      );
      problem(
        t,
        await call('PUT', `/api/chat/rooms/${randomUUID()}/slow-mode`, {
          token: owner.token,
          body: { seconds: 5 },
        }),
        404,
        'room_not_found',
      );
      const set = await slow(owner.token, 3600);
      t.is(set.status, 200, JSON.stringify(set.body));
      const room = await call('GET', `/api/chat/rooms/${roomId}`, { token: ann.token, headers: after(set) });
      t.is(room.body!.slowModeSeconds, 3600);

      const clientMessageId = randomUUID();
      const first = await send(ann.token, roomId, 'first', clientMessageId);
      t.is(first.status, 201);
      const refused = await send(ann.token, roomId, 'second');
      problem(t, refused, 429, 'slow_mode');
      const wait = Number(refused.headers.get('retry-after'));
      t.true(wait > 3500 && wait <= 3600, String(wait));
      const again = await send(ann.token, roomId, 'first', clientMessageId);
      t.is(again.status, 201, 'a retried send is answered as the first');
      t.is(again.body!.seq, first.body!.seq);
      const onSocket = await sendOnSocket(ann.token, roomId, 'on the socket');
      t.like(onSocket, { type: 'error', code: 'slow_mode' });
      t.true(typeof onSocket.retryAfter === 'number' && (onSocket.retryAfter as number) > 3500);
      t.is((await send(ben.token, roomId, 'my own turn')).status, 201, 'a turn per member');
      t.is((await send(owner.token, roomId, 'owner')).status, 201);
      t.is((await send(owner.token, roomId, 'owner again')).status, 201, 'the owner is not slowed');

      // An admin sets it in a room they are not in (an audited event), and turning it off frees the members.
      const off = await slow(admin.token, 0);
      t.is(off.status, 200, JSON.stringify(off.body));
      t.is(
        (await call('GET', `/api/chat/rooms/${roomId}`, { token: ann.token, headers: after(off) })).body!
          .slowModeSeconds,
        0,
      );
      t.is((await send(ann.token, roomId, 'second, at last')).status, 201);
    },
  );

  test.serial(
    `${name}: the profanity filter refuses a send or an edit with 400, and stores nothing`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = (await direct(ada.token, bob.id)).body!.roomId as string;
      const refused = await send(ada.token, roomId, 'this is fucking hard');
      problem(t, refused, 400, 'message_not_allowed');
      t.is(refused.body!.errors[0].path, '/body');
      problem(t, await send(ada.token, roomId, 'what a sh1t exercise'), 400, 'message_not_allowed');
      t.like(await sendOnSocket(ada.token, roomId, 'fuck'), { type: 'error', code: 'message_not_allowed' });
      // Words that only contain a listed one are ordinary words.
      const fine = await send(ada.token, roomId, 'The assessment for the class from Scunthorpe is due');
      t.is(fine.status, 201, JSON.stringify(fine.body));
      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/${fine.body!.seq}`, {
          token: ada.token,
          body: { body: 'bullshit' },
        }),
        400,
        'message_not_allowed',
      );
      const page = await call('GET', `/api/chat/rooms/${roomId}/messages`, {
        token: bob.token,
        headers: after(fine),
      });
      t.is(page.status, 200, JSON.stringify(page.body));
      t.deepEqual(bodies(page), ['The assessment for the class from Scunthorpe is due']);
      t.is(page.body!.items[0].editedAt, null, 'the refused edit changed nothing');
    },
  );
};
