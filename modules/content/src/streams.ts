import { courseDecider, mediaAssetDecider } from '@lectern/content-commands';
import { aggregateStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import { contentEvents } from '@lectern/schemas/content/events';

/** Content's aggregates, as the audit tools read them. */
export const contentStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'course',
    description: 'a course: its sections, materials, workflow and review',
    decider: courseDecider,
    catalogue: contentEvents,
    types: {
      'content.CourseCreated': true,
      'content.CourseDetailsChanged': true,
      'content.CourseRemoved': true,
      'content.SectionAdded': true,
      'content.SectionRenamed': true,
      'content.SectionsReordered': true,
      'content.SectionRemoved': true,
      'content.MaterialAdded': true,
      'content.MaterialChanged': true,
      'content.MaterialsReordered': true,
      'content.MaterialRemoved': true,
      'content.CourseSubmittedForReview': true,
      'content.CoursePublished': true,
      'content.CourseReturnedToDraft': true,
      'content.CourseArchived': true,
      'content.ReviewCommentAdded': true,
    },
  }),
  aggregateStream({
    category: 'mediaasset',
    description: 'a media asset: its upload and transcoding',
    decider: mediaAssetDecider,
    catalogue: contentEvents,
    types: {
      'content.MediaAssetRegistered': true,
      'content.MediaAssetUploadStarted': true,
      'content.MediaAssetUploaded': true,
      'content.MediaAssetTranscodeRequested': true,
      'content.MediaAssetReady': true,
      'content.MediaAssetFailed': true,
      'content.MediaAssetTranscodeProgressed': true,
      'content.MediaAssetTranscoded': true,
      'content.MediaAssetTranscodeFailed': true,
    },
  }),
];
