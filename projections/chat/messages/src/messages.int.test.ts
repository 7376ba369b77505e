import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { chat as schema } from '@lectern/schemas';
import {
  changesAfter,
  chatMessagesProjection,
  historyPage,
  isRedacted,
  lastSeqs,
  searchMessages,
} from './index.ts';

const spec = projectionSpec(chatMessagesProjection);
test.after.always(() => spec.close());

const room = '3f0c2b7e-8a41-4d8e-9b1a-2c5d6e7f8a90';
const ada = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const ids = [
  '0b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10',
  '1b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10',
  '2b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10',
];
const sent = (i: number, senderId: string, body: string): schema.MessageStreamEvent => ({
  type: 'chat.MessageSent',
  data: { roomId: room, messageId: ids[i]!, senderId, body },
});

const conversation = () => {
  const feed = eventFeed();
  return feed.append(schema.messagesStreamId(room), [
    sent(0, ada, 'the quokka is out'),
    sent(1, bob, 'secret plans for the quokka'),
    { type: 'chat.MessageEdited', data: { roomId: room, seq: 0, editorId: ada, body: 'the quokka is back' } },
    {
      type: 'chat.MessageRedacted',
      data: { roomId: room, seq: 1, actorId: ada, byAdmin: true, reason: 'Spam' },
    },
    sent(2, ada, 'done'),
  ]);
};

test('edits change the text; a removal takes it out of the row and of search; seqs stay in place', async (t) => {
  const events = conversation();
  await spec
    .given(events)
    .then(
      t,
      async (sql) =>
        (await historyPage(sql, room, { limit: 50 })).items.map((m) => [
          m.seq,
          m.body,
          m.redacted,
          m.updatedSeq,
        ]),
      [
        [0, 'the quokka is back', false, 2],
        [1, null, true, 3],
        [4, 'done', false, 4],
      ],
    );
  await spec
    .given(events)
    .then(t, async (sql) => (await searchMessages(sql, [room], 'quokka', 10)).map((m) => m.seq), [0]);
  await spec
    .given(events)
    .then(t, async (sql) => (await searchMessages(sql, [room], 'secret', 10)).length, 0);
  await spec.given(events).then(t, (sql) => isRedacted(sql, room, 1), true);
});

test('changes after a seq come once each, in the order they happened, as the row is now', async (t) => {
  const events = conversation();
  await spec.given(events).then(
    t,
    async (sql) => {
      const page = await changesAfter(sql, room, 1, 2);
      return [page.more, page.items.map((m) => [m.updatedSeq, m.seq, m.body])];
    },
    [
      true,
      [
        [2, 0, 'the quokka is back'],
        [3, 1, null],
      ],
    ],
  );
  await spec
    .given(events)
    .then(t, async (sql) => (await changesAfter(sql, room, 3, 10)).items.map((m) => m.seq), [4]);
});

test('an edit after a removal leaves the text out, and a redelivered batch changes nothing', async (t) => {
  const [a, b, edit, redact, done] = conversation();
  const late = eventFeed().append('x', [
    { type: 'chat.MessageEdited', data: { roomId: room, seq: 1, editorId: bob, body: 'secret again' } },
  ])[0]!;
  const lateEdit = { ...late, streamId: schema.messagesStreamId(room), revision: 5, position: 6 };
  await spec
    .given([a!, b!, edit!, redact!, done!])
    .when([lateEdit, a!, b!])
    .then(
      t,
      async (sql) =>
        (await historyPage(sql, room, { limit: 50 })).items.map((m) => [m.seq, m.body, m.updatedSeq]),
      [
        [0, 'the quokka is back', 2],
        [1, null, 5],
        [4, 'done', 4],
      ],
    );
});

test('pages: newest by default, before and after a seq, with whether more lie beyond', async (t) => {
  const feed = eventFeed();
  const events = feed.append(
    schema.messagesStreamId(room),
    Array.from({ length: 7 }, (_, i) => ({
      type: 'chat.MessageSent' as const,
      data: {
        roomId: room,
        messageId: `${i}b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10`,
        senderId: ada,
        body: `m${i}`,
      },
    })),
  );
  const seqs = (p: { items: { seq: number }[]; older: boolean; newer: boolean }) => [
    p.items.map((m) => m.seq),
    p.older,
    p.newer,
  ];
  await spec
    .given(events)
    .then(t, async (sql) => seqs(await historyPage(sql, room, { limit: 3 })), [[4, 5, 6], true, false]);
  await spec
    .given(events)
    .then(t, async (sql) => seqs(await historyPage(sql, room, { limit: 3, before: 4 })), [
      [1, 2, 3],
      true,
      true,
    ]);
  await spec
    .given(events)
    .then(t, async (sql) => seqs(await historyPage(sql, room, { limit: 3, before: 2 })), [
      [0, 1],
      false,
      true,
    ]);
  await spec
    .given(events)
    .then(t, async (sql) => seqs(await historyPage(sql, room, { limit: 3, after: 4 })), [
      [5, 6],
      true,
      false,
    ]);
  await spec
    .given(events)
    .then(t, async (sql) => seqs(await historyPage(sql, room, { limit: 2, after: 0 })), [[1, 2], true, true]);
});

test("a room's last seq is its newest change, an edit of an old message included; -1 for a room with none", async (t) => {
  const feed = eventFeed();
  const events = feed.append(schema.messagesStreamId(room), [
    sent(0, ada, 'one'),
    sent(1, ada, 'two'),
    { type: 'chat.MessageEdited', data: { roomId: room, seq: 0, editorId: ada, body: 'one, edited' } },
  ]);
  const empty = '9f0c2b7e-8a41-4d8e-9b1a-2c5d6e7f8a90';
  await spec.given(events).then(t, async (sql) => [...(await lastSeqs(sql, [room, empty]))], [
    [room, 2],
    [empty, -1],
  ]);
});
