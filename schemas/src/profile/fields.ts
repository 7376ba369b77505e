import { describe, nullable, oneOf, partialObject, string, type Validator } from '../validation.ts';

/** Profile fields, their limits and enums (REQUIREMENTS.md §Profile). */
export const locales = ['en', 'fr', 'de', 'es', 'it', 'pt', 'nl', 'pl', 'uk', 'ja', 'zh'] as const;
export const learningGoals = ['career', 'hobby', 'academic', 'certification'] as const;
export const visibilities = ['public', 'members', 'private'] as const;
export const socialProviders = ['github', 'linkedin', 'x', 'youtube', 'website'] as const;

// No white space and no U+0000 anywhere: the pattern is the whole rule for a link.
// eslint-disable-next-line no-control-regex -- U+0000 is what the pattern refuses
const url = string({ max: 300, pattern: /^https:\/\/[^\s\u0000/$.?#][^\s\u0000]*$/i, format: 'uri' });

/** The code of an experience level: lower-case letters, digits and dashes. */
export const experienceLevelCode = describe(string({ min: 1, max: 40, pattern: /^[a-z0-9-]+$/ }), {
  description: 'The code of an experience level, as an admin defined it.',
  example: 'beginner',
});

export const socialLinks = describe(
  partialObject({
    github: nullable(url),
    linkedin: nullable(url),
    x: nullable(url),
    youtube: nullable(url),
    website: nullable(url),
  }),
  {
    description: 'https links by provider; `null` removes one.',
    example: { github: 'https://github.com/ada' },
  },
);

/** What `PUT /api/profile` accepts: any subset of the fields; `null` clears one. */
export const profileChanges = describe(
  partialObject({
    displayName: describe(string({ min: 1, max: 80 }), { description: 'The name shown to others.' }),
    bio: nullable(string({ max: 500 })),
    locale: describe(oneOf(locales), { description: 'The language of the interface.' }),
    timezone: describe(
      nullable(string({ max: 64, pattern: /^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+){0,2}$|^UTC$/ })),
      { description: 'An IANA time zone name.', example: 'Europe/Paris' },
    ),
    learningGoal: nullable(oneOf(learningGoals)),
    visibility: describe(oneOf(visibilities), { description: 'Who may see the profile.' }),
    experienceLevel: describe(nullable(experienceLevelCode), {
      description: 'The code of an active experience level (400 `unknown_experience_level` otherwise).',
    }),
    socialLinks: socialLinks as Validator<Record<string, string | null>>,
  }),
  {
    title: 'ProfileChanges',
    description: 'Any subset of the profile fields; `null` clears a field. Unknown fields are rejected.',
    example: { displayName: 'Ada', locale: 'fr', bio: null },
  },
);

export type ProfileField =
  | 'displayName'
  | 'bio'
  | 'locale'
  | 'timezone'
  | 'learningGoal'
  | 'visibility'
  | 'experienceLevel'
  | `socialLinks.${(typeof socialProviders)[number]}`;

export const profileFieldNames: readonly ProfileField[] = [
  'displayName',
  'bio',
  'locale',
  'timezone',
  'learningGoal',
  'visibility',
  'experienceLevel',
  ...socialProviders.map((p) => `socialLinks.${p}` as const),
];
