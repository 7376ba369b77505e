import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { identity as schema } from '@lectern/schemas';
import { tokenFamilyDecider } from './token-family.ts';

const familyId = '3c2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const userId = '2b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const t0 = '2026-01-01T00:00:00.000Z';
const tok = (n: number) => `0000000${n}-0000-4000-8000-000000000000`;
const started: schema.TokenFamilyStreamEvent = {
  type: 'identity.TokenFamilyStarted',
  data: {
    familyId,
    userId,
    tokenId: tok(1),
    tokenHash: 'a'.repeat(43),
    expiresAt: '2026-01-31T00:00:00.000Z',
    familyExpiresAt: '2026-03-02T00:00:00.000Z',
    device: null,
    startedAt: t0,
  },
};
const rotate = (presented: string, next: string, at = '2026-01-02T00:00:00.000Z') =>
  ({
    type: 'Rotate',
    presentedHash: presented.repeat(43),
    tokenId: tok(2),
    tokenHash: next.repeat(43),
    expiresAt: '2026-02-01T00:00:00.000Z',
    credentialsChangedAt: null,
    userActive: true,
    at,
  }) as const;
const rotated = {
  type: 'identity.RefreshTokenRotated',
  data: {
    familyId,
    userId,
    previousTokenId: tok(1),
    tokenId: tok(2),
    tokenHash: 'b'.repeat(43),
    expiresAt: '2026-02-01T00:00:00.000Z',
    rotatedAt: '2026-01-02T00:00:00.000Z',
  },
} satisfies schema.TokenFamilyStreamEvent;
const revoked = (
  reason: schema.TokenFamilyRevoked['reason'],
  at = '2026-01-02T00:00:00.000Z',
): schema.TokenFamilyStreamEvent => ({
  type: 'identity.TokenFamilyRevoked',
  data: { familyId, userId, reason, revokedAt: at },
});

test('refresh rotates the current token, linking to the previous one', (t) => {
  spec(tokenFamilyDecider).given([started]).when(rotate('a', 'b')).then(t, [rotated]);
});

test('a spent token presented again revokes the whole family', (t) => {
  const later = '2026-01-02T00:00:05.000Z';
  spec(tokenFamilyDecider)
    .given([started, rotated])
    .when(rotate('a', 'c', later))
    .then(t, [revoked('reuse', later)]);
  // …and then even the newest token is dead.
  spec(tokenFamilyDecider)
    .given([started, rotated, revoked('reuse')])
    .when(rotate('b', 'c'))
    .thenFails(t, 'refresh_token_invalid');
});

test('the token just spent, presented again within 5 s, is a race (409) and the family lives', (t) => {
  spec(tokenFamilyDecider)
    .given([started, rotated])
    .when(rotate('a', 'c', '2026-01-02T00:00:04.999Z'))
    .thenFails(t, 'refresh_conflict');
  // An older spent token is reuse even within the grace period.
  const rotatedAgain: schema.TokenFamilyStreamEvent = {
    type: 'identity.RefreshTokenRotated',
    data: {
      ...rotated.data,
      previousTokenId: tok(2),
      tokenId: tok(3),
      tokenHash: 'c'.repeat(43),
    },
  };
  spec(tokenFamilyDecider)
    .given([started, rotated, rotatedAgain])
    .when(rotate('a', 'd', '2026-01-02T00:00:01.000Z'))
    .then(t, [revoked('reuse', '2026-01-02T00:00:01.000Z')]);
});

test('unknown, expired and out-of-family tokens are refused', (t) => {
  spec(tokenFamilyDecider).given([]).when(rotate('a', 'b')).thenFails(t, 'refresh_token_invalid');
  spec(tokenFamilyDecider).given([started]).when(rotate('z', 'b')).thenFails(t, 'refresh_token_invalid');
  spec(tokenFamilyDecider)
    .given([started])
    .when(rotate('a', 'b', '2026-01-31T00:00:00.000Z'))
    .thenFails(t, 'refresh_token_invalid');
});

test('rotation never carries a family past its maximum age', (t) => {
  const late = { ...rotate('a', 'b', '2026-01-30T00:00:00.000Z'), expiresAt: '2026-03-01T00:00:00.000Z' };
  const expiresAt = (command: typeof late) => {
    const [e] = tokenFamilyDecider.decide(command, spec(tokenFamilyDecider).given([started]).state);
    return e?.type === 'identity.RefreshTokenRotated' ? e.data.expiresAt : e?.type;
  };
  t.is(expiresAt(late), '2026-03-01T00:00:00.000Z');
  t.is(expiresAt({ ...late, expiresAt: '2026-03-30T00:00:00.000Z' }), '2026-03-02T00:00:00.000Z');
});

test('a password reset after the family started kills it on its next use', (t) => {
  spec(tokenFamilyDecider)
    .given([started])
    .when({ ...rotate('a', 'b'), credentialsChangedAt: '2026-01-01T12:00:00.000Z' })
    .then(t, [revoked('password_reset')]);
});

test('logout needs a token of the family and revokes it once', (t) => {
  spec(tokenFamilyDecider)
    .given([started])
    .when({ type: 'Revoke', presentedHash: 'z'.repeat(43), reason: 'logout', at: t0 })
    .thenFails(t, 'refresh_token_invalid');
  spec(tokenFamilyDecider)
    .given([started])
    .when({ type: 'Revoke', presentedHash: 'a'.repeat(43), reason: 'logout', at: t0 })
    .then(t, [revoked('logout', t0)]);
  spec(tokenFamilyDecider)
    .given([started, revoked('logout', t0)])
    .when({ type: 'Revoke', presentedHash: 'a'.repeat(43), reason: 'logout', at: t0 })
    .then(t, []);
});
