import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { chat as schema } from '@lectern/schemas';
import { chatAttachmentsUnsentProjection, unsentBefore } from './index.ts';

const spec = projectionSpec(chatAttachmentsUnsentProjection);
test.after.always(() => spec.close());

const room = '3f0c2b7e-8a41-4d8e-9b1a-2c5d6e7f8a90';
const ada = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const [a1, a2, a3, a4] = [
  '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e51',
  '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e52',
  '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e53',
  '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e54',
];
const hour = (h: number) => `2026-03-01T${String(h).padStart(2, '0')}:00:00.000Z`;
const requested = (attachmentId: string, h: number): schema.AttachmentStreamEvent => ({
  type: 'chat.AttachmentRequested',
  data: {
    attachmentId,
    roomId: room,
    uploaderId: ada,
    key: schema.attachmentKey(room, attachmentId),
    contentType: 'image/png',
    size: 100,
    fileName: null,
    requestedAt: hour(h),
  },
});

test('the unsent are those requested and neither linked nor expired, oldest first, up to a limit; a redelivery changes nothing', async (t) => {
  const feed = eventFeed();
  const events = [
    ...feed.append(schema.attachmentStreamId(a1), [requested(a1, 3)]),
    ...feed.append(schema.attachmentStreamId(a2), [
      requested(a2, 1),
      { type: 'chat.AttachmentStored', data: { attachmentId: a2, roomId: room, storedAt: hour(1) } },
    ]),
    ...feed.append(schema.attachmentStreamId(a3), [
      requested(a3, 0),
      { type: 'chat.AttachmentStored', data: { attachmentId: a3, roomId: room, storedAt: hour(0) } },
      {
        type: 'chat.AttachmentLinked',
        data: { attachmentId: a3, roomId: room, messageEventId: ada, linkedAt: hour(0) },
      },
    ]),
    ...feed.append(schema.attachmentStreamId(a4), [
      requested(a4, 2),
      {
        type: 'chat.AttachmentExpired',
        data: { attachmentId: a4, roomId: room, expiredAt: hour(5) },
      },
    ]),
  ];
  const before =
    (h: number, limit = 10) =>
    async (sql: Parameters<typeof unsentBefore>[0]) =>
      (await unsentBefore(sql, new Date(hour(h)), limit)).map((r) => r.attachmentId);
  await spec.given(events).then(t, before(9), [a2, a1]);
  await spec.given(events).then(t, before(9, 1), [a2]);
  // Requested before the bound, not at it.
  await spec.given(events).then(t, before(3), [a2]);
  await spec.given(events).then(t, before(1), []);
  await spec.given(events).when(events).then(t, before(9), [a2, a1]);
  // Keyset pages: the next after the last of the one before, each row once.
  await spec.given(events).then(
    t,
    async (sql) => {
      const first = await unsentBefore(sql, new Date(hour(9)), 1);
      const second = await unsentBefore(sql, new Date(hour(9)), 1, first.at(-1)!);
      const third = await unsentBefore(sql, new Date(hour(9)), 1, second.at(-1)!);
      return [first, second, third];
    },
    [[{ attachmentId: a2, requestedAt: hour(1) }], [{ attachmentId: a1, requestedAt: hour(3) }], []],
  );
});
