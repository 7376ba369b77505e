import test from 'ava';
import { eventFeed, projectionSpec } from '@lectern/infra/testing/projection-spec';
import { profile as schema } from '@lectern/schemas';
import { emptyProfile, profileOf, profilesProjection, type ProfileDocument } from './index.ts';

const spec = projectionSpec(profilesProjection);
test.after.always(() => spec.close());

const ada = '0b7c1e9a-3f44-4a8e-9d2c-6f1e2a3b4c5d';
const bob = '5d4c3b2a-1e2f-4c6d-8e9a-0b1c2d3e4f5a';
const at = (minute: number) => `2026-02-01T10:${String(minute).padStart(2, '0')}:00.000Z`;

const updated = (
  minute: number,
  ...changes: schema.FieldChange[]
): schema.ProfileStreamEvent & { data: { userId: string } } => ({
  type: 'profile.ProfileUpdated',
  data: { userId: ada, changes, updatedAt: at(minute) },
});

const created: ProfileDocument = {
  ...emptyProfile(ada),
  displayName: 'Ada',
  createdAt: at(1),
  updatedAt: at(1),
};

test("the first update creates the profile from the defaults; no one else's exists", async (t) => {
  const feed = eventFeed();
  const history = feed.append(schema.profileStreamId(ada), [
    updated(1, { field: 'displayName', from: null, to: 'Ada' }),
  ]);
  await spec.given(history).then(t, (sql) => profileOf(sql, ada), { profile: created, revision: 0 });
  await spec.given(history).then(t, (sql) => profileOf(sql, bob), null);
});

test('updates set and unset fields and social links, and move the revision', async (t) => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const history = feed.append(stream, [updated(1, { field: 'displayName', from: null, to: 'Ada' })]);
  const changes = feed.append(stream, [
    updated(
      2,
      { field: 'bio', from: null, to: 'Engines.' },
      { field: 'socialLinks.github', from: null, to: 'https://github.com/ada' },
      { field: 'socialLinks.website', from: null, to: 'https://ada.example.org' },
    ),
    updated(
      3,
      { field: 'displayName', from: 'Ada', to: 'Ada Lovelace' },
      { field: 'bio', from: 'Engines.', to: null },
      { field: 'socialLinks.github', from: 'https://github.com/ada', to: null },
      { field: 'locale', from: 'en', to: 'fr' },
    ),
  ]);
  await spec
    .given(history)
    .when(changes)
    .then(t, (sql) => profileOf(sql, ada), {
      profile: {
        ...created,
        displayName: 'Ada Lovelace',
        locale: 'fr',
        socialLinks: { website: 'https://ada.example.org' },
        updatedAt: at(3),
      },
      revision: 2,
    });
});

test('a redelivered update changes nothing, even after newer ones', async (t) => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const [first, second] = feed.append(stream, [
    updated(1, { field: 'displayName', from: null, to: 'Ada' }),
    updated(2, { field: 'displayName', from: 'Ada', to: 'Ada Lovelace' }),
  ]);
  const expected = { profile: { ...created, displayName: 'Ada Lovelace', updatedAt: at(2) }, revision: 1 };
  await spec
    .given([first!, first!])
    .when([second!])
    .when([first!, second!])
    .then(t, (sql) => profileOf(sql, ada), expected);
  // One document per user, holding the event it reflects.
  await spec
    .given([first!])
    .when([second!, first!])
    .then(t, spec.rows('profiles'), [
      {
        id: ada,
        doc: expected.profile,
        revision: 1,
        position: second!.position,
        updated_at: new Date(second!.occurredAt),
      },
    ]);
});

test("each user's updates build their own profile; other events are not read", async (t) => {
  const feed = eventFeed();
  const history = [
    ...feed.append(schema.profileStreamId(ada), [
      updated(1, { field: 'displayName', from: null, to: 'Ada' }),
    ]),
    ...feed.append(schema.experienceLevelStreamId(bob), [
      {
        type: 'profile.ExperienceLevelDefined',
        data: { levelId: bob, code: 'beginner', label: 'Beginner', rank: 1, definedAt: at(2) },
      },
    ]),
    ...feed.append(schema.profileStreamId(bob), [
      {
        type: 'profile.ProfileUpdated',
        data: {
          userId: bob,
          changes: [{ field: 'experienceLevel', from: null, to: 'beginner' }],
          updatedAt: at(3),
        },
      },
    ]),
  ];
  await spec.given(history).then(t, (sql) => profileOf(sql, ada), { profile: created, revision: 0 });
  await spec.given(history).then(t, (sql) => profileOf(sql, bob), {
    profile: { ...emptyProfile(bob), experienceLevel: 'beginner', createdAt: at(3), updatedAt: at(3) },
    revision: 0,
  });
  await spec
    .given(history)
    .then(t, async (sql) => (await spec.rows<{ id: string }>('profiles')(sql)).map((r) => r.id), [ada, bob]);
});

test('an avatar change sets the avatar, on a new profile or an existing one; a later one replaces it', async (t) => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const avatar = (minute: number, avatarId: string): schema.ProfileStreamEvent => ({
    type: 'profile.AvatarChanged',
    data: {
      userId: ada,
      avatarId,
      key: `avatars/${ada}/${avatarId}`,
      contentType: 'image/png',
      size: 1000 + minute,
      changedAt: at(minute),
    },
  });
  const first = '11111111-1111-4111-8111-111111111111';
  const second = '22222222-2222-4222-8222-222222222222';
  const [alone] = feed.append(stream, [avatar(1, first)]);
  await spec.given([alone!]).then(t, (sql) => profileOf(sql, ada), {
    profile: {
      ...emptyProfile(ada),
      avatar: { avatarId: first, key: `avatars/${ada}/${first}`, contentType: 'image/png', size: 1001 },
      createdAt: at(1),
      updatedAt: at(1),
    },
    revision: 0,
  });
  const later = feed.append(stream, [
    updated(2, { field: 'displayName', from: null, to: 'Ada' }),
    avatar(3, second),
  ]);
  await spec
    .given([alone!])
    .when(later)
    .then(t, (sql) => profileOf(sql, ada), {
      profile: {
        ...emptyProfile(ada),
        displayName: 'Ada',
        avatar: { avatarId: second, key: `avatars/${ada}/${second}`, contentType: 'image/png', size: 1003 },
        createdAt: at(1),
        updatedAt: at(3),
      },
      revision: 2,
    });
});

test('the last change of a field wins, within an update too; values are kept as written', async (t) => {
  const feed = eventFeed();
  const stream = schema.profileStreamId(ada);
  const awkward = 'it\'s "quoted", back\\slash, tab\there,\nnew line, ünïcødé ✓ 🎓, \\N and {"json": []}';
  const history = feed.append(stream, [
    updated(
      1,
      { field: 'displayName', from: null, to: 'Ada' },
      { field: 'displayName', from: 'Ada', to: awkward },
      { field: 'socialLinks.github', from: null, to: 'https://github.com/ada' },
      { field: 'socialLinks.github', from: 'https://github.com/ada', to: null },
      { field: 'socialLinks.website', from: null, to: awkward },
    ),
    {
      type: 'profile.AvatarChanged',
      data: {
        userId: ada,
        avatarId: bob,
        key: `avatars/${ada}/${bob}`,
        contentType: 'image/png',
        size: 42,
        changedAt: at(2),
      },
    },
    updated(
      3,
      { field: 'timezone', from: null, to: 'Europe/London' },
      { field: 'timezone', from: 'Europe/London', to: null },
    ),
  ]);
  await spec.given(history).then(t, (sql) => profileOf(sql, ada), {
    profile: {
      ...emptyProfile(ada),
      displayName: awkward,
      socialLinks: { website: awkward },
      avatar: { avatarId: bob, key: `avatars/${ada}/${bob}`, contentType: 'image/png', size: 42 },
      createdAt: at(1),
      updatedAt: at(3),
    },
    revision: 2,
  });
});
