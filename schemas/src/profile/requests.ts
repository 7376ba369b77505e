import { describe, integer, integerString, object, partialObject, string } from '../validation.ts';
import { experienceLevelCode } from './fields.ts';

/**
 * What profile's routes accept besides `profileChanges`: the bodies of the
 * experience-level admin routes and the history query. The routes validate
 * with these, and the API document is generated from them.
 */
const levelLabel = describe(string({ min: 1, max: 80 }), {
  description: 'The name learners see.',
  example: 'Beginner',
});
const levelRank = describe(integer({ min: 0, max: 1000 }), {
  description: 'Position in the list: lower ranks come first.',
  example: 10,
});

/** `POST /api/admin/experience-levels`. */
export const newExperienceLevel = describe(
  object({ code: experienceLevelCode, label: levelLabel, rank: levelRank }),
  { title: 'NewExperienceLevel', example: { code: 'beginner', label: 'Beginner', rank: 10 } },
);

/** `PATCH /api/admin/experience-levels/:code`: label, rank or both. */
export const experienceLevelChanges = describe(partialObject({ label: levelLabel, rank: levelRank }), {
  title: 'ExperienceLevelChanges',
  example: { rank: 20 },
});

/** Page size of `GET /api/profile/history` when the query names none. */
export const historyLimitDefault = 50;

/** Query of `GET /api/profile/history`. */
export const historyQuery = {
  limit: describe(integerString({ min: 1, max: 200 }), {
    description: 'How many changes per page (400 `invalid_limit` outside 1–200).',
    default: historyLimitDefault,
  }),
  cursor: describe(string({ min: 1, trim: false }), {
    description: 'The `nextCursor` of the previous page; opaque (400 `invalid_cursor` if it is not one).',
  }),
} as const;
