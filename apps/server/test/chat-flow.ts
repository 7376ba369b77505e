import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { chatClient } from './chat-client.ts';
import { problem, type Reply } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/**
 * Chat over HTTP, end to end, on one profile: rooms and membership,
 * messages with edits and removals, history by cursor in both directions,
 * search, and the per-user flood limit.
 */
export const chatFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const { call, user, after, send } = chatClient(lectern);
  const history = (token: string, roomId: string, query = '', headers: Record<string, string> = {}) =>
    call('GET', `/api/chat/rooms/${roomId}/messages${query}`, { token, headers });

  test.serial(`${name}: a direct room is one per pair; only its two members read or write it`, async (t) => {
    const [ada, bob, eve] = [await user(), await user(), await user()];
    const opened = await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } });
    t.is(opened.status, 200, JSON.stringify(opened.body));
    const again = await call('POST', '/api/chat/direct', { token: bob.token, body: { userId: ada.id } });
    t.is(again.status, 200);
    t.is(again.body!.roomId, opened.body!.roomId, 'the pair has one room, whoever opens it');
    const roomId = opened.body!.roomId as string;
    problem(
      t,
      await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: ada.id } }),
      400,
      'direct_with_self',
    );

    const room = await call('GET', `/api/chat/rooms/${roomId}`, { token: bob.token, headers: after(opened) });
    t.is(room.status, 200);
    t.like(room.body, { roomId, kind: 'direct', name: null, ownerId: null, lastSeq: -1 });
    t.deepEqual(room.body!.members, [ada.id, bob.id].sort());

    const hello = await send(ada.token, roomId, 'Hello Bob');
    t.is(hello.status, 201, JSON.stringify(hello.body));
    t.is(hello.body!.seq, 0);
    problem(t, await send(eve.token, roomId, 'let me in'), 403, 'not_a_member');
    problem(t, await history(eve.token, roomId), 403, 'not_a_member');
    problem(
      t,
      await call('POST', `/api/chat/rooms/${roomId}/members`, { token: ada.token, body: { userId: eve.id } }),
      403,
      'direct_room_fixed',
    );
    const read = await history(bob.token, roomId, '', after(hello));
    t.is(read.headers.get('x-consistency'), 'caught-up');
    t.deepEqual(
      read.body!.items.map((m: { body: string; senderId: string }) => [m.senderId, m.body]),
      [[ada.id, 'Hello Bob']],
    );
    problem(t, await history(ada.token, randomUUID()), 404, 'room_not_found');
  });

  test.serial(`${name}: a group: the owner invites, a member leaves and can no longer read`, async (t) => {
    const [owner, ann, ben] = [await user(), await user(), await user()];
    const created = await call('POST', '/api/chat/rooms', {
      token: owner.token,
      body: { name: 'Study group', members: [ann.id] },
    });
    t.is(created.status, 201, JSON.stringify(created.body));
    const roomId = created.body!.roomId as string;
    t.is(created.headers.get('location'), `/api/chat/rooms/${roomId}`);
    problem(
      t,
      await call('POST', `/api/chat/rooms/${roomId}/members`, { token: ann.token, body: { userId: ben.id } }),
      403,
      'not_the_owner',
    );
    const invited = await call('POST', `/api/chat/rooms/${roomId}/members`, {
      token: owner.token,
      body: { userId: ben.id },
    });
    t.is(invited.status, 200);
    const room = await call('GET', `/api/chat/rooms/${roomId}`, {
      token: ben.token,
      headers: after(invited),
    });
    t.like(room.body, { kind: 'group', name: 'Study group', ownerId: owner.id });
    t.deepEqual(room.body!.members, [owner.id, ann.id, ben.id].sort());
    const mine = await call('GET', '/api/chat/rooms', { token: ben.token });
    t.deepEqual(
      mine.body!.items.map((r: { roomId: string }) => r.roomId),
      [roomId],
    );

    problem(
      t,
      await call('DELETE', `/api/chat/rooms/${roomId}/members/me`, { token: owner.token }),
      409,
      'owner_cannot_leave',
    );
    const left = await call('DELETE', `/api/chat/rooms/${roomId}/members/me`, { token: ann.token });
    t.is(left.status, 200);
    problem(t, await send(ann.token, roomId, 'still here?'), 403, 'not_a_member');
    problem(
      t,
      await call('GET', `/api/chat/rooms/${roomId}`, { token: ann.token, headers: after(left) }),
      403,
      'not_a_member',
    );
  });

  test.serial(
    `${name}: edits and removals take the next seqs; removed text leaves history and search`,
    async (t) => {
      const [ada, bob, admin] = [await user(), await user(), await user(['admin'])];
      const roomId = (await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }))
        .body!.roomId;
      const word = `quokka${randomUUID().slice(0, 8)}`;
      const first = await send(ada.token, roomId, `the ${word} is out`);
      const clientMessageId = randomUUID();
      const second = await send(bob.token, roomId, 'secret plans', clientMessageId);
      t.deepEqual([first.body!.seq, second.body!.seq], [0, 1]);
      const retried = await send(bob.token, roomId, 'secret plans', clientMessageId);
      t.is(retried.status, 201);
      t.is(retried.body!.seq, 1, 'the same clientMessageId is the same message');
      problem(t, await send(bob.token, roomId, 'other text', clientMessageId), 409, 'event_id_conflict');

      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/0`, {
          token: bob.token,
          body: { body: 'mine now' },
        }),
        403,
        'not_the_sender',
      );
      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/99`, {
          token: ada.token,
          body: { body: 'x' },
        }),
        404,
        'message_not_found',
      );
      // The largest seq the document allows is a seq like any other: not found, not refused.
      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/${Number.MAX_SAFE_INTEGER}`, {
          token: ada.token,
          body: { body: 'x' },
        }),
        404,
        'message_not_found',
      );
      const edited = await call('PATCH', `/api/chat/rooms/${roomId}/messages/0`, {
        token: ada.token,
        body: { body: `the ${word} is back` },
      });
      t.is(edited.status, 200, JSON.stringify(edited.body));
      t.is(edited.headers.get('etag'), '"2"', 'an edit takes the next seq of the room');
      problem(
        t,
        await call('DELETE', `/api/chat/rooms/${roomId}/messages/1`, { token: ada.token }),
        403,
        'not_the_sender',
      );
      const removed = await call('DELETE', `/api/chat/rooms/${roomId}/messages/1?reason=Spam`, {
        token: admin.token,
      });
      t.is(removed.status, 200, JSON.stringify(removed.body));
      t.is(removed.headers.get('etag'), '"3"');

      const page = await history(ada.token, roomId, '', after(removed));
      t.is(page.status, 200, JSON.stringify(page.body));
      t.like(page.body!.items[0], { seq: 0, body: `the ${word} is back`, redacted: false });
      t.truthy(page.body!.items[0].editedAt);
      t.like(page.body!.items[1], { seq: 1, body: null, redacted: true });
      t.false(JSON.stringify(page.body).includes('secret plans'), 'what was removed is in no answer');
      problem(
        t,
        await call('PATCH', `/api/chat/rooms/${roomId}/messages/1`, {
          token: bob.token,
          body: { body: 'undo' },
        }),
        409,
        'message_redacted',
      );

      const found = await call('GET', `/api/chat/search?q=${word}`, { token: bob.token });
      t.is(found.status, 200);
      t.deepEqual(
        found.body!.items.map((m: { seq: number }) => m.seq),
        [0],
      );
      const hit = found.body!.items[0].cursor as string;
      const atHit = await history(bob.token, roomId, `?before=${hit}`);
      t.deepEqual(atHit.body!.items, [], 'nothing precedes the first message');
      t.is((await call('GET', '/api/chat/search?q=secret', { token: bob.token })).body!.items.length, 0);
      const outsider = await user();
      t.deepEqual(
        (await call('GET', `/api/chat/search?q=${word}`, { token: outsider.token })).body!.items,
        [],
      );
    },
  );

  test.serial(
    `${name}: history pages both ways from any cursor, with nothing lost or repeated`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = (await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }))
        .body!.roomId;
      let last: Reply | undefined;
      // Within the flood limit: 12 messages from two senders.
      for (let i = 0; i < 12; i++) last = await send(i % 2 ? bob.token : ada.token, roomId, `message ${i}`);
      const newest = await history(ada.token, roomId, '?limit=5', after(last!));
      t.deepEqual(
        newest.body!.items.map((m: { seq: number }) => m.seq),
        [7, 8, 9, 10, 11],
      );
      t.truthy(newest.body!.before);
      const seen: number[] = [...newest.body!.items.map((m: { seq: number }) => m.seq)];
      let before = newest.body!.before as string | null;
      while (before) {
        const older = await history(ada.token, roomId, `?limit=5&before=${before}`);
        seen.unshift(...older.body!.items.map((m: { seq: number }) => m.seq));
        before = older.body!.before;
      }
      t.deepEqual(seen, [...Array(12).keys()], 'backwards: every message once');
      const forwards: number[] = [];
      let from = (await history(ada.token, roomId, '?limit=1&before=' + newest.body!.items[0].cursor)).body!
        .items[0].cursor as string;
      forwards.push(6);
      for (;;) {
        const newer = await history(ada.token, roomId, `?limit=4&after=${from}`);
        if (newer.body!.items.length === 0) break;
        forwards.push(...newer.body!.items.map((m: { seq: number }) => m.seq));
        from = newer.body!.after;
      }
      t.deepEqual(forwards, [6, 7, 8, 9, 10, 11], 'forwards from a middle cursor: every later message once');

      const opened = await call('POST', '/api/chat/direct', {
        token: ada.token,
        body: { userId: (await user()).id },
      });
      const other = opened.body!.roomId as string;
      problem(t, await history(ada.token, other, `?after=${from}`, after(opened)), 400, 'invalid_cursor');
      problem(t, await history(ada.token, roomId, '?after=bm9wZQ'), 400, 'invalid_cursor');
      problem(t, await history(ada.token, roomId, `?after=${from}&before=${from}`), 400, 'invalid_cursor');
      problem(t, await history(ada.token, roomId, '?limit=0'), 400, 'invalid_limit');
    },
  );

  // The window's arithmetic, with a clock the test moves, is in command-services/chat (commands.int.test.ts).
  // Here: a burst is refused with 429 and Retry-After. Bursts repeat (bounded) so that a machine too
  // slow to send 21 within 10 s still meets the limit, rather than the test depending on its speed.
  test.serial(`${name}: a flood is refused with 429 and Retry-After; the limit is per user`, async (t) => {
    const [ada, bob] = [await user(), await user()];
    const roomId = (await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }))
      .body!.roomId;
    let refused: Reply | undefined;
    for (let burst = 0; burst < 10 && !refused; burst++) {
      const answers = await Promise.all(
        Array.from({ length: 25 }, (_, i) => send(ada.token, roomId, `flood ${i}`)),
      );
      t.true(
        answers.every((a) => a.status === 201 || a.status === 429),
        JSON.stringify(answers.map((a) => a.status)),
      );
      refused = answers.find((a) => a.status === 429);
    }
    t.truthy(refused, 'a burst of 25 met the limit');
    problem(t, refused!, 429, 'rate_limited');
    t.regex(refused!.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    t.is((await send(bob.token, roomId, 'my own budget')).status, 201, 'the limit is per user');
  });

  test.serial(`${name}: bad input is a 400 with a pointer, never a 5xx`, async (t) => {
    const [ada, bob] = [await user(), await user()];
    const roomId = (await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }))
      .body!.roomId;
    const nul = await send(ada.token, roomId, 'a\u0000b');
    problem(t, nul, 400, 'validation_failed');
    t.is(nul.body!.errors[0].path, '/body');
    const proto = await call('POST', `/api/chat/rooms/${roomId}/messages`, {
      token: ada.token,
      raw: `{"clientMessageId":"${randomUUID()}","body":"hi","__proto__":{"x":1}}`,
    });
    problem(t, proto, 400, 'validation_failed');
    problem(
      t,
      await call('GET', '/api/chat/rooms/not-a-room/messages', { token: ada.token }),
      400,
      'validation_failed',
    );
    problem(
      t,
      await call('PATCH', `/api/chat/rooms/${roomId}/messages/-1`, { token: ada.token, body: { body: 'x' } }),
      400,
      'validation_failed',
    );
    problem(
      t,
      await call('PATCH', `/api/chat/rooms/${roomId}/messages/9007199254740993`, {
        token: ada.token,
        body: { body: 'x' },
      }),
      400,
      'validation_failed',
    );
    problem(t, await call('GET', '/api/chat/search?q=%20', { token: ada.token }), 400, 'validation_failed');
    problem(t, await call('GET', '/api/chat/rooms', {}), 401);
  });
};
