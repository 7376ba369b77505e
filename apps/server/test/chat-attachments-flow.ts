import { randomUUID } from 'node:crypto';
import type { TestFn } from 'ava';
import { testClient, type TestClient } from '@lectern/realtime/testing/client';
import { attachmentExpirySweep } from '@lectern/chat-attachments-worker';
import { expireAttachment } from '@lectern/chat-commands';
import { unsentBefore } from '@lectern/chat-projection-attachments';
import { chat as schema } from '@lectern/schemas';
import { BlobError } from '@lectern/infra/ports/blob-store';
import { waitUntil } from '@lectern/infra/testing/wait';
import { jsonClient, problem, type Reply } from './http-client.ts';
import { sharedLectern, type ProfileSetup } from './testing.ts';

/** A real 1×1 PNG. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

/**
 * Chat attachments over HTTP, end to end, on one profile: request, upload
 * with the presigned PUT straight to the storage, complete, send with it,
 * read it back through history's presigned GET; and what is refused.
 */
export const chatAttachmentsFlow = (test: TestFn, name: string, setup: ProfileSetup) => {
  const lectern = sharedLectern(test, setup);
  const call = jsonClient(async () => (await lectern()).url);
  const user = async () => {
    const id = randomUUID();
    return { id, token: (await (await lectern()).signAccessToken({ sub: id, roles: ['learner'] })).token };
  };
  const after = (reply: Reply) => ({ 'x-consistency-token': reply.headers.get('x-consistency-token')! });
  const directRoom = async (a: { token: string }, b: { id: string }) =>
    (await call('POST', '/api/chat/direct', { token: a.token, body: { userId: b.id } })).body!
      .roomId as string;
  const request = (token: string, roomId: string, body: unknown) =>
    call('POST', `/api/chat/rooms/${roomId}/attachments`, { token, body });
  const complete = (token: string, roomId: string, attachmentId: string) =>
    call('POST', `/api/chat/rooms/${roomId}/attachments/${attachmentId}/complete`, { token });
  const put = async (reply: Reply, bytes: Buffer) => {
    const u = reply.body!.upload as { method: string; url: string; headers: Record<string, string> };
    const r = await fetch(u.url, { method: u.method, headers: u.headers, body: bytes });
    if (!r.ok) throw new Error(`PUT: ${r.status} ${await r.text()}`);
  };
  const send = (token: string, roomId: string, body: string, attachments?: string[]) =>
    call('POST', `/api/chat/rooms/${roomId}/messages`, {
      token,
      body: { clientMessageId: randomUUID(), body, ...(attachments ? { attachments } : {}) },
    });
  /** Requests, uploads and completes a PNG: its id. */
  const uploaded = async (token: string, roomId: string, bytes = PNG): Promise<string> => {
    const asked = await request(token, roomId, {
      contentType: 'image/png',
      size: bytes.length,
      fileName: 'dot.png',
    });
    if (asked.status !== 201) throw new Error(`request: ${asked.status} ${JSON.stringify(asked.body)}`);
    await put(asked, bytes);
    const done = await complete(token, roomId, asked.body!.attachmentId);
    if (done.status !== 200) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`);
    return asked.body!.attachmentId as string;
  };

  test.serial(
    `${name}: a PNG goes up by presigned PUT, rides a message, and comes back by presigned GET`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = await directRoom(ada, bob);
      const asked = await request(ada.token, roomId, {
        contentType: 'image/png',
        size: PNG.length,
        fileName: '..passwd (1).png',
      });
      t.is(asked.status, 201, JSON.stringify(asked.body));
      const attachmentId = asked.body!.attachmentId as string;
      t.false((asked.body!.upload.url as string).includes('passwd'), 'the key is ours, never the file name');
      t.true((asked.body!.upload.url as string).includes(`chat/${roomId}/${attachmentId}`));
      problem(t, await complete(ada.token, roomId, attachmentId), 409, 'attachment_not_uploaded');
      await put(asked, PNG);
      const done = await complete(ada.token, roomId, attachmentId);
      t.is(done.status, 200, JSON.stringify(done.body));
      t.like(done.body, { attachmentId, status: 'stored', contentType: 'image/png', size: PNG.length });
      t.is((await complete(ada.token, roomId, attachmentId)).status, 200, 'completing again changes nothing');

      const sent = await send(ada.token, roomId, '', [attachmentId]);
      t.is(sent.status, 201, JSON.stringify(sent.body));
      const read = await call('GET', `/api/chat/rooms/${roomId}/messages`, {
        token: bob.token,
        headers: after(sent),
      });
      t.is(read.status, 200);
      const [message] = read.body!.items as Record<string, any>[];
      t.is(message!.body, '');
      const [file] = message!.attachments as Record<string, any>[];
      t.like(file, {
        attachmentId,
        contentType: 'image/png',
        size: PNG.length,
        fileName: '..passwd (1).png',
      });
      const got = await fetch(file!.url as string);
      t.is(got.status, 200);
      t.deepEqual(Buffer.from(await got.arrayBuffer()), PNG);

      // The same attachment on a second message is refused; so is a message with nothing in it.
      problem(t, await send(ada.token, roomId, 'again', [attachmentId]), 409, 'attachment_already_linked');
      problem(t, await send(ada.token, roomId, ''), 400, 'validation_failed');

      // Removed: the message shows no file any more, and the object is gone.
      const removed = await call('DELETE', `/api/chat/rooms/${roomId}/messages/${sent.body!.seq}`, {
        token: ada.token,
      });
      t.is(removed.status, 200, JSON.stringify(removed.body));
      const later = await call('GET', `/api/chat/rooms/${roomId}/messages`, {
        token: bob.token,
        headers: after(removed),
      });
      t.deepEqual(later.body!.items[0].attachments, []);
      t.is((await fetch(file!.url as string)).status, 404);
    },
  );

  /** A socket of `who`, subscribed to the room once the rooms read model has `opened` (its answer). */
  const subscribed = async (who: { token: string }, roomId: string, opened: Reply): Promise<TestClient> => {
    const c = await testClient(`${(await lectern()).url.replace(/^http/, 'ws')}/ws`);
    c.send({ type: 'auth', token: who.token });
    await c.next('welcome', (f) => f.type === 'welcome');
    c.send({
      type: 'consistency',
      ref: 'rooms',
      readModel: 'chat_rooms',
      stream: `chatroom-${roomId}`,
      token: opened.headers.get('x-consistency-token'),
    });
    const caughtUp = await c.next('the rooms read model', (f) => f.ref === 'rooms');
    if ((caughtUp.data as { caughtUp?: boolean } | undefined)?.caughtUp !== true)
      throw new Error(`the rooms read model did not catch up: ${JSON.stringify(caughtUp)}`);
    c.send({ type: 'subscribe', ref: 'room', channel: `room:${roomId}` });
    const answer = await c.next('subscribed', (f) => f.ref === 'room');
    if (answer.type !== 'subscribed') throw new Error(`subscribe: ${JSON.stringify(answer)}`);
    return c;
  };

  test.serial(
    `${name}: a live message's attachments come with a presigned GET, the same for every subscriber`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const opened = await call('POST', '/api/chat/direct', { token: ada.token, body: { userId: bob.id } });
      const roomId = opened.body!.roomId as string;
      const [a, b] = [await subscribed(ada, roomId, opened), await subscribed(bob, roomId, opened)];
      try {
        const attachmentId = await uploaded(ada.token, roomId);
        const sent = await send(ada.token, roomId, 'live', [attachmentId]);
        t.is(sent.status, 201, JSON.stringify(sent.body));
        type File = { attachmentId: string; url?: string; urlExpiresAt?: string };
        const files: File[] = [];
        for (const c of [a, b]) {
          const item = await c.next(
            'the message, live',
            (f) => f.type === 'item' && f.channel === `room:${roomId}` && f.seq === sent.body!.seq,
          );
          const message = (item.data as { message: { body: string; attachments: File[] } }).message;
          t.is(message.body, 'live');
          t.is(message.attachments.length, 1);
          files.push(message.attachments[0]!);
        }
        const [mine, theirs] = files;
        t.like(mine, { attachmentId, contentType: 'image/png', size: PNG.length, fileName: 'dot.png' });
        t.is(typeof mine!.url, 'string', 'a live item carries the URL, as history does');
        t.true(Date.parse(mine!.urlExpiresAt!) > Date.now(), 'not expired');
        t.is(theirs!.url, mine!.url, 'signed once for the event, the same for every subscriber');
        const got = await fetch(mine!.url!);
        t.is(got.status, 200);
        t.deepEqual(Buffer.from(await got.arrayBuffer()), PNG);
      } finally {
        a.close();
        b.close();
      }
    },
  );

  test.serial(`${name}: a lying file, someone else's attachment and a stranger are refused`, async (t) => {
    const [ada, bob, eve] = [await user(), await user(), await user()];
    const roomId = await directRoom(ada, bob);
    const otherRoom = await directRoom(ada, eve);

    problem(t, await request(eve.token, roomId, { contentType: 'image/png', size: 10 }), 403, 'not_a_member');
    // A type chat does not take is outside the request's schema: 400 with a pointer to it.
    const html = await request(ada.token, roomId, { contentType: 'text/html', size: 10 });
    problem(t, html, 400, 'validation_failed');
    t.is((html.body?.errors as { path: string }[] | undefined)?.[0]?.path, '/contentType');
    problem(
      t,
      await request(ada.token, roomId, { contentType: 'image/png', size: 10 * 1024 * 1024 + 1 }),
      413,
      'attachment_too_large',
    );
    problem(
      t,
      await request(ada.token, roomId, { contentType: 'image/png', size: 2 ** 40 }),
      413,
      'attachment_too_large',
    );
    problem(
      t,
      await request(ada.token, roomId, { contentType: 'image/png', size: 10, fileName: '../../etc/passwd' }),
      400,
      'validation_failed',
    );
    problem(
      t,
      await request(ada.token, roomId, { contentType: 'image/png', size: 10, fileName: '..\\boot.ini' }),
      400,
      'validation_failed',
    );

    // A "PNG" that is HTML: refused at completion, and the object deleted.
    const lie = Buffer.from('<html><script>alert(1)</script></html>');
    const asked = await request(ada.token, roomId, { contentType: 'image/png', size: lie.length });
    await put(asked, lie);
    const refused = await complete(ada.token, roomId, asked.body!.attachmentId);
    problem(t, refused, 400, 'attachment_type_mismatch');
    t.like(refused.body, { declared: 'image/png', found: null });
    problem(t, await complete(ada.token, roomId, asked.body!.attachmentId), 409, 'attachment_not_uploaded');

    // Someone else's attachment, another room's, one not completed, one unknown.
    const adas = await uploaded(ada.token, roomId);
    problem(t, await complete(bob.token, roomId, adas), 404, 'attachment_not_found');
    problem(t, await send(bob.token, roomId, 'mine now', [adas]), 400, 'unknown_attachment');
    const elsewhere = await uploaded(ada.token, otherRoom);
    problem(t, await send(ada.token, roomId, 'wrong room', [elsewhere]), 400, 'unknown_attachment');
    problem(t, await send(ada.token, roomId, 'made up', [randomUUID()]), 400, 'unknown_attachment');
    const pending = await request(ada.token, roomId, { contentType: 'image/png', size: PNG.length });
    problem(
      t,
      await send(ada.token, roomId, 'early', [pending.body!.attachmentId]),
      409,
      'attachment_not_stored',
    );
    problem(t, await send(ada.token, roomId, 'twice', [adas, adas]), 400, 'validation_failed');
    problem(t, await send(eve.token, roomId, 'hi', [adas]), 403, 'not_a_member');
    // None of the refusals took it: Ada can still send it.
    t.is((await send(ada.token, roomId, 'here', [adas])).status, 201);
  });

  test.serial(
    `${name}: an attachment not sent within a day expires once, however many sweep; its file goes, a sent one stays`,
    async (t) => {
      const [ada, bob] = [await user(), await user()];
      const roomId = await directRoom(ada, bob);
      const l = await lectern();
      const neverUploaded = await request(ada.token, roomId, { contentType: 'image/png', size: PNG.length });
      const neverSentId = await uploaded(ada.token, roomId);
      const sentId = await uploaded(ada.token, roomId);
      const sent = await send(ada.token, roomId, '', [sentId]);
      t.is(sent.status, 201);
      const neverUploadedId = neverUploaded.body!.attachmentId as string;
      const mine = [neverUploadedId, neverSentId];

      // The sweep works from the read model: wait (bounded) until it lists both, and no longer the sent one.
      const later = Date.now() + schema.ATTACHMENT_UNLINKED_TTL_MS + 60_000;
      const listed = async () =>
        (await unsentBefore(l.sql, new Date(later - schema.ATTACHMENT_UNLINKED_TTL_MS), 10_000)).map(
          (r) => r.attachmentId,
        );
      await waitUntil('the unsent attachments listed', async () => {
        const ids = await listed();
        return mine.every((id) => ids.includes(id)) && !ids.includes(sentId);
      });

      // Not due yet: a sweep a moment before the bound expires nothing of ours.
      const sweep = (at: number) =>
        attachmentExpirySweep({
          expiry: {
            unsentBefore: (before, limit, cursor) => unsentBefore(l.sql, before, limit, cursor),
            expire: (id) => expireAttachment({ store: l.store, clock: { now: () => new Date(at) } }, id),
          },
          logger: l.logger,
          now: () => at,
          pageSize: 2,
        });
      const early = Date.now() + schema.ATTACHMENT_UNLINKED_TTL_MS - 60_000;
      await sweep(early).tick();
      const expiredIn = async (id: string) =>
        (await l.store.readStream(schema.attachmentStreamId(id))).filter(
          (e) => e.type === 'chat.AttachmentExpired',
        ).length;
      for (const id of [...mine, sentId]) t.is(await expiredIn(id), 0);

      // Two replicas past the bound, at once, then again: each unsent attachment expired once.
      await Promise.all([sweep(later).tick(), sweep(later).tick()]);
      await sweep(later).tick();
      for (const id of mine) t.is(await expiredIn(id), 1, `${id} expired once`);
      t.is(await expiredIn(sentId), 0, 'a sent attachment never expires');
      const expired = (await l.store.readStream(schema.attachmentStreamId(neverSentId))).at(-1)!;
      const requested = (await l.store.readStream(schema.attachmentStreamId(neverSentId)))[0]!;
      t.is(expired.metadata.correlationId, requested.metadata.correlationId, 'in the upload’s correlation');
      t.is(expired.metadata.causationId, requested.id);

      // The worker deletes the uploaded file; the sent one's file stays.
      const gone = async (id: string) =>
        l.blobs.stat(schema.attachmentKey(roomId, id)).then(
          () => false,
          (error: unknown) => error instanceof BlobError && error.code === 'blob_not_found',
        );
      await waitUntil('the expired file deleted', () => gone(neverSentId));
      t.false(await gone(sentId));

      // Expired is an answer of its own, with when.
      const late = await complete(ada.token, roomId, neverSentId);
      problem(t, late, 409, 'attachment_expired');
      t.like(late.body, { attachmentId: neverSentId, expiredAt: new Date(later).toISOString() });
      problem(t, await complete(ada.token, roomId, neverUploadedId), 409, 'attachment_expired');
      problem(t, await send(ada.token, roomId, 'late', [neverSentId]), 409, 'attachment_expired');
      problem(t, await complete(bob.token, roomId, neverSentId), 404, 'attachment_not_found');
      await waitUntil('the read model forgets them', async () =>
        (await listed()).every((id) => !mine.includes(id)),
      );
    },
  );
};
