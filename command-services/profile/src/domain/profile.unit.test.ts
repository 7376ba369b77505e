import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import {
  profileDecider,
  sniffImage,
  type ChangeAvatar,
  type StoredImage,
  type UpdateProfile,
} from './profile.ts';

const userId = '6f1c1e52-5b0e-4a53-9a3e-0a4c0d7a1b11';
const at = '2026-03-01T10:00:00.000Z';
const update = (changes: UpdateProfile['changes'], known: string[] = ['beginner']): UpdateProfile => ({
  type: 'UpdateProfile',
  userId,
  changes,
  knownExperienceLevels: known,
  at,
});

test('the first update records a change per field, from the defaults', (t) => {
  spec(profileDecider)
    .given([])
    .when(update({ displayName: 'Ada', locale: 'fr', socialLinks: { github: 'https://github.com/ada' } }))
    .then(t, [
      {
        type: 'profile.ProfileUpdated',
        data: {
          userId,
          changes: [
            { field: 'displayName', from: null, to: 'Ada' },
            { field: 'locale', from: 'en', to: 'fr' },
            { field: 'socialLinks.github', from: null, to: 'https://github.com/ada' },
          ],
          updatedAt: at,
        },
      },
    ]);
});

test('only fields whose value changes are recorded, with their old value', (t) => {
  spec(profileDecider)
    .given([
      {
        type: 'profile.ProfileUpdated',
        data: { userId, changes: [{ field: 'displayName', from: null, to: 'Ada' }], updatedAt: at },
      },
    ])
    .when(update({ displayName: 'Ada', bio: 'Mathematician' }))
    .then(t, [
      {
        type: 'profile.ProfileUpdated',
        data: { userId, changes: [{ field: 'bio', from: null, to: 'Mathematician' }], updatedAt: at },
      },
    ]);
});

test('an update that changes nothing decides nothing', (t) => {
  spec(profileDecider)
    .given([])
    .when(update({ locale: 'en' }))
    .then(t, []);
});

test('clearing a field records null as the new value', (t) => {
  spec(profileDecider)
    .given([
      {
        type: 'profile.ProfileUpdated',
        data: { userId, changes: [{ field: 'bio', from: null, to: 'x' }], updatedAt: at },
      },
    ])
    .when(update({ bio: null }))
    .then(t, [
      {
        type: 'profile.ProfileUpdated',
        data: { userId, changes: [{ field: 'bio', from: 'x', to: null }], updatedAt: at },
      },
    ]);
});

test('an unknown experience level is refused', (t) => {
  spec(profileDecider)
    .given([])
    .when(update({ experienceLevel: 'wizard' }))
    .thenFails(t, 'unknown_experience_level');
});

test('a known experience level is accepted', (t) => {
  spec(profileDecider)
    .given([])
    .when(update({ experienceLevel: 'beginner' }))
    .then(t, [
      {
        type: 'profile.ProfileUpdated',
        data: { userId, changes: [{ field: 'experienceLevel', from: null, to: 'beginner' }], updatedAt: at },
      },
    ]);
});

// The avatar: what the storage holds is checked before it is recorded.
const avatarId = '0b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10';
const key = `avatars/${userId}/${avatarId}`;
const png: StoredImage = { size: 48_213, contentType: 'image/png', sniffed: 'image/png' };
const changeAvatar = (stored: StoredImage | null, id = avatarId): ChangeAvatar => ({
  type: 'ChangeAvatar',
  userId,
  avatarId: id,
  key: `avatars/${userId}/${id}`,
  stored,
  maxBytes: 5 * 1024 * 1024,
  at,
});
const avatarChanged = (id = avatarId) =>
  ({
    type: 'profile.AvatarChanged',
    data: {
      userId,
      avatarId: id,
      key: `avatars/${userId}/${id}`,
      contentType: 'image/png',
      size: 48_213,
      changedAt: at,
    },
  }) as const;

test('an uploaded PNG becomes the avatar, on a profile never saved before', (t) => {
  spec(profileDecider).given([]).when(changeAvatar(png)).then(t, [avatarChanged()]);
  t.is(key, avatarChanged().data.key);
});

test('the same upload twice is recorded once; another one replaces it', (t) => {
  spec(profileDecider).given([avatarChanged()]).when(changeAvatar(png)).then(t, []);
  const other = '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
  spec(profileDecider)
    .given([avatarChanged()])
    .when(changeAvatar(png, other))
    .then(t, [avatarChanged(other)]);
});

test('nothing uploaded is 409 avatar_not_uploaded', (t) => {
  spec(profileDecider).given([]).when(changeAvatar(null)).thenFails(t, 'avatar_not_uploaded');
});

test('an object over the limit is 413 avatar_too_large', (t) => {
  spec(profileDecider)
    .given([])
    .when(changeAvatar({ ...png, size: 5 * 1024 * 1024 + 1 }))
    .thenFails(t, 'avatar_too_large');
});

test('bytes that are not the declared image type are avatar_not_an_image', (t) => {
  for (const stored of [
    { ...png, sniffed: null },
    { ...png, sniffed: 'image/jpeg' as const },
    { size: 10, contentType: 'image/gif', sniffed: null },
  ])
    spec(profileDecider).given([]).when(changeAvatar(stored)).thenFails(t, 'avatar_not_an_image');
});

test('sniffImage knows a PNG and a JPEG by their first bytes, and nothing else', (t) => {
  t.is(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'image/png');
  t.is(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46])), 'image/jpeg');
  t.is(sniffImage(Buffer.from('GIF89a\0\0')), null);
  t.is(sniffImage(Uint8Array.from([0x89, 0x50])), null, 'too short to be either');
});
