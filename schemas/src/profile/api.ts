import {
  commandHeaders,
  commandResponseHeaders,
  queryHeaders,
  queryResponseHeaders,
  type ApiOperation,
} from '../openapi.ts';
import {
  arrayOf,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  partialObject,
  string,
  uuid,
} from '../validation.ts';
import {
  experienceLevelCode,
  learningGoals,
  locales,
  profileChanges,
  profileFieldNames,
  socialProviders,
  visibilities,
} from './fields.ts';
import {
  avatarFinalize,
  avatarUploadRequest,
  experienceLevelChanges,
  historyQuery,
  newExperienceLevel,
} from './requests.ts';
import { avatarTypes } from './events.ts';

/*
 * What profile's routes answer. No handler validates its own answers; the
 * e2e test checks real answers against these, so the document cannot drift
 * from what the routes send.
 */

const revision = describe(integer({ min: -1 }), {
  description: 'The stream revision after the command (`-1`: nothing was ever written).',
});
const levelStatus = oneOf(['active', 'retired']);

export const profileDocument = describe(
  object({
    userId: uuid(),
    displayName: nullable(string()),
    bio: nullable(string()),
    locale: oneOf(locales),
    timezone: nullable(string()),
    learningGoal: nullable(oneOf(learningGoals)),
    visibility: oneOf(visibilities),
    experienceLevel: nullable(string()),
    socialLinks: partialObject(Object.fromEntries(socialProviders.map((p) => [p, string()]))),
    createdAt: describe(nullable(isoTime()), {
      description: 'When the profile was first saved; `null` before.',
    }),
    updatedAt: nullable(isoTime()),
    avatarUrl: describe(nullable(string()), {
      description:
        'A short-lived URL of the avatar image (it expires within minutes: read the profile again for a fresh ' +
        'one); `null` without an avatar.',
    }),
  }),
  { title: 'Profile', description: 'A profile; before its first change, the defaults.' },
);

const presignedRequest = object({
  method: oneOf(['PUT']),
  url: describe(string(), { description: 'Where to send the file; it carries its own signature.' }),
  headers: describe(object({ 'content-type': string() }), {
    description:
      'Send these as given, with a body of exactly the stated size: the storage refuses another type or length.',
  }),
  expiresAt: isoTime(),
});

export const avatarUpload = describe(object({ avatarId: uuid(), upload: presignedRequest }), {
  title: 'AvatarUpload',
  description: 'Send the file to `upload.url` as given, then finalize with `avatarId`.',
});

export const avatarResult = describe(
  object({
    userId: uuid(),
    revision,
    avatar: object({ avatarId: uuid(), contentType: oneOf(avatarTypes), size: integer({ min: 1 }) }),
  }),
  { title: 'AvatarResult' },
);

const fieldChange = object({
  field: describe(oneOf(profileFieldNames), {
    description: 'The field; social links as `socialLinks.<provider>`.',
  }),
  from: nullable(string()),
  to: nullable(string()),
});

export const profileUpdateResult = describe(
  object({ userId: uuid(), revision, changes: arrayOf(fieldChange) }),
  {
    title: 'ProfileUpdateResult',
    description: 'What changed (fields set to their current value are left out).',
  },
);

export const profileHistoryPage = describe(
  object({
    items: arrayOf(
      object({
        field: oneOf(profileFieldNames),
        oldValue: nullable(string()),
        newValue: nullable(string()),
        changedAt: isoTime(),
        actorId: describe(nullable(string()), { description: 'Who made the change (a user id).' }),
        eventId: uuid(),
      }),
    ),
    nextCursor: describe(nullable(string()), {
      description: 'Send as `cursor` for the next page; `null` at the end.',
    }),
  }),
  { title: 'ProfileHistoryPage', description: 'Changes, newest first.' },
);

export const experienceLevelList = describe(
  object({ items: arrayOf(object({ code: experienceLevelCode, label: string(), rank: integer() })) }),
  { title: 'ExperienceLevelList', description: 'Active levels by rank.' },
);

export const adminExperienceLevelList = describe(
  object({
    items: arrayOf(
      object({
        levelId: uuid(),
        code: experienceLevelCode,
        label: string(),
        rank: integer(),
        status: levelStatus,
        updatedAt: isoTime(),
      }),
    ),
  }),
  { title: 'AdminExperienceLevelList', description: 'Every level, retired ones included, by rank.' },
);

const definedLevel = describe(
  object({ code: experienceLevelCode, label: string(), rank: integer(), revision }),
  { title: 'DefinedExperienceLevel' },
);
const changedLevel = object({ code: experienceLevelCode, revision });
const retiredLevel = object({ code: experienceLevelCode, revision, status: oneOf(['retired']) });

const levelParams = { code: experienceLevelCode } as const;
const admin = { roles: ['admin'] } as const;

/** Tags of profile's operations, with what they cover. */
export const profileTags: Readonly<Record<string, string>> = {
  profile: "A learner's own profile and its history of changes.",
  'experience-levels': 'The admin-managed list of experience levels a profile can name.',
};

/** Every route profile mounts (command-services/profile and query-services/profile). */
export const profileApi: readonly ApiOperation[] = [
  {
    method: 'put',
    path: '/api/profile',
    operationId: 'updateProfile',
    summary: 'Change your profile',
    description:
      'Changes any subset of the fields of the caller (the token subject); `null` clears a field. Fields already ' +
      'at the sent value are not changed again.',
    tags: ['profile'],
    security: 'bearer',
    headers: commandHeaders,
    body: profileChanges,
    responses: {
      200: {
        description: 'The profile was changed.',
        body: profileUpdateResult,
        headers: commandResponseHeaders,
      },
    },
    errors: [
      {
        status: 400,
        description:
          'The changes are not valid (`validation_failed` with `errors[]`, `unknown_experience_level`), or the ' +
          'body or `If-Match` cannot be read (`malformed_json`, `unsupported_media_type`, `invalid_if_match`).',
      },
      { status: 409, description: 'Others kept changing the profile; retry (`concurrent_modification`).' },
      412,
    ],
  },
  {
    method: 'post',
    path: '/api/profile/avatar/presign',
    operationId: 'presignAvatarUpload',
    summary: 'Get a URL to upload your avatar to',
    description:
      'Answers a signed PUT for a JPEG or PNG of the stated size (at most 5 MiB), valid for 15 minutes. The ' +
      'bytes go straight to the storage, which refuses another type or length; then call `finalizeAvatar`. ' +
      'It changes no profile, so it takes no `If-Match`.',
    tags: ['profile'],
    security: 'bearer',
    body: avatarUploadRequest,
    responses: { 200: { description: 'Where and how to upload.', body: avatarUpload } },
    errors: [
      { status: 400, description: 'Not a JPEG or PNG, or not a size (`validation_failed`).' },
      { status: 413, description: 'More than 5 MiB (`avatar_too_large`).' },
    ],
  },
  {
    method: 'post',
    path: '/api/profile/avatar',
    operationId: 'finalizeAvatar',
    summary: 'Make an uploaded image your avatar',
    description:
      'Checks the uploaded object (its size, and that its first bytes are a JPEG or a PNG of the type it was ' +
      'uploaded as) and records it as your avatar. The profile then answers a short-lived `avatarUrl`.',
    tags: ['profile'],
    security: 'bearer',
    headers: commandHeaders,
    body: avatarFinalize,
    responses: {
      200: { description: 'The avatar was changed.', body: avatarResult, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description:
          'The bytes are not a JPEG or PNG of the uploaded type (`avatar_not_an_image`; the object is deleted), ' +
          'or the body cannot be read.',
      },
      { status: 409, description: 'Nothing was uploaded for this id (`avatar_not_uploaded`).' },
      { status: 413, description: 'The object is larger than 5 MiB (`avatar_too_large`; it is deleted).' },
      412,
    ],
  },
  {
    method: 'get',
    path: '/api/profile',
    operationId: 'getProfile',
    summary: 'Read your profile',
    description:
      'The profile of the caller, with `ETag` its revision (`"-1"` before the first change: the defaults). Send ' +
      "a command's `X-Consistency-Token` to read your own write.",
    tags: ['profile'],
    security: 'bearer',
    headers: queryHeaders,
    responses: {
      200: {
        description: 'The profile.',
        body: profileDocument,
        headers: { ETag: 'The revision of the profile, for `If-Match`.', ...queryResponseHeaders },
      },
    },
    errors: [{ status: 400, description: 'The consistency token is not one a command returned.' }],
  },
  {
    method: 'get',
    path: '/api/profile/history',
    operationId: 'listProfileHistory',
    summary: 'Read the history of your profile',
    description: 'Every change of every field, newest first, a page at a time.',
    tags: ['profile'],
    security: 'bearer',
    query: historyQuery,
    headers: queryHeaders,
    responses: {
      200: { description: 'A page of changes.', body: profileHistoryPage, headers: queryResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description: '`invalid_limit`, `invalid_cursor`, or a consistency token no command returned.',
      },
    ],
  },
  {
    method: 'get',
    path: '/api/experience-levels',
    operationId: 'listExperienceLevels',
    summary: 'List the experience levels',
    description: 'The active levels, by rank: the values `experienceLevel` can take.',
    tags: ['experience-levels'],
    security: 'bearer',
    responses: { 200: { description: 'The active levels.', body: experienceLevelList } },
  },
  {
    method: 'get',
    path: '/api/admin/experience-levels',
    operationId: 'adminListExperienceLevels',
    summary: 'List every experience level',
    description: 'Every level with its status, retired ones included.',
    tags: ['experience-levels'],
    security: admin,
    responses: { 200: { description: 'All levels.', body: adminExperienceLevelList } },
  },
  {
    method: 'post',
    path: '/api/admin/experience-levels',
    operationId: 'defineExperienceLevel',
    summary: 'Define an experience level',
    description: 'Adds a level; its code names it for good (a retired code can be defined again).',
    tags: ['experience-levels'],
    security: admin,
    headers: commandHeaders,
    body: newExperienceLevel,
    responses: {
      201: {
        description: 'The level was defined.',
        body: definedLevel,
        headers: { ...commandResponseHeaders, Location: 'Where the level can be changed or retired.' },
      },
    },
    errors: [
      {
        status: 409,
        description:
          'A level with this code is active (`experience_level_exists`), or others kept changing it ' +
          '(`concurrent_modification`).',
      },
      412,
    ],
  },
  {
    method: 'patch',
    path: '/api/admin/experience-levels/:code',
    operationId: 'changeExperienceLevel',
    summary: 'Change an experience level',
    description: 'Changes the label, the rank or both.',
    tags: ['experience-levels'],
    security: admin,
    params: levelParams,
    headers: commandHeaders,
    body: experienceLevelChanges,
    responses: {
      200: { description: 'The level was changed.', body: changedLevel, headers: commandResponseHeaders },
    },
    errors: [
      { status: 404, description: 'No active level has this code (`experience_level_not_found`).' },
      { status: 409, description: 'Others kept changing the level; retry (`concurrent_modification`).' },
      412,
    ],
  },
  {
    method: 'delete',
    path: '/api/admin/experience-levels/:code',
    operationId: 'retireExperienceLevel',
    summary: 'Retire an experience level',
    description: 'Profiles keep a retired level; it can no longer be chosen.',
    tags: ['experience-levels'],
    security: admin,
    params: levelParams,
    headers: commandHeaders,
    responses: {
      200: { description: 'The level was retired.', body: retiredLevel, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description: 'The code is not valid (`validation_failed`) or `If-Match` cannot be read.',
      },
      { status: 404, description: 'No active level has this code (`experience_level_not_found`).' },
      { status: 409, description: 'Others kept changing the level; retry (`concurrent_modification`).' },
      412,
    ],
  },
];
