import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { identity as schema } from '@lectern/schemas';
import { identitySessionsProjection, sessionsOfUser, type IdentitySession } from './index.ts';

const spec = projectionSpec(identitySessionsProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const laptop = '11111111-1111-4111-8111-111111111111';
const phone = '22222222-2222-4222-8222-222222222222';
const bobs = '33333333-3333-4333-8333-333333333333';
const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
const device = { name: 'Laptop', platform: 'linux' };

const started = (familyId: string, userId: string, minute: number): schema.TokenFamilyStreamEvent => ({
  type: 'identity.TokenFamilyStarted',
  data: {
    familyId,
    userId,
    tokenId: `t-${minute}`,
    tokenHash: 'sha256…',
    expiresAt: at(minute + 30),
    familyExpiresAt: at(59),
    device: familyId === laptop ? device : null,
    startedAt: at(minute),
  },
});
const rotated = (familyId: string, minute: number): schema.TokenFamilyStreamEvent => ({
  type: 'identity.RefreshTokenRotated',
  data: {
    familyId,
    userId: ada,
    previousTokenId: `t-${minute - 1}`,
    tokenId: `t-${minute}`,
    tokenHash: 'sha256…',
    expiresAt: at(minute + 30),
    rotatedAt: at(minute),
  },
});

const laptopStarted: IdentitySession = {
  familyId: laptop,
  userId: ada,
  device,
  startedAt: at(1),
  lastRotatedAt: null,
  rotations: 0,
  expiresAt: at(31),
  revokedAt: null,
  revokeReason: null,
};

test('a started family is a session of its user', async (t) => {
  const feed = eventFeed();
  const history = feed.append(schema.tokenFamilyStreamId(laptop), [started(laptop, ada, 1)]);
  await spec.given(history).then(t, (sql) => sessionsOfUser(sql, ada), [laptopStarted]);
  await spec.given(history).then(t, (sql) => sessionsOfUser(sql, bob), []);
});

test('rotations count and move the expiry; a revocation is kept with its reason', async (t) => {
  const feed = eventFeed();
  const stream = schema.tokenFamilyStreamId(laptop);
  const history = feed.append(stream, [started(laptop, ada, 1)]);
  const rotations = feed.append(stream, [rotated(laptop, 5), rotated(laptop, 9)]);
  const rotatedTwice = { ...laptopStarted, lastRotatedAt: at(9), rotations: 2, expiresAt: at(39) };
  await spec
    .given(history)
    .when(rotations)
    .then(t, (sql) => sessionsOfUser(sql, ada), [rotatedTwice]);

  const revoked = feed.append(stream, [
    {
      type: 'identity.TokenFamilyRevoked',
      data: { familyId: laptop, userId: ada, reason: 'logout', revokedAt: at(12) },
    },
  ]);
  await spec
    .given(history)
    .when(rotations)
    .when(revoked)
    .then(t, (sql) => sessionsOfUser(sql, ada), [
      { ...rotatedTwice, revokedAt: at(12), revokeReason: 'logout' },
    ]);
});

test('a redelivered or redriven rotation counts once', async (t) => {
  const feed = eventFeed();
  const stream = schema.tokenFamilyStreamId(laptop);
  const history = feed.append(stream, [started(laptop, ada, 1)]);
  const [first, second] = feed.append(stream, [rotated(laptop, 5), rotated(laptop, 9)]);
  const expected = [{ ...laptopStarted, lastRotatedAt: at(9), rotations: 2, expiresAt: at(39) }];
  await spec
    .given(history)
    .when([first!, first!, second!])
    .when([first!, second!])
    .then(t, (sql) => sessionsOfUser(sql, ada), expected);
  await spec
    .given(history)
    .when([first!, second!])
    .redrive([...history, first!, second!])
    .then(t, (sql) => sessionsOfUser(sql, ada), expected);
});

test("a user's sessions come newest first, at most the limit, and only theirs", async (t) => {
  const feed = eventFeed();
  const history = [
    ...feed.append(schema.tokenFamilyStreamId(laptop), [started(laptop, ada, 1)]),
    ...feed.append(schema.tokenFamilyStreamId(bobs), [started(bobs, bob, 2)]),
    ...feed.append(schema.tokenFamilyStreamId(phone), [started(phone, ada, 3)]),
  ];
  const familiesOf = (userId: string, limit?: number) => async (sql: Parameters<typeof sessionsOfUser>[0]) =>
    (await sessionsOfUser(sql, userId, limit)).map((s) => s.familyId);
  await spec.given(history).then(t, familiesOf(ada), [phone, laptop]);
  await spec.given(history).then(t, familiesOf(ada, 1), [phone]);
  await spec.given(history).then(t, familiesOf(bob), [bobs]);
});
