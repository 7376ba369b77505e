/**
 * Pure conversions between the ISO-8601 instants that events carry and epoch
 * milliseconds. Deciders may use them: they read no clock, so a decision
 * still depends only on the command and the state.
 *
 * @example isoOf(msOf('2026-01-01T00:00:00.000Z') + 30_000) // '2026-01-01T00:00:30.000Z'
 */
export const msOf = (iso: string): number => Date.parse(iso);
export const isoOf = (ms: number): string => new Date(ms).toISOString();
export const addMs = (iso: string, ms: number): string => isoOf(msOf(iso) + ms);
/** Whole seconds from `now` until `until`, at least 1 (a `Retry-After` value). */
export const secondsUntil = (now: string, until: string): number =>
  Math.max(1, Math.ceil((msOf(until) - msOf(now)) / 1000));
