import type { MessageKeys, SecretPurpose } from './message-secrets.ts';
import { fromBase64url, sameBytes } from './scrypt.ts';

/*
 * A capability in a URL: a few plain parts and a MAC over them, which
 * whoever holds it can use without signing in and no one can make for other
 * parts. `<part>.<part>….<mac>`, the mac being `base64url` of the message
 * keys' derivation for one purpose over the parts, so a token of one purpose
 * never stands for another. Checked against every key (rotation) in constant
 * time. What a token lets its holder do is bounded by what its parts name;
 * the parts are not secret (they are ids), only the mac is.
 */

/** A part: no dots (they separate the parts), nothing a URL would escape. */
const PART = /^[A-Za-z0-9:_-]{1,100}$/;
/** 32 bytes of HMAC-SHA256 in base64url. */
const MAC = /^[A-Za-z0-9_-]{43}$/;

/**
 * The token over `parts` for `purpose`, with the current key.
 *
 * @example
 *   signedToken(keys, 'playback', [assetId, jobId, String(expiresAtSeconds)]);
 *   // → '3b9f…c7d.6f1c…b11.1796054400.Qm9i…'
 */
export const signedToken = (keys: MessageKeys, purpose: SecretPurpose, parts: readonly string[]): string => {
  if (parts.length === 0 || !parts.every((p) => PART.test(p)))
    throw new Error('a signed token holds parts of letters, digits, ":", "_" and "-" only');
  return [...parts, keys.derive(purpose, parts).toString('base64url')].join('.');
};

/**
 * The `count` parts of a token of ours for `purpose`; null for anything
 * else (malformed, another number of parts, signed by no key of ours).
 *
 * @example
 *   const parts = openSignedToken(keys, 'unsubscribe', token, 2);
 *   if (!parts) throw new Problem('validation', 'unsubscribe_token_invalid', '…');
 */
export const openSignedToken = (
  keys: MessageKeys,
  purpose: SecretPurpose,
  token: string,
  count: number,
): readonly string[] | null => {
  const all = token.split('.');
  if (all.length !== count + 1) return null;
  const parts = all.slice(0, count);
  const mac = all[count]!;
  if (!parts.every((p) => PART.test(p)) || !MAC.test(mac)) return null;
  const given = fromBase64url(mac);
  if (!given) return null;
  // Every candidate is compared, so the time taken does not say which key matched.
  let valid = false;
  for (const candidate of keys.candidates(purpose, parts)) valid = sameBytes(candidate, given) || valid;
  return valid ? parts : null;
};
