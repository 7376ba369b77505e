import test from 'ava';
import type { DomainEvent, EventCatalogue, RecordedEvent } from '@lectern/schemas';
import { object, integer, string } from '@lectern/schemas';
import type { Decider } from './decider.ts';
import {
  aggregateStream,
  categoryOf,
  foldStream,
  recordStream,
  redact,
  REDACTED,
  UnknownStreamEvent,
} from './stream-kinds.ts';

type Note = Readonly<{ status: 'none' }> | Readonly<{ status: 'written'; text: string; words: number }>;
type NoteEvent = DomainEvent<'note.Written', { text: string; words: number }>;
const noteDecider: Pick<Decider<Note, never, NoteEvent>, 'initialState' | 'evolve'> = {
  initialState: () => ({ status: 'none' }),
  evolve: (_s, e) => ({ status: 'written', text: e.data.text, words: e.data.words }),
};
// Version 1 had no word count; its upcaster counts them.
const catalogue: EventCatalogue = {
  'note.Written': [
    {
      version: 1,
      validate: object({ text: string() }),
      upcast: (d) => ({ ...(d as { text: string }), words: (d as { text: string }).text.split(' ').length }),
    },
    { version: 2, validate: object({ text: string(), words: integer({ min: 0 }) }) },
  ],
  'note.Other': [{ version: 1, validate: object({}) }],
};
const notes = aggregateStream({
  category: 'note',
  description: 'a note',
  decider: noteDecider,
  catalogue,
  types: { 'note.Written': true },
  redact: ['secretHash'],
});

const recorded = (revision: number, type: string, schemaVersion: number, data: unknown): RecordedEvent => ({
  id: `e${revision}`,
  type,
  schemaVersion,
  occurredAt: '2026-01-01T00:00:00.000Z',
  data,
  metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
  streamId: 'note-1',
  revision,
  position: revision + 10,
});

test('a stream folds by its decider, each event upcast to its newest version first', (t) => {
  const state = foldStream(notes, [
    recorded(0, 'note.Written', 2, { text: 'one', words: 1 }),
    recorded(1, 'note.Written', 1, { text: 'three small words' }),
  ]);
  t.deepEqual(state, { status: 'written', text: 'three small words', words: 3 });
  t.deepEqual(foldStream(notes, []), { status: 'none' });
});

test('an event type the decider does not know is an error that names it, not a skip', (t) => {
  const error = t.throws(() => foldStream(notes, [recorded(0, 'note.Other', 1, {})]), {
    instanceOf: UnknownStreamEvent,
  });
  t.is(error?.eventType, 'note.Other');
  t.is(error?.revision, 0);
  t.regex(error!.message, /note-1 holds note\.Other v1 at revision 0/);
  // A version the catalogue does not have is refused the same way.
  t.throws(() => foldStream(notes, [recorded(0, 'note.Written', 7, { text: 'x' })]), {
    instanceOf: UnknownStreamEvent,
    message: /no version 7/,
  });
});

test('a record stream has no decider to fold', (t) => {
  const log = recordStream<NoteEvent>({
    category: 'log',
    description: 'a log',
    catalogue,
    types: { 'note.Written': true },
  });
  t.is(log.decider, null);
  t.throws(() => foldStream(log, []), { message: /log streams have no decider/ });
});

test('redact hides the declared keys at any depth, and shows sets and maps as JSON can', (t) => {
  const state = {
    status: 'active',
    secretHash: 'scrypt$abc',
    nested: [{ secretHash: 'x', keep: 1 }],
    members: new Set(['a', 'b']),
    byId: new Map([['k', { secretHash: 'y' }]]),
  };
  t.deepEqual(redact(state, notes.redact), {
    status: 'active',
    secretHash: REDACTED,
    nested: [{ secretHash: REDACTED, keep: 1 }],
    members: ['a', 'b'],
    byId: { k: { secretHash: REDACTED } },
  });
  t.notRegex(JSON.stringify(redact(state, notes.redact)), /scrypt/);
});

test('the category is the stream id up to its first dash', (t) => {
  t.is(categoryOf('profile-0b9c2a43-8f1e'), 'profile');
  t.is(categoryOf('nodash'), null);
  t.is(categoryOf('-x'), null);
});
