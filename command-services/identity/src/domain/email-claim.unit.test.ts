import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { identity as schema } from '@lectern/schemas';
import { emailClaimDecider } from './email-claim.ts';

const a = '2b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const b = '9b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const email = 'ada@example.org';
const t0 = '2026-01-01T00:00:00.000Z';
const claimed: schema.EmailClaimStreamEvent = {
  type: 'identity.EmailClaimed',
  data: { email, userId: a, pendingUntil: '2026-01-02T00:00:00.000Z', claimedAt: t0 },
};
const claim = (userId: string, at: string) =>
  ({ type: 'Claim', email, userId, pendingUntil: '2026-01-03T00:00:00.000Z', at }) as const;

test('an address belongs to one user: a second claim is a conflict', (t) => {
  spec(emailClaimDecider)
    .given([claimed])
    .when(claim(b, '2026-01-01T01:00:00.000Z'))
    .thenFails(t, 'email_taken');
  spec(emailClaimDecider)
    .given([claimed, { type: 'identity.EmailClaimConfirmed', data: { email, userId: a, confirmedAt: t0 } }])
    .when(claim(b, '2026-02-01T00:00:00.000Z'))
    .thenFails(t, 'email_taken');
});

test('an unconfirmed claim past its deadline can be taken over, and the old owner can no longer confirm', (t) => {
  const later = '2026-01-02T00:00:00.000Z';
  spec(emailClaimDecider)
    .given([claimed])
    .when(claim(b, later))
    .then(t, [
      {
        type: 'identity.EmailClaimed',
        data: { email, userId: b, pendingUntil: '2026-01-03T00:00:00.000Z', claimedAt: later },
      },
    ]);
  spec(emailClaimDecider)
    .given([
      claimed,
      {
        type: 'identity.EmailClaimed',
        data: { email, userId: b, pendingUntil: '2026-01-03T00:00:00.000Z', claimedAt: later },
      },
    ])
    .when({ type: 'Confirm', userId: a, at: later })
    .thenFails(t, 'email_taken');
});

test('release frees the address for anyone', (t) => {
  spec(emailClaimDecider)
    .given([claimed, { type: 'identity.EmailReleased', data: { email, userId: a, releasedAt: t0 } }])
    .when(claim(b, t0))
    .then(t, [
      {
        type: 'identity.EmailClaimed',
        data: { email, userId: b, pendingUntil: '2026-01-03T00:00:00.000Z', claimedAt: t0 },
      },
    ]);
});
