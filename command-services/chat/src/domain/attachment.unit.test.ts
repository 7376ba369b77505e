import test from 'ava';
import { chat as schema } from '@lectern/schemas';
import { spec } from '@lectern/infra/testing/decider-spec';
import { attachmentDecider, type AttachmentCommand } from './attachment.ts';
import { decideSend, roomDecider, type Room } from './room.ts';

const room = '3f0c2b7e-8a41-4d8e-9b1a-2c5d6e7f8a90';
const other = '5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a';
const [ann, ben, eve] = [
  '22222222-2222-4222-8222-222222222222',
  '33333333-3333-4333-8333-333333333333',
  '44444444-4444-4444-8444-444444444444',
];
const id = '7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f';
const message = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const at = '2026-03-01T10:00:00.000Z';
const open: Room = [
  {
    type: 'chat.RoomCreated',
    data: { roomId: room, kind: 'direct', name: null, createdBy: ann, members: [ann, ben], createdAt: at },
  } as const,
].reduce(roomDecider.evolve, roomDecider.initialState());
const attachments = spec(attachmentDecider);

const requested: schema.AttachmentStreamEvent = {
  type: 'chat.AttachmentRequested',
  data: {
    attachmentId: id,
    roomId: room,
    uploaderId: ann,
    key: `chat/${room}/${id}`,
    contentType: 'image/png',
    size: 1000,
    fileName: 'a.png',
    requestedAt: at,
  },
};
const stored: schema.AttachmentStreamEvent = {
  type: 'chat.AttachmentStored',
  data: { attachmentId: id, roomId: room, storedAt: at },
};
const linked: schema.AttachmentStreamEvent = {
  type: 'chat.AttachmentLinked',
  data: { attachmentId: id, roomId: room, messageEventId: message, linkedAt: at },
};
const request = (over: Partial<Extract<AttachmentCommand, { type: 'RequestAttachment' }>> = {}) =>
  ({
    type: 'RequestAttachment',
    attachmentId: id,
    room: open,
    uploaderId: ann,
    contentType: 'image/png',
    size: 1000,
    fileName: 'a.png',
    at,
    ...over,
  }) as const;
const complete = (
  stored: { size: number; sniffed: 'image/png' | 'application/pdf' | null } | null,
  by = ann,
) => ({ type: 'CompleteAttachment', roomId: room, by, stored, at }) as const;
const link = (over: Partial<Extract<AttachmentCommand, { type: 'LinkAttachment' }>> = {}) =>
  ({
    type: 'LinkAttachment',
    attachmentId: id,
    roomId: room,
    by: ann,
    messageEventId: message,
    at,
    ...over,
  }) as const;

test('a member requests an attachment of a type and size chat takes; the key is ours, not the file name', (t) => {
  attachments.given([]).when(request()).then(t, [requested]);
  attachments
    .given([])
    .when(request({ fileName: '../../etc/passwd' }))
    .then(t, [{ ...requested, data: { ...requested.data, fileName: '../../etc/passwd' } }]);
  attachments
    .given([])
    .when(request({ uploaderId: eve }))
    .thenFails(t, 'not_a_member');
  attachments
    .given([])
    .when(request({ contentType: 'text/html' }))
    .thenFails(t, 'attachment_type_not_allowed');
  attachments
    .given([])
    .when(request({ contentType: 'image/svg+xml' }))
    .thenFails(t, 'attachment_type_not_allowed');
  attachments
    .given([])
    .when(request({ size: schema.attachmentLimits['image/png'] + 1 }))
    .thenFails(t, 'attachment_too_large');
  attachments
    .given([])
    .when(request({ contentType: 'application/pdf', size: 20 * 1024 * 1024 }))
    .then(t, [
      { ...requested, data: { ...requested.data, contentType: 'application/pdf', size: 20 * 1024 * 1024 } },
    ]);
  // A retried request is answered again; once the file is in, it takes no second upload.
  attachments.given([requested]).when(request()).then(t, []);
  attachments.given([requested, stored]).when(request()).thenFails(t, 'attachment_already_stored');
});

test('completing checks what the storage holds: there, the declared size, the declared type by its bytes', (t) => {
  attachments
    .given([requested])
    .when(complete({ size: 1000, sniffed: 'image/png' }))
    .then(t, [stored]);
  attachments.given([requested]).when(complete(null)).thenFails(t, 'attachment_not_uploaded');
  attachments
    .given([requested])
    .when(complete({ size: 999, sniffed: 'image/png' }))
    .thenFails(t, 'attachment_size_mismatch');
  attachments
    .given([requested])
    .when(complete({ size: 1000, sniffed: 'application/pdf' }))
    .thenFails(t, 'attachment_type_mismatch');
  attachments
    .given([requested])
    .when(complete({ size: 1000, sniffed: null }))
    .thenFails(t, 'attachment_type_mismatch');
  attachments
    .given([requested])
    .when(complete({ size: 11 * 1024 * 1024, sniffed: 'image/png' }))
    .thenFails(t, 'attachment_too_large');
  attachments
    .given([requested])
    .when(complete({ size: 1000, sniffed: 'image/png' }, ben))
    .thenFails(t, 'attachment_not_found');
  attachments
    .given([])
    .when(complete({ size: 1000, sniffed: 'image/png' }))
    .thenFails(t, 'attachment_not_found');
  attachments
    .given([requested])
    .when({ ...complete({ size: 1000, sniffed: 'image/png' }), roomId: other })
    .thenFails(t, 'attachment_not_found');
  attachments.given([requested, stored]).when(complete(null)).then(t, []);
});

test('a stored attachment of the sender, in the room, links to one message for good', (t) => {
  attachments.given([requested, stored]).when(link()).then(t, [linked]);
  attachments.given([requested, stored, linked]).when(link()).then(t, []);
  attachments
    .given([requested, stored, linked])
    .when(link({ messageEventId: ann }))
    .thenFails(t, 'attachment_already_linked');
  attachments.given([requested]).when(link()).thenFails(t, 'attachment_not_stored');
  attachments
    .given([requested, stored])
    .when(link({ by: ben }))
    .thenFails(t, 'unknown_attachment');
  attachments
    .given([requested, stored])
    .when(link({ roomId: other }))
    .thenFails(t, 'unknown_attachment');
  attachments.given([]).when(link()).thenFails(t, 'unknown_attachment');
});

test('an attachment no message took within the bound expires, once; then it is neither completed nor sent', (t) => {
  const day = schema.ATTACHMENT_UNLINKED_TTL_MS;
  const after = (ms: number) => new Date(Date.parse(at) + ms).toISOString();
  const expire = (ms: number) =>
    ({ type: 'ExpireAttachment', requestedBy: after(ms - day), at: after(ms) }) as const;
  const expired: schema.AttachmentStreamEvent = {
    type: 'chat.AttachmentExpired',
    data: { attachmentId: id, roomId: room, expiredAt: after(day) },
  };
  // Requested and never uploaded, or uploaded and never sent: due at the bound, not a millisecond before.
  attachments
    .given([requested])
    .when(expire(day - 1))
    .then(t, []);
  attachments.given([requested]).when(expire(day)).then(t, [expired]);
  attachments.given([requested, stored]).when(expire(day)).then(t, [expired]);
  // Sent, already expired, or unknown: nothing to do.
  attachments
    .given([requested, stored, linked])
    .when(expire(10 * day))
    .then(t, []);
  attachments
    .given([requested, expired])
    .when(expire(2 * day))
    .then(t, []);
  attachments.given([]).when(expire(day)).then(t, []);
  // An expired one is refused as such whatever is tried with it; the refusal says when.
  for (const cmd of [request(), complete({ size: 1000, sniffed: 'image/png' }), link()])
    attachments.given([requested, expired]).when(cmd).thenFails(t, 'attachment_expired');
  attachments.given([requested, stored, expired]).when(link()).thenFails(t, 'attachment_expired');
  // Still only its uploader learns it exists.
  attachments
    .given([requested, expired])
    .when(complete({ size: 1000, sniffed: 'image/png' }, ben))
    .thenFails(t, 'attachment_not_found');
});

test('a message has text or attachments; with attachments it is v2, without it stays v1', (t) => {
  const ref = { attachmentId: id, contentType: 'image/png', size: 1000, fileName: 'a.png' } as const;
  const base = { messageId: message, senderId: ann, blockedByPeer: false, textRefused: null };
  t.is(decideSend(open, { ...base, body: 'hi' }).schemaVersion, undefined);
  const withFile = decideSend(open, { ...base, body: '', attachments: [ref] });
  t.is(withFile.schemaVersion, 2);
  t.deepEqual(withFile.data, {
    roomId: room,
    messageId: message,
    senderId: ann,
    body: '',
    attachments: [ref],
  });
  const error = t.throws(() => decideSend(open, { ...base, body: '' }));
  t.is((error as { code?: string }).code, 'validation_failed');
});
