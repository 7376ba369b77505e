import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { chat as schema, type EventMetadata } from '@lectern/schemas';
import { sqlEventStore } from '@lectern/infra/event-store/sql-store';
import { openFolderStore } from '@lectern/infra/blobs/folder-store';
import { sqlRateLimiter } from '@lectern/infra/rate-limit/sql-limiter';
import { Problem } from '@lectern/infra/runtime/errors';
import { pgliteSql } from '@lectern/infra/sql/pglite';
import { obscenityFilter } from './profanity.ts';
import { chatCommands, directRoomId, type ChatCaller } from './commands.ts';

/**
 * The message write path on a real store (PGlite) with a clock the test
 * moves: seqs, retries and the flood limit, without waiting on time.
 */
const setup = async () => {
  const sql = await pgliteSql(null);
  const store = await sqlEventStore(sql);
  let now = Date.parse('2026-03-01T10:00:00.000Z');
  const clock = { now: () => new Date(now) };
  const commands = chatCommands({
    store,
    verify: () => Promise.reject(new Error('not used')),
    clock,
    limiter: await sqlRateLimiter(sql),
    isRedacted: () => Promise.resolve(false),
    profanityFilter: obscenityFilter(),
    blobs: (
      await openFolderStore({
        root: await mkdtemp(join(tmpdir(), 'chat-commands-')),
        signingKey: 'k'.repeat(32),
        baseUrl: 'http://localhost/blobs',
      })
    ).store,
  });
  const caller = (userId: string, roles: readonly string[] = ['learner']): ChatCaller => ({
    userId,
    roles,
    commandId: randomUUID(),
    metadata: {
      correlationId: randomUUID(),
      causationId: null,
      actor: { userId, roles: ['learner'] },
      requestId: null,
      traceparent: null,
    } satisfies EventMetadata,
  });
  const [ada, bob] = [randomUUID(), randomUUID()];
  const roomId = directRoomId(ada, bob);
  await store.append(
    schema.roomStreamId(roomId),
    [
      {
        id: randomUUID(),
        type: 'chat.RoomCreated',
        schemaVersion: 1,
        data: {
          roomId,
          kind: 'direct',
          name: null,
          createdBy: ada,
          members: [ada, bob].sort(),
          createdAt: clock.now().toISOString(),
        },
        occurredAt: clock.now().toISOString(),
        metadata: caller(ada).metadata,
      },
    ],
    { expectedRevision: 'no_stream' },
  );
  return { sql, store, commands, caller, ada, bob, roomId, advance: (ms: number) => (now += ms) };
};

test('20 messages per 10 s per user: the 21st is refused with Retry-After, and allowed once the window moves', async (t) => {
  const { sql, commands, caller, ada, bob, roomId, advance } = await setup();
  const seqs = [];
  for (let i = 0; i < 20; i++)
    seqs.push((await commands.send(caller(ada), roomId, `m${i}`, randomUUID())).seq);
  t.deepEqual(seqs, [...Array(20).keys()], 'seqs are contiguous from 0');
  const refused = await t.throwsAsync(commands.send(caller(ada), roomId, 'one too many', randomUUID()), {
    instanceOf: Problem,
  });
  t.is(refused?.code, 'rate_limited');
  t.true((refused?.retryAfterSeconds ?? 0) >= 1 && (refused?.retryAfterSeconds ?? 0) <= 10);
  t.is(
    (await commands.send(caller(bob), roomId, 'another user', randomUUID())).seq,
    20,
    'the limit is per user',
  );
  advance(9_000);
  await t.throwsAsync(commands.send(caller(ada), roomId, 'still too soon', randomUUID()), {
    instanceOf: Problem,
  });
  advance(1_001);
  t.is((await commands.send(caller(ada), roomId, 'later', randomUUID())).seq, 21);
  await sql.close();
});

test('a retried send is the same message at the same seq; its id cannot be reused for other text', async (t) => {
  const { sql, store, commands, caller, ada, bob, roomId } = await setup();
  const id = randomUUID();
  const first = await commands.send(caller(ada), roomId, 'hello', id);
  await commands.send(caller(bob), roomId, 'between', randomUUID());
  const again = await commands.send(caller(ada), roomId, 'hello', id);
  t.is(again.seq, first.seq);
  t.is(again.cursor, first.cursor);
  // Bob using Ada's message id makes his own message, not a collision with hers.
  t.is((await commands.send(caller(bob), roomId, 'hello', id)).seq, 2);
  const conflict = await t.throwsAsync(commands.send(caller(ada), roomId, 'changed', id), {
    instanceOf: Problem,
  });
  t.is(conflict?.code, 'event_id_conflict');
  t.is((await store.readStream(schema.messagesStreamId(roomId))).length, 3);
  await sql.close();
});

test('edits and removals take the next seqs of the room, and name the message they change', async (t) => {
  const { sql, store, commands, caller, ada, roomId } = await setup();
  await commands.send(caller(ada), roomId, 'first', randomUUID());
  t.is((await commands.edit(caller(ada), roomId, 0, 'first, edited')).seq, 1);
  await t.throwsAsync(commands.edit(caller(ada), roomId, 1, 'an edit is not a message'), {
    instanceOf: Problem,
    message: /No message/,
  });
  t.is((await commands.redact(caller(ada), roomId, 0, null)).seq, 2);
  const events = await store.readStream(schema.messagesStreamId(roomId));
  t.deepEqual(
    events.map((e) => [e.revision, e.type, (e.data as { seq?: number }).seq]),
    [
      [0, 'chat.MessageSent', undefined],
      [1, 'chat.MessageEdited', 0],
      [2, 'chat.MessageRedacted', 0],
    ],
  );
  t.false(JSON.stringify(events[2]!.data).includes('first'), 'a removal carries no text');
  await sql.close();
});

test('slow mode: one message per window per member, Retry-After to the turn; a retry is the first message', async (t) => {
  const { sql, store, commands, caller, ada, bob, advance } = await setup();
  const roomId = randomUUID();
  const eve = randomUUID();
  const at = '2026-03-01T10:00:00.000Z';
  const room = ({ type, data }: schema.RoomStreamEvent) => ({
    id: randomUUID(),
    type,
    schemaVersion: 1,
    data,
    occurredAt: at,
    metadata: caller(ada).metadata,
  });
  await store.append(
    schema.roomStreamId(roomId),
    [
      room({
        type: 'chat.RoomCreated',
        data: {
          roomId,
          kind: 'group',
          name: 'Slow',
          createdBy: ada,
          members: [ada, bob, eve],
          createdAt: at,
        },
      }),
      room({
        type: 'chat.SlowModeSet',
        data: { roomId, seconds: 30, setBy: ada, byAdmin: false, setAt: at },
      }),
    ],
    { expectedRevision: 'no_stream' },
  );
  const first = randomUUID();
  t.is((await commands.send(caller(bob), roomId, 'first', first)).seq, 0);
  advance(10_000);
  const refused = await t.throwsAsync(commands.send(caller(bob), roomId, 'second', randomUUID()), {
    instanceOf: Problem,
  });
  t.is(refused?.code, 'slow_mode');
  t.is(refused?.retryAfterSeconds, 20);
  // Its answer lost, the first is sent again: answered as it was, not refused, not stored twice.
  t.is((await commands.send(caller(bob), roomId, 'first', first)).seq, 0);
  // The owner and an admin are not slowed.
  t.is((await commands.send(caller(ada), roomId, 'owner', randomUUID())).seq, 1);
  t.is((await commands.send(caller(ada), roomId, 'owner again', randomUUID())).seq, 2);
  const admin = caller(eve, ['admin']);
  t.is((await commands.send(admin, roomId, 'admin', randomUUID())).seq, 3);
  t.is((await commands.send(admin, roomId, 'admin again', randomUUID())).seq, 4);
  advance(19_999);
  await t.throwsAsync(commands.send(caller(bob), roomId, 'still too soon', randomUUID()), {
    instanceOf: Problem,
  });
  advance(1);
  t.is((await commands.send(caller(bob), roomId, 'my turn', randomUUID())).seq, 5);
  t.is((await store.readStream(schema.messagesStreamId(roomId))).length, 6);
  await sql.close();
});
