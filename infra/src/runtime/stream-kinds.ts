import {
  decodeEvent,
  type CatalogueOf,
  type DomainEvent,
  type EventCatalogue,
  type RecordedEvent,
} from '@lectern/schemas';
import type { Decider } from './decider.ts';

/**
 * One kind of stream a context writes (`user-<id>`, `course-<id>`): what the
 * audit tools (`lectern history`, `related`, `as-of`) need to read and fold
 * it without naming the context. A module lists its kinds; the composition
 * root collects them.
 */
export type StreamKind = Readonly<{
  /** The stream id's prefix before the first `-`: `profile` of `profile-<uuid>`. */
  category: string;
  /** What one stream of it is, for people. */
  description: string;
  /** Every event type the stream holds, with its versions (decoding upcasts to the newest). */
  events: EventCatalogue;
  /**
   * The aggregate's decider, typed away; null for a stream that records
   * facts no decider folds (chat messages, notification decisions).
   */
  decider: Readonly<{
    initialState: () => unknown;
    evolve: (state: unknown, event: RecordedEvent) => unknown;
  }> | null;
  /** Property names whose values no audit view shows (hashes of passwords, tokens, codes), at any depth. */
  redact: readonly string[];
}>;

/** An exhaustive list of a union's event types: the compiler holds it to the union, none missing or extra. */
export type EventTypesOf<E extends DomainEvent> = { readonly [K in E['type']]: true };

const only = (catalogue: EventCatalogue, types: Readonly<Record<string, true>>): EventCatalogue =>
  Object.fromEntries(
    Object.keys(types).map((type) => {
      const versions = catalogue[type];
      if (!versions) throw new Error(`event type ${type} is not in its context's catalogue`);
      return [type, versions];
    }),
  );

/**
 * An aggregate's stream, folded by its own decider.
 *
 * @example
 *   aggregateStream<Profile, ProfileStreamEvent>({
 *     category: 'profile', description: "a user's profile", decider: profileDecider, catalogue: profileEvents,
 *     types: { 'profile.ProfileUpdated': true, 'profile.AvatarChanged': true },
 *   });
 */
export const aggregateStream = <State, E extends DomainEvent>(spec: {
  category: string;
  description: string;
  decider: Pick<Decider<State, never, E>, 'initialState' | 'evolve'>;
  /** The context's catalogue (a superset is fine: `types` picks). */
  catalogue: EventCatalogue | CatalogueOf<E>;
  types: EventTypesOf<E>;
  redact?: readonly string[];
}): StreamKind => ({
  category: spec.category,
  description: spec.description,
  events: only(spec.catalogue, spec.types),
  decider: {
    initialState: spec.decider.initialState,
    // The one place a stored event is taken for the decider's own: `foldStream` has
    // checked its type against `types` and decoded its data to the newest version.
    evolve: (state, event) =>
      spec.decider.evolve(state as State, event as unknown as Parameters<typeof spec.decider.evolve>[1]),
  },
  redact: spec.redact ?? [],
});

/** A stream of recorded facts that no decider folds: its history is all there is. */
export const recordStream = <E extends DomainEvent>(spec: {
  category: string;
  description: string;
  catalogue: EventCatalogue | CatalogueOf<E>;
  types: EventTypesOf<E>;
  redact?: readonly string[];
}): StreamKind => ({
  category: spec.category,
  description: spec.description,
  events: only(spec.catalogue, spec.types),
  decider: null,
  redact: spec.redact ?? [],
});

/** The category of a stream id (`profile` of `profile-<uuid>`), or null when it has none. */
export const categoryOf = (streamId: string): string | null => {
  const dash = streamId.indexOf('-');
  return dash > 0 ? streamId.slice(0, dash) : null;
};

/** A stream holds an event its decider does not know: a newer version wrote it, or a bug did. */
export class UnknownStreamEvent extends Error {
  readonly streamId: string;
  readonly revision: number;
  readonly eventType: string;
  constructor(event: RecordedEvent, reason: string) {
    super(
      `${event.streamId} holds ${event.type} v${event.schemaVersion} at revision ${event.revision}: ${reason}`,
    );
    this.name = 'UnknownStreamEvent';
    this.streamId = event.streamId;
    this.revision = event.revision;
    this.eventType = event.type;
  }
}

/**
 * An event decoded to the newest version of its type (the context's
 * upcasters), or `UnknownStreamEvent` when the kind does not list its type
 * or version.
 */
export const decodeStreamEvent = (kind: StreamKind, event: RecordedEvent): RecordedEvent => {
  if (!Object.hasOwn(kind.events, event.type))
    throw new UnknownStreamEvent(event, `the ${kind.category} stream's events do not include this type`);
  const decoded = decodeEvent(kind.events, event.type, event.schemaVersion, event.data);
  if (!decoded.ok)
    throw new UnknownStreamEvent(
      event,
      decoded.issues.map((i) => `${i.path} ${i.message}`.trim()).join('; '),
    );
  return { ...event, schemaVersion: decoded.value.schemaVersion, data: decoded.value.data };
};

/**
 * Folds a stream's events (in revision order) by the kind's decider, each
 * decoded first; an event it does not know throws `UnknownStreamEvent`
 * rather than being passed over.
 */
export const foldStream = (kind: StreamKind, events: readonly RecordedEvent[]): unknown => {
  const decider = kind.decider;
  if (!decider) throw new Error(`${kind.category} streams have no decider`);
  return events.reduce(
    (state, e) => decider.evolve(state, decodeStreamEvent(kind, e)),
    decider.initialState(),
  );
};

export const REDACTED = '[redacted]';

/**
 * `value` as JSON an audit view may show: every property named in `keys`
 * (at any depth) replaced by `[redacted]`, and the sets and maps a state may
 * hold as arrays and objects (JSON would print them as `{}`).
 */
export const redact = (value: unknown, keys: readonly string[]): unknown => {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Set) return [...value].map((v) => redact(v, keys));
  if (value instanceof Map) return redact(Object.fromEntries(value), keys);
  if (Array.isArray(value)) return value.map((v) => redact(v, keys));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, keys.includes(k) ? REDACTED : redact(v, keys)]),
  );
};
