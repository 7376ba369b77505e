import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type { profile as schema } from '@lectern/schemas';
import { experienceLevelDecider } from './experience-level.ts';

const levelId = '1b4e28ba-2fa1-5d2e-8f4b-2a1c3d4e5f60';
const at = '2026-03-01T10:00:00.000Z';
const defined: schema.ExperienceLevelStreamEvent = {
  type: 'profile.ExperienceLevelDefined',
  data: { levelId, code: 'beginner', label: 'Beginner', rank: 1, definedAt: at },
};

test('defines a new level', (t) => {
  spec(experienceLevelDecider)
    .given([])
    .when({ type: 'DefineExperienceLevel', levelId, code: 'beginner', label: 'Beginner', rank: 1, at })
    .then(t, [defined]);
});

test('defining an existing level is a conflict', (t) => {
  spec(experienceLevelDecider)
    .given([defined])
    .when({ type: 'DefineExperienceLevel', levelId, code: 'beginner', label: 'B', rank: 2, at })
    .thenFails(t, 'experience_level_exists');
});

test('a change records old and new values of the fields that change', (t) => {
  spec(experienceLevelDecider)
    .given([defined])
    .when({ type: 'ChangeExperienceLevel', label: 'Novice', rank: 1, at })
    .then(t, [
      {
        type: 'profile.ExperienceLevelChanged',
        data: {
          levelId,
          code: 'beginner',
          changes: [{ field: 'label', from: 'Beginner', to: 'Novice' }],
          changedAt: at,
        },
      },
    ]);
});

test('a retired level can be defined again but not changed', (t) => {
  const retired: schema.ExperienceLevelStreamEvent = {
    type: 'profile.ExperienceLevelRetired',
    data: { levelId, code: 'beginner', retiredAt: at },
  };
  spec(experienceLevelDecider)
    .given([defined, retired])
    .when({ type: 'ChangeExperienceLevel', label: 'X', at })
    .thenFails(t, 'experience_level_not_found');
  spec(experienceLevelDecider)
    .given([defined, retired])
    .when({ type: 'DefineExperienceLevel', levelId, code: 'beginner', label: 'Beginner', rank: 1, at })
    .then(t, [defined]);
});

test('retiring a level that does not exist is not found', (t) => {
  spec(experienceLevelDecider)
    .given([])
    .when({ type: 'RetireExperienceLevel', at })
    .thenFails(t, 'experience_level_not_found');
});
