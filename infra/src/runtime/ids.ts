import { createHash, randomUUID } from 'node:crypto';

/** The Ids port: where a composition root gets fresh ids from. Tests pass fixed ones. */
export type Ids = Readonly<{ uuid(): string }>;
export const randomIds: Ids = { uuid: randomUUID };

/** The Clock port. */
export type Clock = Readonly<{ now(): Date }>;
export const systemClock: Clock = { now: () => new Date() };

const LECTERN_NAMESPACE = '0e6b9d8c-3f1a-5c7e-9a41-6f2d1b0c8e57';

/**
 * A name-based (version 5) UUID: the same name always gives the same id.
 * Event ids are derived from the command id and the event's index, so a
 * retried command appends the same ids and the store deduplicates it.
 *
 * @example deterministicUuid(`${commandId}/0`)
 */
const LECTERN_NAMESPACE_BYTES = Buffer.from(LECTERN_NAMESPACE.replaceAll('-', ''), 'hex');

export const deterministicUuid = (name: string, namespace = LECTERN_NAMESPACE): string => {
  const ns =
    namespace === LECTERN_NAMESPACE
      ? LECTERN_NAMESPACE_BYTES
      : Buffer.from(namespace.replaceAll('-', ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
};
