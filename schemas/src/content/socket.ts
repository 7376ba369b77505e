import { itemFrame } from '../realtime/protocol.ts';
import {
  describe,
  integer,
  isoTime,
  nullable,
  number,
  object,
  oneOf,
  string,
  uuid,
  type Validator,
} from '../validation.ts';
import { courseStatuses, type CourseStatus } from './fields.ts';

/**
 * Content on the socket (`/ws`): the `course:<courseId>` channel, live
 * only. Its author and admins see every change of the course and of its
 * media (upload and transcoding progress included); anyone else, once the
 * course is published, only where it stands (`status`).
 */

/** A step of a media asset, from registration to a ladder or a failure. */
export const mediaSteps = [
  'registered',
  'upload_started',
  'uploaded',
  'transcode_requested',
  'transcode_progress',
  'transcoded',
  'transcode_failed',
  'ready',
  'failed',
] as const;
export type MediaStep = (typeof mediaSteps)[number];

/** The parts of a draft an edit changes: read the course again (`GET /api/courses/:courseId`) for them. */
export const courseParts = ['details', 'sections', 'materials'] as const;

export type CourseChange =
  | Readonly<{ change: 'status'; courseId: string; status: CourseStatus | 'removed'; at: string }>
  | Readonly<{
      change: 'edited';
      courseId: string;
      part: (typeof courseParts)[number];
      /** The course's revision after the edit: the `ETag` a read of it answers. */
      revision: number;
      at: string;
    }>
  | Readonly<{
      change: 'comment';
      courseId: string;
      commentId: string;
      authorId: string;
      body: string;
      at: string;
    }>
  | Readonly<{
      change: 'media';
      courseId: string;
      assetId: string;
      step: MediaStep;
      jobId?: string;
      percent?: number;
      etaSeconds?: number | null;
      reason?: string;
      at: string;
    }>;

export const courseChange: Validator<unknown> = describe(
  object(
    {
      change: describe(oneOf(['status', 'edited', 'comment', 'media'] as const), {
        description:
          '`status`: the course moved in its workflow (or was removed); `edited`: a draft changed (read it ' +
          'again); `comment`: a review comment; `media`: a step of one of its media assets.',
      }),
      courseId: uuid(),
      at: isoTime(),
      status: oneOf([...courseStatuses, 'removed'] as const),
      part: oneOf(courseParts),
      revision: integer({ min: 0 }),
      commentId: uuid(),
      authorId: string({ min: 1, max: 128 }),
      body: string(),
      assetId: uuid(),
      step: oneOf(mediaSteps),
      jobId: uuid(),
      percent: describe(number({ min: 0, max: 100 }), { description: 'A `transcode_progress`: how far.' }),
      etaSeconds: describe(nullable(number({ min: 0 })), {
        description: 'A `transcode_progress`: seconds left at the speed so far; null until known.',
      }),
      reason: string(),
    },
    {
      optional: [
        'status',
        'part',
        'revision',
        'commentId',
        'authorId',
        'body',
        'assetId',
        'step',
        'jobId',
        'percent',
        'etaSeconds',
        'reason',
      ],
    },
  ),
  { title: 'CourseChange' },
);

export const courseItemFrame = describe(
  itemFrame(
    /^course:[0-9a-f-]{36}$/,
    courseChange,
    'A change of a course: its status for anyone who may read it; edits, review comments and media ' +
      'progress for its author and admins.',
  ),
  { title: 'CourseItemFrame' },
);
