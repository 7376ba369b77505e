/**
 * The event envelope shared by every context (ARCHITECTURE.md §4).
 *
 * Events are immutable facts; every field is read-only. `position` and
 * `revision` are assigned by the event store when the event is appended.
 */

/** Who caused a change: the authenticated user and their roles, or a system actor. */
export type Actor = Readonly<{ userId: string | null; roles: readonly string[] }>;

export type EventMetadata = Readonly<{
  /** Shared by every message caused, directly or not, by one request. */
  correlationId: string;
  /** Id of the command or event that caused this event. */
  causationId: string | null;
  actor: Actor | null;
  requestId: string | null;
  /** W3C trace context of the request that produced the event. */
  traceparent: string | null;
}>;

/** The keys of `EventMetadata`, every one: what a reader may name when it needs only some. */
export type MetadataKey = keyof EventMetadata;
export const METADATA_KEYS = [
  'correlationId',
  'causationId',
  'actor',
  'requestId',
  'traceparent',
] as const satisfies readonly MetadataKey[];
// Every key listed: adding one to EventMetadata and not here fails to compile.
const everyKeyListed: Record<Exclude<MetadataKey, (typeof METADATA_KEYS)[number]>, never> = {};
void everyKeyListed;

/** An event as a command handler produces it, before the store assigns its place. */
export type NewEvent<Type extends string = string, Data = unknown> = Readonly<{
  id: string;
  type: Type;
  schemaVersion: number;
  occurredAt: string;
  data: Data;
  metadata: EventMetadata;
}>;

/** An event as read back from the store. */
export type RecordedEvent<Type extends string = string, Data = unknown> = NewEvent<Type, Data> &
  Readonly<{
    streamId: string;
    /** 0-based index of the event within its stream. */
    revision: number;
    /** Global position assigned by the store; increases along every stream. */
    position: number;
  }>;

/**
 * An event as a decider states it: its type and data (and a schema version
 * when it is not the newest). The command handler adds the rest of the
 * envelope. A context's events are a union of these keyed by `type`, so
 * checking `type` narrows `data`.
 *
 * @example
 *   type NoteEvent = DomainEvent<'note.Written', { text: string }> | DomainEvent<'note.Erased', { at: string }>;
 *   const text = (e: NoteEvent) => (e.type === 'note.Written' ? e.data.text : '');
 */
export type DomainEvent<Type extends string = string, Data = unknown> = Readonly<{
  type: Type;
  schemaVersion?: number;
  data: Data;
}>;

/** Each event of a union as the command handler stamps it, still narrowed by `type`. */
export type NewEventOf<E extends DomainEvent> = NewEvent & E;

/** Each event of a union as read back from the store, still narrowed by `type`. */
export type RecordedEventOf<E extends DomainEvent> = RecordedEvent & E;

/** The context a stream or event type belongs to: the prefix before the dot. */
export const contextOf = (eventType: string): string => {
  const dot = eventType.indexOf('.');
  if (dot <= 0) throw new Error(`event type '${eventType}' has no context prefix`);
  return eventType.slice(0, dot);
};

/**
 * The topic carrying a context's events. The namespace is `lectern` in a
 * deployment; tests and benchmarks sharing one broker each take their own.
 */
export const topicOf = (context: string, namespace = 'lectern'): string => `${namespace}.${context}.events`;
