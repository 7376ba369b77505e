import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { DomainEvent } from '@lectern/schemas';
import { sqlEventStore } from '../event-store/sql-store.ts';
import { pgliteSql } from '../sql/pglite.ts';
import { handleCommand } from './command-handler.ts';
import type { Decider } from './decider.ts';
import { Problem } from './errors.ts';

type Note = Readonly<{ type: 'Write'; text: string }>;
type NoteWritten = DomainEvent<'test.NoteWritten', Readonly<{ text: string }>>;
/** Always writes what it is told: a second run of a command id decides whatever its command says. */
const notes: Decider<number, Note, NoteWritten> = {
  initialState: () => 0,
  evolve: (n) => n + 1,
  decide: (cmd) => [{ type: 'test.NoteWritten', data: { text: cmd.text } }],
};
const metadata = { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null };

const opened = (async () => {
  const sql = await pgliteSql(null);
  return { sql, store: await sqlEventStore(sql) };
})();
test.after.always(async () => {
  const { sql, store } = await opened;
  await store.close();
  await sql.close();
});

const run = async (streamId: string, commandId: string, text: string) =>
  handleCommand({
    store: (await opened).store,
    streamId,
    decider: notes,
    command: { type: 'Write', text },
    commandId,
    occurredAt: new Date().toISOString(),
    metadata,
  });

test('a command id that meets its own events with other content is a 409, and nothing is overwritten', async (t) => {
  const streamId = `note-${randomUUID()}`;
  const commandId = randomUUID();
  await run(streamId, commandId, 'first');
  const error = await t.throwsAsync(run(streamId, commandId, 'second'), { instanceOf: Problem });
  t.is(error?.kind, 'conflict');
  t.is(error?.code, 'event_id_conflict');
  const stored = await (await opened).store.readStream(streamId);
  t.deepEqual(
    stored.map((e) => e.data),
    [{ text: 'first' }],
  );
});

test('a command id that meets its own events with the same content is the same append', async (t) => {
  const streamId = `note-${randomUUID()}`;
  const commandId = randomUUID();
  const first = await run(streamId, commandId, 'same');
  const again = await run(streamId, commandId, 'same');
  t.is(again.position, first.position);
  t.is((await (await opened).store.readStream(streamId)).length, 1);
});
