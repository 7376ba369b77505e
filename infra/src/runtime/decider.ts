import type { DomainEvent, RecordedEvent, RecordedEventOf } from '@lectern/schemas';

/**
 * One aggregate's pure logic (STYLE.md §2), typed by its own unions: the
 * state's lifecycle, the commands it takes and the events of its stream
 * (from `schemas`). `handleCommand` folds the stream with `evolve`, asks
 * `decide`, and appends what it returns.
 *
 * `evolve` takes the events `decide` returns, and the same events as read
 * back: it reads only `type` and `data`.
 *
 * @example
 *   type Note = Readonly<{ status: 'none' }> | Readonly<{ status: 'written'; text: string }>;
 *   type NoteCommand = Readonly<{ type: 'Write'; text: string }>;
 *   type NoteEvent = DomainEvent<'note.Written', { text: string }>;
 *   const noteDecider: Decider<Note, NoteCommand, NoteEvent> = {
 *     initialState: () => ({ status: 'none' }),
 *     decide: (cmd, s) => (s.status === 'none' ? [{ type: 'note.Written', data: { text: cmd.text } }] : []),
 *     evolve: (_s, e) => ({ status: 'written', text: e.data.text }),
 *   };
 */
export type Decider<State, Command, Event extends DomainEvent> = Readonly<{
  initialState: () => State;
  decide: (command: Command, state: State) => readonly Event[];
  evolve: (state: State, event: Event) => State;
}>;

/**
 * Folds a stream's events into a decider's state.
 *
 * The store hands back untyped events; this is the one place they are taken
 * for the decider's own. That holds because a stream holds what its decider
 * decided, each event checked against the context's catalogue when it was
 * appended. A type the decider does not know (written by a newer version)
 * reaches `evolve`, which leaves the state as it is.
 *
 * @example
 *   const user = fold(userDecider, await store.readStream(userStreamId(id)));
 */
export const fold = <State, Event extends DomainEvent>(
  decider: Pick<Decider<State, never, Event>, 'initialState' | 'evolve'>,
  events: readonly RecordedEvent[],
  from: State = decider.initialState(),
): State => (events as readonly RecordedEventOf<Event>[]).reduce(decider.evolve, from);

/**
 * The `default` of an `evolve` switch over the stream's union. The event is
 * `never` there when every type has its case, so a type added to the union
 * does not compile until `evolve` handles it. At run time a type the union
 * does not know (written by a newer version) leaves the state as it is.
 *
 * @example
 *   default: return unknownEvent(e, s);
 */
export const unknownEvent = <State>(_event: never, state: State): State => state;
