import type { MessageKeys } from '../auth/message-secrets.ts';
import { openSignedToken, signedToken } from '../auth/signed-token.ts';

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
 * in mind: a token made before a rotation is still taken after it
 * (`signedToken`).
 */

export type UnsubscribeClaim = Readonly<{ userId: string; scope: string }>;

/**
 * The token for `userId` and `scope`, with the current key.
 *
 * @example
 *   const token = unsubscribeToken(keys, userId, 'all-email');
 *   // → '6f1c…b11.all-email.Qm9i…'
 */
export const unsubscribeToken = (keys: MessageKeys, userId: string, scope: string): string =>
  signedToken(keys, 'unsubscribe', [userId, scope]);

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
  const parts = openSignedToken(keys, 'unsubscribe', token, 2);
  return parts && { userId: parts[0]!, scope: parts[1]! };
};
