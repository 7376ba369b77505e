import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { identity as schema } from '@lectern/schemas';
import { phoneDecider } from './phone.ts';

const userId = '2b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const other = '9b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const codeId = '5e2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const phone = '+4915112345678';
const t0 = '2026-01-01T00:00:00.000Z';
const send = (at: string, by = userId) =>
  ({
    type: 'SendCode',
    phone,
    userId: by,
    codeId,
    codeHash: 'scrypt$hash-of-code',
    codeSalt: 'salt-salt',
    at,
  }) as const;
const sent: schema.PhoneStreamEvent = {
  type: 'identity.PhoneCodeSent',
  data: {
    phone,
    userId,
    codeId,
    codeHash: 'scrypt$hash-of-code',
    codeSalt: 'salt-salt',
    expiresAt: '2026-01-01T00:10:00.000Z',
    sentAt: t0,
  },
};
const wrong = (attempts: number): schema.PhoneStreamEvent => ({
  type: 'identity.PhoneCodeFailed',
  data: { phone, codeId, attempts, failedAt: t0 },
});

test('a code is 10 minutes valid, and another cannot be sent within 30 s (429 with Retry-After)', (t) => {
  spec(phoneDecider).given([]).when(send(t0)).then(t, [sent]);
  const given = spec(phoneDecider).given([sent]);
  const error = t.throws(() => phoneDecider.decide(send('2026-01-01T00:00:20.000Z'), given.state));
  t.is((error as { code?: string }).code, 'phone_code_too_soon');
  t.is((error as { retryAfterSeconds?: number }).retryAfterSeconds, 10);
  t.is(phoneDecider.decide(send('2026-01-01T00:00:30.000Z'), given.state)[0]?.type, 'identity.PhoneCodeSent');
});

test('the right code verifies once; a late one is refused', (t) => {
  const given = spec(phoneDecider).given([sent]);
  given
    .when({ type: 'VerifyCode', userId, matchedCodeId: codeId, at: t0 })
    .then(t, [{ type: 'identity.PhoneVerified', data: { phone, userId, codeId, verifiedAt: t0 } }]);
  given
    .when({ type: 'VerifyCode', userId, matchedCodeId: codeId, at: '2026-01-01T00:10:00.000Z' })
    .thenFails(t, 'phone_code_expired');
  spec(phoneDecider)
    .given([sent, { type: 'identity.PhoneVerified', data: { phone, userId, codeId, verifiedAt: t0 } }])
    .when({ type: 'VerifyCode', userId, matchedCodeId: codeId, at: t0 })
    .thenFails(t, 'phone_code_invalid');
});

test('the fifth wrong code locks the phone for an hour (423), sends included', (t) => {
  spec(phoneDecider)
    .given([sent, wrong(1), wrong(2), wrong(3), wrong(4)])
    .when({ type: 'VerifyCode', userId, matchedCodeId: null, at: t0 })
    .then(t, [
      wrong(5),
      {
        type: 'identity.PhoneLocked',
        data: { phone, lockedUntil: '2026-01-01T01:00:00.000Z', lockedAt: t0 },
      },
    ]);
  const locked = spec(phoneDecider).given([
    sent,
    { type: 'identity.PhoneLocked', data: { phone, lockedUntil: '2026-01-01T01:00:00.000Z', lockedAt: t0 } },
  ]);
  locked.when(send('2026-01-01T00:30:00.000Z')).thenFails(t, 'phone_locked');
  locked
    .when({ type: 'VerifyCode', userId, matchedCodeId: codeId, at: '2026-01-01T00:30:00.000Z' })
    .thenFails(t, 'phone_locked');
  t.is(
    phoneDecider.decide(send('2026-01-01T01:00:00.000Z'), locked.state)[0]?.type,
    'identity.PhoneCodeSent',
  );
});

test("someone else's verified number cannot be claimed", (t) => {
  spec(phoneDecider)
    .given([sent, { type: 'identity.PhoneVerified', data: { phone, userId, codeId, verifiedAt: t0 } }])
    .when(send('2026-01-01T00:05:00.000Z', other))
    .thenFails(t, 'phone_taken');
});
