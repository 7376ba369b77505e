import {
  decodeEvent,
  type DomainEvent,
  type EventCatalogue,
  type EventMetadata,
  type NewEventOf,
} from '@lectern/schemas';
import {
  EventIdConflict,
  WrongExpectedRevision,
  type EventStore,
  type ExpectedRevision,
} from '../ports/event-store.ts';
import { fold, type Decider } from './decider.ts';
import { Problem } from './errors.ts';
import { deterministicUuid } from './ids.ts';

export type CommandOutcome<State, Event extends DomainEvent = DomainEvent> = Readonly<{
  /** What the command appended, narrowed by `type` like the decider's events. */
  events: readonly NewEventOf<Event>[];
  state: State;
  /** Stream revision after the command (the ETag); -1 when the stream is still empty. */
  revision: number;
  /** Global position of the stream's last event (written now or before), or null for an empty stream. */
  position: number | null;
}>;

/**
 * Loads an aggregate, decides, and appends with the revision it read.
 *
 * 1. Read the stream and fold it into state.
 * 2. When the caller named a revision (HTTP `If-Match`), a different one is a 412.
 * 3. Decide; stamp each event with an id derived from the command id, so a
 *    retried command is the same append and the store deduplicates it.
 * 4. Append expecting the revision read. On a concurrent write with no
 *    revision named, start over (a few times, with backoff); with one named,
 *    the caller's view is stale: 412.
 */
export const handleCommand = async <State, Command, Event extends DomainEvent>(opts: {
  store: EventStore;
  streamId: string;
  decider: Decider<State, Command, Event>;
  command: Command;
  commandId: string;
  occurredAt: string;
  metadata: EventMetadata;
  expectedRevision?: number | 'no_stream';
  maxAttempts?: number;
  /** When given, every decided event must validate against it before it is appended. */
  catalogue?: EventCatalogue;
}): Promise<CommandOutcome<State, Event>> => {
  const attempts = opts.maxAttempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    const history = await opts.store.readStream(opts.streamId);
    const state = fold(opts.decider, history);
    const revision = history.length ? history[history.length - 1]!.revision : -1;
    if (opts.expectedRevision !== undefined) {
      const wanted = opts.expectedRevision === 'no_stream' ? -1 : opts.expectedRevision;
      if (wanted !== revision)
        throw new Problem(
          'revision_mismatch',
          'revision_mismatch',
          'The resource changed since you read it.',
          {
            extra: { currentRevision: revision },
          },
        );
    }
    const decided = opts.decider.decide(opts.command, state);
    if (decided.length === 0)
      return {
        events: [],
        state,
        revision,
        position: history.length ? history[history.length - 1]!.position : null,
      };
    if (opts.catalogue)
      for (const d of decided) {
        const checked = decodeEvent(opts.catalogue, d.type, d.schemaVersion ?? 1, d.data);
        // A decider that writes an event its own schema refuses is a bug, not bad input.
        if (!checked.ok)
          throw new Error(`decided ${d.type} fails its schema: ${JSON.stringify(checked.issues)}`);
      }
    const events = decided.map((d, i): NewEventOf<Event> => ({
      ...d,
      id: deterministicUuid(`${opts.commandId}/${opts.streamId}/${i}`),
      schemaVersion: d.schemaVersion ?? 1,
      occurredAt: opts.occurredAt,
      metadata: opts.metadata,
    }));
    const expected: ExpectedRevision = revision === -1 ? 'no_stream' : revision;
    try {
      const result = await opts.store.append(opts.streamId, events, { expectedRevision: expected });
      return {
        events,
        state: events.reduce(opts.decider.evolve, state),
        revision: result.nextExpectedRevision,
        position: result.position,
      };
    } catch (error) {
      // Ids derive from a server-made command id, so this is a request taken
      // over after a crash that decided otherwise the second time: it must not
      // be taken for the first one's success, nor overwrite it.
      if (error instanceof EventIdConflict)
        throw new Problem(
          'conflict',
          'event_id_conflict',
          'This request was already partly applied with another outcome; send it again with a new Idempotency-Key.',
        );
      if (!(error instanceof WrongExpectedRevision)) throw error;
      if (opts.expectedRevision !== undefined)
        throw new Problem(
          'revision_mismatch',
          'revision_mismatch',
          'The resource changed since you read it.',
        );
      if (attempt >= attempts)
        throw new Problem(
          'conflict',
          'concurrent_modification',
          'The resource is being changed concurrently; retry.',
        );
      await new Promise((r) => setTimeout(r, 5 * 2 ** attempt + Math.random() * 10));
    }
  }
};
