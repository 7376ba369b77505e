import type { DomainEvent, RecordedEvent, RecordedEventOf } from './envelope.ts';
import type { Result, Validator } from './validation.ts';

/**
 * One entry per event type and schema version. `upcast` turns data of this
 * version into data of the next one; the newest version has none. Versions
 * are append-only: a published version is never edited, only superseded.
 */
export type EventVersion = Readonly<{
  version: number;
  validate: Validator<unknown>;
  upcast?: (data: unknown) => unknown;
}>;

export type EventCatalogue = Readonly<Record<string, readonly EventVersion[]>>;

/**
 * What a context's catalogue must list: every type of its event union, and
 * nothing else (check it with `satisfies`).
 */
export type CatalogueOf<E extends DomainEvent> = Readonly<Record<E['type'], readonly EventVersion[]>>;

/**
 * A guard that narrows a recorded event to a context's union, by its type,
 * so a reader switches on `type` and reads `data` without casts.
 *
 * It checks the type only: the data is what the catalogue validated when the
 * event was appended. Every type has one version so far; when one gains an
 * upcaster, its readers must decode (`decodeEvent`) before they narrow.
 *
 * @example
 *   export const isProfileEvent = eventGuard<ProfileDomainEvent>(profileEvents);
 *   if (isProfileEvent(e) && e.type === 'profile.ProfileUpdated') e.data.changes;
 */
export const eventGuard =
  <E extends DomainEvent>(catalogue: CatalogueOf<E>) =>
  (event: RecordedEvent): event is RecordedEventOf<E> =>
    Object.hasOwn(catalogue, event.type);

/**
 * Decodes stored event data of any known version into the newest version.
 *
 * @example
 *   const r = decodeEvent(profileEvents, 'profile.ProfileUpdated', 1, data);
 *   if (r.ok) apply(r.value);
 */
export const decodeEvent = (
  catalogue: EventCatalogue,
  type: string,
  schemaVersion: number,
  data: unknown,
): Result<{ schemaVersion: number; data: unknown }> => {
  const versions = catalogue[type];
  if (!versions) return { ok: false, issues: [{ path: '', message: `unknown event type ${type}` }] };
  let current = data;
  let version = schemaVersion;
  for (const v of versions) {
    if (v.version < version) continue;
    if (v.version !== version)
      return { ok: false, issues: [{ path: '', message: `no version ${version} of ${type}` }] };
    const checked = v.validate(current);
    if (!checked.ok) return checked;
    if (!v.upcast) return { ok: true, value: { schemaVersion: version, data: checked.value } };
    current = v.upcast(checked.value);
    version += 1;
  }
  return { ok: false, issues: [{ path: '', message: `no version ${schemaVersion} of ${type}` }] };
};

export const latestVersion = (catalogue: EventCatalogue, type: string): number => {
  const versions = catalogue[type];
  const last = versions?.[versions.length - 1];
  if (!last) throw new Error(`unknown event type ${type}`);
  return last.version;
};
