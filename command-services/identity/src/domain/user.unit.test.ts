import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { identity as schema } from '@lectern/schemas';
import { userDecider } from './user.ts';

const userId = '2b1f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const familyId = '3c2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const t0 = '2026-01-01T00:00:00.000Z';
const hash = 'scrypt$N=32768,r=8,p=1$c2FsdA$aGFzaA';
const registered: schema.UserStreamEvent = {
  type: 'identity.UserRegistered',
  data: { userId, email: 'ada@example.org', passwordHash: hash, roles: ['learner'], registeredAt: t0 },
};
const verification: schema.UserStreamEvent = {
  type: 'identity.EmailVerificationRequested',
  data: {
    userId,
    email: 'ada@example.org',
    purpose: 'register',
    tokenHash: 'v'.repeat(43),
    expiresAt: '2026-01-02T00:00:00.000Z',
    requestedAt: t0,
  },
};
const verified: schema.UserStreamEvent = {
  type: 'identity.EmailVerified',
  data: { userId, email: 'ada@example.org', verifiedAt: t0 },
};
const loggedIn: schema.UserStreamEvent = {
  type: 'identity.LoggedIn',
  data: { userId, familyId, method: 'email_verification', device: null, loggedInAt: t0 },
};
const failed = (failures: number, at: string): schema.UserStreamEvent => ({
  type: 'identity.LoginFailed',
  data: { userId, reason: 'wrong_password', failures, failedAt: at },
});

test('register: an inactive user and a verification token valid 24 h', (t) => {
  spec(userDecider)
    .given([])
    .when({
      type: 'Register',
      userId,
      email: 'ada@example.org',
      passwordHash: hash,
      tokenHash: 'v'.repeat(43),
      at: t0,
    })
    .then(t, [registered, verification]);
});

test('verify: the right token activates and logs in; a wrong or late one is refused', (t) => {
  const cmd = {
    type: 'VerifyEmail',
    tokenHash: 'v'.repeat(43),
    familyId,
    device: null,
    at: '2026-01-01T12:00:00.000Z',
  } as const;
  const given = spec(userDecider).given([registered, verification]);
  t.deepEqual(
    userDecider.decide(cmd, given.state).map((e) => e.type),
    ['identity.EmailVerified', 'identity.LoggedIn'],
  );
  given.when({ ...cmd, tokenHash: 'x'.repeat(43) }).thenFails(t, 'verification_token_invalid');
  given.when({ ...cmd, at: '2026-01-02T00:00:00.000Z' }).thenFails(t, 'verification_token_expired');
  // Spent: verifying again fails.
  spec(userDecider)
    .given([registered, verification, verified, loggedIn])
    .when(cmd)
    .thenFails(t, 'verification_token_invalid');
});

test('login: a pending user with the right password is told to verify first', (t) => {
  spec(userDecider)
    .given([registered, verification])
    .when({ type: 'LogIn', matchedHash: hash, familyId, device: null, at: t0 })
    .thenFails(t, 'email_not_verified');
});

test('login: five wrong passwords within 15 minutes lock the account, then it refuses with 423', (t) => {
  const base = [registered, verification, verified, loggedIn];
  const at = '2026-01-01T00:10:00.000Z';
  spec(userDecider)
    .given([...base, failed(1, t0), failed(2, t0), failed(3, t0), failed(4, t0)])
    .when({ type: 'LogIn', matchedHash: null, familyId, device: null, at })
    .then(t, [
      failed(5, at),
      {
        type: 'identity.AccountLocked',
        data: { userId, lockedUntil: '2026-01-01T00:25:00.000Z', lockedAt: at },
      },
    ]);
  const locked = spec(userDecider).given([
    ...base,
    {
      type: 'identity.AccountLocked',
      data: { userId, lockedUntil: '2026-01-01T00:25:00.000Z', lockedAt: at },
    },
  ]);
  locked
    .when({ type: 'LogIn', matchedHash: hash, familyId, device: null, at: '2026-01-01T00:20:00.000Z' })
    .thenFails(t, 'account_locked');
  // After the lock, the right password works.
  t.is(
    userDecider.decide(
      { type: 'LogIn', matchedHash: hash, familyId, device: null, at: '2026-01-01T00:25:00.000Z' },
      locked.state,
    )[0]?.type,
    'identity.LoggedIn',
  );
});

test('login: failures outside the window start counting again', (t) => {
  spec(userDecider)
    .given([registered, verification, verified, failed(1, t0), failed(2, t0), failed(3, t0), failed(4, t0)])
    .when({ type: 'LogIn', matchedHash: null, familyId, device: null, at: '2026-01-01T00:15:00.000Z' })
    .then(t, [failed(1, '2026-01-01T00:15:00.000Z')]);
});

test('login: a password checked against a hash a reset replaced is a conflict, not a login', (t) => {
  spec(userDecider)
    .given([registered, verification, verified])
    .when({ type: 'LogIn', matchedHash: 'scrypt$old', familyId, device: null, at: t0 })
    .thenFails(t, 'credentials_changed');
});

test('password reset: the token is valid 15 minutes, spent once, and names every live family', (t) => {
  const requested: schema.UserStreamEvent = {
    type: 'identity.PasswordResetRequested',
    data: { userId, tokenHash: 'r'.repeat(43), expiresAt: '2026-01-01T00:15:00.000Z', requestedAt: t0 },
  };
  const second: schema.UserStreamEvent = {
    type: 'identity.LoggedIn',
    data: {
      userId,
      familyId: '4d2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
      method: 'password',
      device: null,
      loggedInAt: t0,
    },
  };
  const given = spec(userDecider).given([registered, verification, verified, loggedIn, second, requested]);
  const cmd = {
    type: 'ResetPassword',
    tokenHash: 'r'.repeat(43),
    passwordHash: 'scrypt$new',
    at: '2026-01-01T00:14:59.000Z',
  } as const;
  given.when(cmd).then(t, [
    {
      type: 'identity.PasswordReset',
      data: {
        userId,
        passwordHash: 'scrypt$new',
        revokedFamilyIds: [familyId, '4d2f3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'],
        resetAt: cmd.at,
      },
    },
  ]);
  given.when({ ...cmd, at: '2026-01-01T00:15:00.000Z' }).thenFails(t, 'reset_token_expired');
  spec(userDecider)
    .given([
      registered,
      verification,
      verified,
      requested,
      {
        type: 'identity.PasswordReset',
        data: { userId, passwordHash: 'scrypt$new', revokedFamilyIds: [], resetAt: t0 },
      },
    ])
    .when(cmd)
    .thenFails(t, 'reset_token_invalid');
});

test('change e-mail: needs the password, then a token sent to the new address', (t) => {
  const given = spec(userDecider).given([registered, verification, verified]);
  given
    .when({
      type: 'RequestEmailChange',
      newEmail: 'ada@new.example',
      matchedHash: null,
      tokenHash: 'c'.repeat(43),
      at: t0,
    })
    .thenFails(t, 'invalid_credentials');
  const requested = userDecider.decide(
    {
      type: 'RequestEmailChange',
      newEmail: 'ada@new.example',
      matchedHash: hash,
      tokenHash: 'c'.repeat(43),
      at: t0,
    },
    given.state,
  );
  t.is(requested[0]?.type, 'identity.EmailVerificationRequested');
  spec(userDecider)
    .given([registered, verification, verified, ...requested])
    .when({ type: 'ConfirmEmailChange', tokenHash: 'c'.repeat(43), at: t0 })
    .then(t, [
      {
        type: 'identity.EmailChanged',
        data: { userId, from: 'ada@example.org', to: 'ada@new.example', changedAt: t0 },
      },
    ]);
});
