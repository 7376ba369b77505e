import type { MessageKeys } from '../auth/message-secrets.ts';
import { fromBase64url, sameBytes } from '../auth/scrypt.ts';

/*
 * A signed token for a user and a scope: what an unsubscribe link carries so
 * that whoever holds the message can act on it without signing in, and no
 * one can make one for another user or another scope. It is
 * `<userId>.<scope>.<mac>`, the mac being `base64url` of the message keys'
 * derivation for the purpose `unsubscribe` over the user and the scope.
 *
 * The link is long-lived on purpose: mail clients offer it for as long as
 * the message is kept. What it can do is bounded by what it names (one
 * user's opt-out of one scope), and it is signed with every key's rotation
 * in mind: a token made before a rotation is still taken after it.
 */

/** A user id or a scope: no dots (they separate the parts), nothing a URL would escape. */
const PART = /^[A-Za-z0-9:_-]{1,100}$/;
/** 32 bytes of HMAC-SHA256 in base64url. */
const MAC = /^[A-Za-z0-9_-]{43}$/;

export type UnsubscribeClaim = Readonly<{ userId: string; scope: string }>;

/**
 * The token for `userId` and `scope`, with the current key.
 *
 * @example
 *   const token = unsubscribeToken(keys, userId, 'all-email');
 *   // → '6f1c…b11.all-email.Qm9i…'
 */
export const unsubscribeToken = (keys: MessageKeys, userId: string, scope: string): string => {
  if (!PART.test(userId) || !PART.test(scope))
    throw new Error('an unsubscribe token names a user and a scope of letters, digits, ":", "_" and "-"');
  return `${userId}.${scope}.${keys.derive('unsubscribe', [userId, scope]).toString('base64url')}`;
};

/**
 * The user and scope a token names when it is ours, checked against every
 * key in constant time; null for anything else (malformed, or signed by no
 * key of ours).
 *
 * @example
 *   const claim = parseUnsubscribeToken(keys, String(req.query.token));
 *   if (!claim) throw new Problem('validation', 'unsubscribe_token_invalid', '…');
 */
export const parseUnsubscribeToken = (keys: MessageKeys, token: string): UnsubscribeClaim | null => {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [userId, scope, mac] = parts as [string, string, string];
  if (!PART.test(userId) || !PART.test(scope) || !MAC.test(mac)) return null;
  const given = fromBase64url(mac);
  if (!given) return null;
  // Every candidate is compared, so the time taken does not say which key matched.
  let valid = false;
  for (const candidate of keys.candidates('unsubscribe', [userId, scope]))
    valid = sameBytes(candidate, given) || valid;
  return valid ? { userId, scope } : null;
};
