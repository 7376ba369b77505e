import { nullable, oneOf, partialObject, string, type Validator } from '../validation.ts';

/** Profile fields, their limits and enums (REQUIREMENTS.md §Profile). */
export const locales = ['en', 'fr', 'de', 'es', 'it', 'pt', 'nl', 'pl', 'uk', 'ja', 'zh'] as const;
export const learningGoals = ['career', 'hobby', 'academic', 'certification'] as const;
export const visibilities = ['public', 'members', 'private'] as const;
export const socialProviders = ['github', 'linkedin', 'x', 'youtube', 'website'] as const;

const url = string({ max: 300, pattern: /^https:\/\/[^\s/$.?#].[^\s]*$/i });

export const socialLinks = partialObject({
  github: nullable(url),
  linkedin: nullable(url),
  x: nullable(url),
  youtube: nullable(url),
  website: nullable(url),
});

/** What `PUT /api/profile` accepts: any subset of the fields; `null` clears one. */
export const profileChanges = partialObject({
  displayName: string({ min: 1, max: 80 }),
  bio: nullable(string({ max: 500 })),
  locale: oneOf(locales),
  timezone: nullable(string({ max: 64, pattern: /^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+){0,2}$|^UTC$/ })),
  learningGoal: nullable(oneOf(learningGoals)),
  visibility: oneOf(visibilities),
  experienceLevel: nullable(string({ min: 1, max: 40, pattern: /^[a-z0-9-]+$/ })),
  socialLinks: socialLinks as Validator<Record<string, string | null>>,
});

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
