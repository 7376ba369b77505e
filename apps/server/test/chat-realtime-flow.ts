import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { testClient, type Frame, type TestClient } from '@lectern/realtime/testing/client';
import { jsonClient, type Reply } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

type Message = { seq: number; body?: string | null; senderId?: string; editedAt?: string | null };
const messageOf = (f: Frame) => (f.data as { message: Message }).message;

/**
 * Chat over the WebSocket, end to end, on one profile: a client connects
 * to `/ws` of the server `./dev start` runs, authenticates with its access
 * token, subscribes to a room, sends over the socket and over REST, sees
 * who is there, goes away and resumes from its cursor.
 */
export const chatRealtimeFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const call = jsonClient(async () => (await lectern()).url);
  const user = async () => {
    const id = randomUUID();
    return { id, token: (await (await lectern()).signAccessToken({ sub: id, roles: ['learner'] })).token };
  };
  const connect = async (who: { token: string }): Promise<TestClient> => {
    const c = await testClient(`${(await lectern()).url.replace(/^http/, 'ws')}/ws`);
    c.send({ type: 'auth', token: who.token });
    await c.next('welcome', (f) => f.type === 'welcome');
    return c;
  };
  /** The consistency token of each room's creation: a socket waits for the rooms read model with it. */
  const made = new Map<string, string>();
  const opened = (reply: Reply) => {
    const roomId = reply.body!.roomId as string;
    made.set(roomId, reply.headers.get('x-consistency-token')!);
    return roomId;
  };
  const join = async (c: TestClient, roomId: string, cursor: number | null = null) => {
    // Read-your-writes on the socket: the membership must be in the read model the gateway checks.
    const token = made.get(roomId);
    if (token) {
      const wait = randomUUID();
      c.send({
        type: 'consistency',
        ref: wait,
        readModel: 'chat_rooms',
        stream: `chatroom-${roomId}`,
        token,
      });
      const answer = await c.next('the rooms read model', (f) => f.ref === wait);
      if ((answer.data as { caughtUp?: boolean } | undefined)?.caughtUp !== true)
        throw new Error(`the rooms read model did not catch up: ${JSON.stringify(answer)}`);
    }
    const ref = randomUUID();
    c.send({ type: 'subscribe', ref, channel: `room:${roomId}`, cursor });
    return c.next(`subscribed to ${roomId}`, (f) => f.ref === ref);
  };
  const item = (c: TestClient, roomId: string, seq: number) =>
    c.next(
      `item ${seq} of ${roomId}`,
      (f) => f.type === 'item' && f.channel === `room:${roomId}` && f.seq === seq,
    );

  test.serial(
    `${name}: members get each message live, sent over the socket or REST; a stranger is refused`,
    async (t) => {
      const [ada, bob, eve] = [await user(), await user(), await user()];
      const roomId = opened(
        await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }),
      );
      const [a, b] = [await connect(ada), await connect(bob)];
      try {
        t.like(await join(a, roomId), { type: 'subscribed', channel: `room:${roomId}` });
        await join(b, roomId);

        a.send({
          type: 'chat.send',
          ref: 'm1',
          data: { roomId, clientMessageId: randomUUID(), body: 'Hello Bob' },
        });
        const reply = await a.next('the reply', (f) => f.ref === 'm1');
        t.like(reply, { type: 'reply', data: { roomId, seq: 0 } });
        t.regex(String((reply.data as { consistencyToken: string }).consistencyToken), /^\d+$/);
        const sent = await call('POST', `/api/chat/rooms/${roomId}/messages`, {
          token: bob.token,
          body: { clientMessageId: randomUUID(), body: 'Hi Ada' },
        });
        t.is(sent.status, 201);
        for (const c of [a, b]) {
          t.like(messageOf(await item(c, roomId, 0)), { seq: 0, body: 'Hello Bob', senderId: ada.id });
          t.like(messageOf(await item(c, roomId, 1)), { seq: 1, body: 'Hi Ada', senderId: bob.id });
        }

        const e = await connect(eve);
        try {
          e.send({ type: 'subscribe', ref: 'x', channel: `room:${roomId}` });
          t.like(await e.next('refusal', (f) => f.ref === 'x'), { type: 'error', code: 'forbidden' });
          e.send({
            type: 'chat.send',
            ref: 'y',
            data: { roomId, clientMessageId: randomUUID(), body: 'let me in' },
          });
          t.like(await e.next('refusal', (f) => f.ref === 'y'), { type: 'error', code: 'not_a_member' });
          e.send({ type: 'chat.send', ref: 'z', data: { roomId, body: '' } });
          t.like(await e.next('invalid', (f) => f.ref === 'z'), { type: 'error', code: 'validation_failed' });
        } finally {
          e.close();
        }
      } finally {
        a.close();
        b.close();
      }
    },
  );

  test.serial(
    `${name}: a user's own channel tells each of their clients of the rooms they join and leave`,
    async (t) => {
      const [ada, bob, cat] = [await user(), await user(), await user()];
      const [a, b, c] = [await connect(ada), await connect(bob), await connect(cat)];
      try {
        for (const [client, who] of [
          [a, ada],
          [b, bob],
          [c, cat],
        ] as const) {
          const ref = randomUUID();
          client.send({ type: 'subscribe', ref, channel: `user:${who.id}` });
          t.like(await client.next('their own channel', (f) => f.ref === ref), { type: 'subscribed' });
        }
        a.send({ type: 'subscribe', ref: 'theirs', channel: `user:${bob.id}` });
        t.like(await a.next('refusal', (f) => f.ref === 'theirs'), { type: 'error', code: 'forbidden' });

        type Change = { change: string; roomId: string };
        const change = (client: TestClient, who: { id: string }, kind: string, roomId: string) =>
          client
            .next(
              `${kind} ${roomId} on user:${who.id}`,
              (f) =>
                f.type === 'item' &&
                f.channel === `user:${who.id}` &&
                (f.data as Change).change === kind &&
                (f.data as Change).roomId === roomId,
            )
            .then((f) => f.data);
        const direct = opened(
          await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }),
        );
        for (const [client, who] of [
          [a, ada],
          [b, bob],
        ] as const)
          t.like(await change(client, who, 'room_joined', direct), {
            kind: 'direct',
            name: null,
            by: ada.id,
          });

        const group = opened(
          await call('POST', '/api/chat/rooms', { token: ada.token, body: { name: 'Study group' } }),
        );
        t.like(await change(a, ada, 'room_joined', group), { kind: 'group', name: 'Study group' });
        const invited = await call('POST', `/api/chat/rooms/${group}/members`, {
          token: ada.token,
          body: { userId: cat.id },
        });
        t.true(invited.status < 300, JSON.stringify(invited.body));
        t.like(await change(c, cat, 'room_joined', group), { kind: 'group', by: ada.id });
        const left = await call('DELETE', `/api/chat/rooms/${group}/members/me`, { token: cat.token });
        t.true(left.status < 300, JSON.stringify(left.body));
        t.like(await change(c, cat, 'room_left', group), { roomId: group });
        t.false(
          c.frames.some((f) => f.type === 'item' && (f.data as Change).roomId === direct),
          "no word of others' rooms",
        );
      } finally {
        for (const client of [a, b, c]) client.close();
      }
    },
  );

  test.serial(`${name}: a member who leaves a group loses its channel at once`, async (t) => {
    const [owner, ann] = [await user(), await user()];
    const created = await call('POST', '/api/chat/rooms', {
      token: owner.token,
      body: { name: 'Leavers', members: [ann.id] },
    });
    const roomId = opened(created);
    const a = await connect(ann);
    try {
      await join(a, roomId);
      const left = await call('DELETE', `/api/chat/rooms/${roomId}/members/me`, { token: ann.token });
      t.true(left.status < 300, JSON.stringify(left.body));
      t.like(await a.next('revoked', (f) => f.type === 'unsubscribed' && f.channel === `room:${roomId}`), {
        reason: 'revoked',
      });
      const after = await call('POST', `/api/chat/rooms/${roomId}/messages`, {
        token: owner.token,
        body: { clientMessageId: randomUUID(), body: 'after she left' },
      });
      // The owner's own socket sees it, so it went out; hers got nothing.
      const o = await connect(owner);
      try {
        await join(o, roomId, (after.body!.seq as number) - 1);
        await item(o, roomId, after.body!.seq as number);
      } finally {
        o.close();
      }
      t.deepEqual(a.items(`room:${roomId}`), [], 'nothing after leaving');
      // Subscribing again is refused once the rooms read model has the leave (bounded).
      for (let attempt = 0; ; attempt++) {
        const ref = `again-${attempt}`;
        a.send({ type: 'subscribe', ref, channel: `room:${roomId}` });
        const answer = await a.next('the answer', (f) => f.ref === ref);
        if (answer.type === 'error') {
          t.is(answer.code, 'forbidden');
          break;
        }
        if (attempt >= 300) return t.fail('still allowed after 300 tries, 100 ms apart');
        a.send({ type: 'unsubscribe', channel: `room:${roomId}` });
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      a.close();
    }
  });

  test.serial(
    `${name}: presence: a member joining and leaving is seen by the others, and listed`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = opened(
        await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }),
      );
      const a = await connect(ada);
      try {
        await join(a, roomId);
        const b = await connect(bob);
        await join(b, roomId);
        const joined = await a.next(
          'bob online',
          (f) => f.type === 'presence' && (f.change as { userId: string }).userId === bob.id,
        );
        t.like(joined.change, { type: 'join', online: true });
        a.send({ type: 'presence', ref: 'p', channel: `room:${roomId}` });
        const listed = await a.next('the list', (f) => f.ref === 'p');
        t.deepEqual(
          (listed.data as { members: { userId: string }[] }).members.map((m) => m.userId).sort(),
          [ada.id, bob.id].sort(),
        );
        b.close();
        const left = await a.next(
          'bob offline',
          (f) => f.type === 'presence' && (f.change as { type: string }).type === 'leave',
        );
        t.like(left.change, { userId: bob.id, online: false });
      } finally {
        a.close();
      }
    },
  );

  test.serial(
    `${name}: in a group, what a blocked user says reaches the blocker neither live nor on a resume; unblocked, it does`,
    async (t) => {
      const [ada, bob, cat] = [await user(), await user(), await user()];
      const roomId = opened(
        await call('POST', '/api/chat/rooms', {
          token: ada.token,
          body: { name: 'Blockers', members: [bob.id, cat.id] },
        }),
      );
      const say = async (who: { token: string }, body: string) => {
        const sent = await call('POST', `/api/chat/rooms/${roomId}/messages`, {
          token: who.token,
          body: { clientMessageId: randomUUID(), body },
        });
        if (sent.status !== 201) throw new Error(`send: ${sent.status} ${JSON.stringify(sent.body)}`);
        return sent.body!.seq as number;
      };
      /** Ada's own channel tells her connection when her block (or unblock) holds on it. */
      const onHerChannel = (c: TestClient, change: string) =>
        c.next(
          `${change} ${bob.id} on user:${ada.id}`,
          (f) =>
            f.type === 'item' &&
            f.channel === `user:${ada.id}` &&
            (f.data as { change: string }).change === change &&
            (f.data as { userId: string }).userId === bob.id,
        );
      const [a, c] = [await connect(ada), await connect(cat)];
      try {
        a.send({ type: 'subscribe', ref: 'own', channel: `user:${ada.id}` });
        await a.next('her own channel', (f) => f.ref === 'own');
        await join(a, roomId);
        await join(c, roomId);
        const before = await say(bob, 'before the block');
        t.like(messageOf(await item(a, roomId, before)), { senderId: bob.id });

        const blocked = await call('PUT', `/api/chat/blocks/${bob.id}`, { token: ada.token });
        t.is(blocked.status, 204, JSON.stringify(blocked.body));
        await onHerChannel(a, 'user_blocked');
        const hidden = await say(bob, 'you will not see this');
        const shown = await say(cat, 'but you see this');
        t.like(messageOf(await item(c, roomId, hidden)), { body: 'you will not see this', senderId: bob.id });
        await item(c, roomId, shown);
        // Items of a channel come in seq order: once Ada has the later one, the earlier was held back.
        t.like(messageOf(await item(a, roomId, shown)), { body: 'but you see this', senderId: cat.id });
        t.deepEqual(a.items(`room:${roomId}`), [before, shown]);

        // A resume from before the hidden message agrees with the live feed.
        const back = await connect(ada);
        try {
          await join(back, roomId, before);
          await item(back, roomId, shown);
          t.deepEqual(back.items(`room:${roomId}`), [shown]);
        } finally {
          back.close();
        }

        const unblocked = await call('DELETE', `/api/chat/blocks/${bob.id}`, { token: ada.token });
        t.is(unblocked.status, 204, JSON.stringify(unblocked.body));
        await onHerChannel(a, 'user_unblocked');
        const again = await say(bob, 'hello again');
        t.like(messageOf(await item(a, roomId, again)), { body: 'hello again', senderId: bob.id });
        t.deepEqual(a.items(`room:${roomId}`), [before, shown, again]);
      } finally {
        a.close();
        c.close();
      }
    },
  );

  test.serial(
    `${name}: a client that was away resumes from its cursor: each change once, then live`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = opened(
        await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } }),
      );
      const say = async (body: string) =>
        (
          await call('POST', `/api/chat/rooms/${roomId}/messages`, {
            token: ada.token,
            body: { clientMessageId: randomUUID(), body },
          })
        ).body!.seq as number;
      const b = await connect(bob);
      await join(b, roomId, -1);
      t.is(await say('one'), 0);
      t.is(await say('two'), 1);
      await item(b, roomId, 1);
      b.close();

      // Away: two more, and the first one edited.
      t.is(await say('three'), 2);
      t.is(await say('four'), 3);
      const edit = await call('PATCH', `/api/chat/rooms/${roomId}/messages/0`, {
        token: ada.token,
        body: { body: 'one (edited)' },
      });
      t.is(edit.status, 200, JSON.stringify(edit.body));

      const back = await connect(bob);
      try {
        await join(back, roomId, 1);
        await item(back, roomId, 4);
        t.is(await say('five'), 5);
        await item(back, roomId, 5);
        const items = back.frames.filter((f) => f.type === 'item');
        t.deepEqual(
          items.map((f) => [f.seq, messageOf(f).seq, messageOf(f).body]),
          [
            [2, 2, 'three'],
            [3, 3, 'four'],
            [4, 0, 'one (edited)'],
            [5, 5, 'five'],
          ],
        );
      } finally {
        back.close();
      }
    },
  );
};
