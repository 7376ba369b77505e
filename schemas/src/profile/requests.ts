import {
  describe,
  integer,
  integerString,
  object,
  oneOf,
  partialObject,
  string,
  uuid,
} from '../validation.ts';
import { avatarTypes } from './events.ts';
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

/** The largest avatar, in bytes: 5 MiB. */
export const AVATAR_MAX_BYTES = 5 * 1024 * 1024;

/**
 * `POST /api/profile/avatar/presign`: what the client is about to upload.
 * The size is checked against the limit by the route (413), not here, so an
 * oversize image gets its own answer.
 */
export const avatarUploadRequest = describe(
  object({
    contentType: describe(oneOf(avatarTypes), { description: 'The image type; the upload must send it.' }),
    size: describe(integer({ min: 1, max: 2 ** 40 }), {
      description: `The exact size of the file in bytes; at most ${AVATAR_MAX_BYTES} (5 MiB), else 413.`,
      example: 48213,
    }),
  }),
  { title: 'AvatarUploadRequest', example: { contentType: 'image/png', size: 48213 } },
);

/** `POST /api/profile/avatar`: the upload to make the avatar, by the id presign gave. */
export const avatarFinalize = describe(
  object({
    avatarId: describe(uuid(), {
      description: 'The `avatarId` the presign answer gave.',
      example: '0b8f4b5e-7d7f-4c1e-9a51-6a3c7e2d9f10',
    }),
  }),
  // No whole-body example: an id means something only after its upload.
  { title: 'AvatarFinalize' },
);
