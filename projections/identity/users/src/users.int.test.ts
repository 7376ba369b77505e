import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { identity as schema } from '@lectern/schemas';
import { identityUsersProjection, userById, usersByEmail, usersByPhone, type IdentityUser } from './index.ts';

const spec = projectionSpec(identityUsersProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

const registered = (userId: string, email: string): schema.UserStreamEvent => ({
  type: 'identity.UserRegistered',
  data: { userId, email, passwordHash: 'scrypt$…', roles: ['learner'], registeredAt: at(0) },
});
const verified: schema.UserStreamEvent = {
  type: 'identity.EmailVerified',
  data: { userId: ada, email: 'ada@example.org', verifiedAt: at(1) },
};
const emailChanged = (from: string, to: string, minute: number): schema.UserStreamEvent => ({
  type: 'identity.EmailChanged',
  data: { userId: ada, from, to, changedAt: at(minute) },
});

/** Ada as `UserRegistered` leaves her: pending, a learner, nothing else known. */
const adaRegistered: IdentityUser = {
  userId: ada,
  email: 'ada@example.org',
  phone: null,
  status: 'pending',
  roles: ['learner'],
  registeredAt: at(0),
  verifiedAt: null,
  lastLoginAt: null,
  lockedUntil: null,
  passwordChangedAt: null,
};

test('registering creates a pending user; another user is not found', async (t) => {
  const feed = eventFeed();
  const history = feed.append(schema.userStreamId(ada), [registered(ada, 'ada@example.org')]);
  await spec.given(history).then(t, (sql) => userById(sql, ada), adaRegistered);
  await spec.given(history).then(t, (sql) => userById(sql, bob), null);
});

test('each user event updates its field', async (t) => {
  const feed = eventFeed();
  const stream = schema.userStreamId(ada);
  const history = feed.append(stream, [registered(ada, 'ada@example.org'), verified]);
  const changes = feed.append(stream, [
    emailChanged('ada@example.org', 'ada@lovelace.org', 2),
    {
      type: 'identity.PhoneChanged',
      data: { userId: ada, from: null, to: '+441234567890', changedAt: at(3) },
    },
    {
      type: 'identity.RolesChanged',
      data: { userId: ada, from: ['learner'], to: ['learner', 'author'], changedAt: at(4) },
    },
    {
      type: 'identity.LoggedIn',
      data: { userId: ada, familyId: bob, method: 'password', device: null, loggedInAt: at(5) },
    },
    // Not read by this model: no column changes.
    {
      type: 'identity.LoginFailed',
      data: { userId: ada, reason: 'wrong_password', failures: 5, failedAt: at(6) },
    },
    { type: 'identity.AccountLocked', data: { userId: ada, lockedUntil: at(30), lockedAt: at(6) } },
  ]);
  const updated: IdentityUser = {
    ...adaRegistered,
    email: 'ada@lovelace.org',
    phone: '+441234567890',
    status: 'active',
    roles: ['learner', 'author'],
    verifiedAt: at(1),
    lastLoginAt: at(5),
    lockedUntil: at(30),
  };
  await spec
    .given(history)
    .when(changes)
    .then(t, (sql) => userById(sql, ada), updated);

  const [reset] = feed.append(stream, [
    {
      type: 'identity.PasswordReset',
      data: { userId: ada, passwordHash: 'scrypt$new', revokedFamilyIds: [], resetAt: at(7) },
    },
  ]);
  await spec
    .given(history)
    .when(changes)
    .when([reset!])
    .then(t, (sql) => userById(sql, ada), { ...updated, lockedUntil: null, passwordChangedAt: at(7) });
});

test('a redelivered or redriven event changes nothing, even after newer ones', async (t) => {
  const feed = eventFeed();
  const stream = schema.userStreamId(ada);
  const history = feed.append(stream, [registered(ada, 'ada@example.org')]);
  const [first, second] = feed.append(stream, [
    emailChanged('ada@example.org', 'ada@lovelace.org', 2),
    emailChanged('ada@lovelace.org', 'ada@analytical.org', 3),
  ]);
  const expected = { ...adaRegistered, email: 'ada@analytical.org' };
  await spec
    .given(history)
    .when([first!, second!])
    .when([first!])
    .then(t, (sql) => userById(sql, ada), expected);
  // The same event twice in one batch, and registration again.
  await spec
    .given([...history, ...history])
    .when([first!, first!, second!])
    .when(history)
    .then(t, (sql) => userById(sql, ada), expected);
  // Redriven, an event passes the checkpoints: the row's revision guard still holds.
  await spec
    .given(history)
    .when([first!, second!])
    .redrive([...history, first!])
    .then(t, (sql) => userById(sql, ada), expected);
  // The row remembers the revision it reflects, which guards it.
  await spec
    .given(history)
    .when([first!, second!])
    .when([first!])
    .then(t, spec.rows('identity_users'), [
      {
        user_id: ada,
        email: 'ada@analytical.org',
        phone: null,
        status: 'pending',
        roles: ['learner'],
        registered_at: new Date(at(0)),
        verified_at: null,
        last_login_at: null,
        locked_until: null,
        password_changed_at: null,
        revision: 2,
      },
    ]);
});

test('users are found by their current e-mail and phone only', async (t) => {
  const feed = eventFeed();
  const history = [
    ...feed.append(schema.userStreamId(ada), [
      registered(ada, 'ada@example.org'),
      emailChanged('ada@example.org', 'ada@lovelace.org', 2),
      {
        type: 'identity.PhoneChanged',
        data: { userId: ada, from: null, to: '+441234567890', changedAt: at(3) },
      },
    ]),
    ...feed.append(schema.userStreamId(bob), [registered(bob, 'bob@example.org')]),
  ];
  const adaNow = { ...adaRegistered, email: 'ada@lovelace.org', phone: '+441234567890' };
  await spec.given(history).then(t, (sql) => usersByEmail(sql, 'ada@lovelace.org'), [adaNow]);
  await spec.given(history).then(t, (sql) => usersByEmail(sql, 'ada@example.org'), []);
  await spec.given(history).then(t, (sql) => usersByPhone(sql, '+441234567890'), [adaNow]);
  await spec.given(history).then(t, (sql) => usersByPhone(sql, '+440000000000'), []);
  await spec
    .given(history)
    .then(t, async (sql) => (await usersByEmail(sql, 'bob@example.org')).map((u) => u.userId), [bob]);
});
