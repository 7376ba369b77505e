import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The SHA-256 digest (lower-case hex) of an ingest key: what
 * `ANALYTICS_INGEST_KEYS` holds, so that the configuration never holds a key
 * that could be used. The shell gives the same: `printf %s "$KEY" | sha256sum`.
 *
 * @example ingestKeyDigest('ik_3f9a…') // 'b5d4…' (64 hex digits)
 */
export const ingestKeyDigest = (key: string): string =>
  createHash('sha256').update(key, 'utf8').digest('hex');

/** Which configured key matched: the first 16 hex digits of its digest (safe to log). */
export type IngestKeyMatch = Readonly<{ keyId: string }>;

/**
 * Checks presented ingest keys against the configured digests. The key is
 * hashed, then compared with every digest in constant time, so neither the
 * time taken nor an early exit tells how close a guess came or which key it
 * resembled. Keys of any length hash to 32 bytes, so the comparison never
 * depends on the length of the key either.
 *
 * @example
 *   const check = ingestKeyChecker(config.analyticsIngestKeys);
 *   const match = check(req.get('x-ingest-key') ?? ''); // null when no key matches
 */
export const ingestKeyChecker = (
  digests: readonly string[],
): ((presented: string) => IngestKeyMatch | null) => {
  const known = digests.map((hex) => {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new RangeError('an ingest key digest must be 64 hex digits');
    return { bytes: Buffer.from(hex, 'hex'), keyId: hex.slice(0, 16).toLowerCase() };
  });
  return (presented) => {
    if (presented.length === 0 || known.length === 0) return null;
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let match: IngestKeyMatch | null = null;
    for (const k of known) if (timingSafeEqual(digest, k.bytes) && match === null) match = { keyId: k.keyId };
    return match;
  };
};
