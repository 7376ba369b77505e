import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import { profileDecider, type UpdateProfile } from './profile.ts';

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
