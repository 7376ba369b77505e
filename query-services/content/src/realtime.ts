import type { RecordedEvent } from '@lectern/schemas';
import * as schema from '@lectern/schemas/content/index';
import type { CourseChange, MediaStep } from '@lectern/schemas/content/socket';
import { courseAccess } from '@lectern/content-projection-catalogue';
import type { ChannelDelivery, RealtimeChannelKind } from '@lectern/infra/runtime/realtime';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const STATUS = {
  'content.CourseSubmittedForReview': 'review',
  'content.CoursePublished': 'published',
  'content.CourseReturnedToDraft': 'draft',
  'content.CourseArchived': 'archived',
  'content.CourseRemoved': 'removed',
} as const;

const PART = {
  'content.CourseDetailsChanged': 'details',
  'content.SectionAdded': 'sections',
  'content.SectionRenamed': 'sections',
  'content.SectionsReordered': 'sections',
  'content.SectionRemoved': 'sections',
  'content.MaterialAdded': 'materials',
  'content.MaterialChanged': 'materials',
  'content.MaterialsReordered': 'materials',
  'content.MaterialRemoved': 'materials',
} as const;

const STEP: Partial<Record<schema.ContentEvent['type'], MediaStep>> = {
  'content.MediaAssetRegistered': 'registered',
  'content.MediaAssetUploadStarted': 'upload_started',
  'content.MediaAssetUploaded': 'uploaded',
  'content.MediaAssetTranscodeRequested': 'transcode_requested',
  'content.MediaAssetTranscodeProgressed': 'transcode_progress',
  'content.MediaAssetTranscoded': 'transcoded',
  'content.MediaAssetTranscodeFailed': 'transcode_failed',
  'content.MediaAssetReady': 'ready',
  'content.MediaAssetFailed': 'failed',
};

/** What an event of the content context shows on its course's channel, and whether only its author and admins see it. */
export const courseChangeOf = (e: RecordedEvent): { change: CourseChange; private: boolean } | null => {
  if (!schema.isContentEvent(e)) return null;
  const at = e.occurredAt;
  const { courseId } = e.data;
  if (e.type in STATUS)
    return {
      change: { change: 'status', courseId, status: STATUS[e.type as keyof typeof STATUS], at },
      private: false,
    };
  if (e.type in PART)
    return {
      change: {
        change: 'edited',
        courseId,
        part: PART[e.type as keyof typeof PART],
        revision: e.revision,
        at,
      },
      private: true,
    };
  if (e.type === 'content.ReviewCommentAdded')
    return {
      change: {
        change: 'comment',
        courseId,
        commentId: e.data.commentId,
        authorId: e.data.authorId,
        body: e.data.body,
        at,
      },
      private: true,
    };
  const step = STEP[e.type];
  if (!step) return null;
  const d = e.data as Partial<schema.MediaAssetTranscodeProgressed & schema.MediaAssetTranscodeFailed>;
  return {
    change: {
      change: 'media',
      courseId,
      assetId: (e.data as { assetId: string }).assetId,
      step,
      ...(d.jobId === undefined ? {} : { jobId: d.jobId }),
      ...(d.percent === undefined ? {} : { percent: d.percent, etaSeconds: d.etaSeconds ?? null }),
      ...(d.reason === undefined ? {} : { reason: d.reason }),
      at,
    },
    private: true,
  };
};

/**
 * `course:<courseId>`, live only: for its author and admins, every change
 * of the course and its media as it happens (an upload finishing, a
 * transcode's percent and time left, a ladder ready, a review comment);
 * for anyone else, once it is published, only where it stands. Nothing is
 * replayed: read the course and its assets over REST, then subscribe (a
 * change between the two comes live). The check reads the catalogue, so a
 * course just created needs a `consistency` frame on `course_catalog` first.
 * An item's seq is its event's global position: unique, not contiguous.
 */
export const courseChannel = (sql: SqlExecutor): RealtimeChannelKind => ({
  kind: 'course',
  contexts: ['content'],
  async authorize(caller, id) {
    if (!UUID.test(id)) return false;
    const course = await courseAccess(sql, id);
    if (!course) return false;
    if (course.authorId === caller.userId || caller.roles.includes('admin')) return true;
    return course.status === 'published' ? 'public' : false;
  },
  route: (e): ChannelDelivery[] => {
    const c = courseChangeOf(e);
    if (!c) return [];
    return [
      {
        id: c.change.courseId,
        item: { seq: e.position, data: c.change, ...(c.private ? { private: true } : {}) },
      },
    ];
  },
});
