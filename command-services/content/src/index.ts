import { Router } from 'express';
import { courseRoutes } from './routes/courses.ts';
import { mediaAssetRoutes } from './routes/media-assets.ts';
import { playbackRoutes } from './routes/playback.ts';
import type { ContentCommandDeps } from './routes/shared.ts';
import { uploadRoutes } from './routes/uploads.ts';
import { structureRoutes } from './routes/structure.ts';
import { transcodeRoutes } from './routes/transcodes.ts';
import { workflowRoutes } from './routes/workflow.ts';

export type { ContentCommandDeps } from './routes/shared.ts';
export { transcodeLedger } from './transcode-ledger.ts';
export { courseDecider, type Course, type CourseCommand } from './domain/course.ts';
export {
  mediaAssetDecider,
  sniffMedia,
  type MediaAsset,
  type MediaAssetCommand,
} from './domain/media-asset.ts';

/** Commands of the content context: courses, their structure, workflow and review, media assets. */
export const contentCommandRoutes = (deps: ContentCommandDeps): Router =>
  Router().use(
    courseRoutes(deps),
    structureRoutes(deps),
    workflowRoutes(deps),
    mediaAssetRoutes(deps),
    uploadRoutes(deps),
    transcodeRoutes(deps),
    playbackRoutes(deps),
  );
