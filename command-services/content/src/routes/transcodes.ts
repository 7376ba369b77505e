import { Router, type Request } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import { fold } from '@lectern/infra/runtime/decider';
import { Problem } from '@lectern/infra/runtime/errors';
import { mediaAssetDecider } from '../domain/media-asset.ts';
import { renditionsView } from '../playback.ts';
import { jsonBody } from '@lectern/infra/http/app';
import { actorOf, idParam, readCourse, runMediaAsset, validated, type ContentCommandDeps } from './shared.ts';

/** How long the master playlist's URL in an answer is good for. */
const MASTER_URL_SECONDS = 10 * 60;

/**
 * A video's transcoding as its author sees it (`GET …/media-assets/:assetId`),
 * read from the asset's own events, and the admins' requeue (`POST
 * …/transcode`). The worker itself is `workers/transcoding`.
 */
export const transcodeRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const base = '/api/courses/:courseId/media-assets/:assetId';

  const load = async (req: Request) => {
    const courseId = idParam(req, 'courseId');
    const assetId = idParam(req, 'assetId');
    const course = await readCourse(deps.store, courseId);
    if (course.status === 'none' || course.status === 'removed')
      throw new Problem('not_found', 'course_not_found', 'No such course.');
    const history = await deps.store.readStream(schema.mediaAssetStreamId(assetId));
    const asset = fold(mediaAssetDecider, history);
    if (asset.status === 'none' || asset.courseId !== courseId)
      throw new Problem('not_found', 'media_asset_not_found', 'No such media asset of this course.');
    return { courseId, assetId, course, asset, history };
  };

  router.get(base, authenticate(deps.verify), requireRole('author', 'admin'), async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const { courseId, assetId, course, asset, history } = await load(req);
    const actor = actorOf(req);
    if (course.authorId !== actor.userId && !actor.roles.includes('admin'))
      throw new Problem(
        'forbidden',
        'not_course_author',
        'Only the author of the course or an admin may do this.',
      );
    // The last progress report, if no ladder or failure has come after the request it belongs to.
    let transcode: schema.MediaAssetTranscodeProgressed | null = null;
    for (const e of history) {
      if (e.type === 'content.MediaAssetTranscodeRequested') transcode = null;
      else if (e.type === 'content.MediaAssetTranscodeProgressed')
        transcode = e.data as schema.MediaAssetTranscodeProgressed;
      else if (e.type === 'content.MediaAssetTranscoded' || e.type === 'content.MediaAssetTranscodeFailed') {
        const done = (e.data as { jobId: string }).jobId;
        if (transcode?.jobId === done) transcode = null;
      }
    }
    const ladder = 'ladder' in asset ? asset.ladder : null;
    const master = ladder
      ? await deps.blobs.presignDownload(ladder.master, { expiresInSeconds: MASTER_URL_SECONDS })
      : null;
    res.setHeader('Cache-Control', 'private, no-store');
    res.json({
      assetId,
      courseId,
      kind: asset.kind,
      title: asset.title,
      status: asset.status,
      reason: asset.status === 'failed' ? asset.reason : null,
      transcode: transcode && {
        jobId: transcode.jobId,
        percent: transcode.percent,
        etaSeconds: transcode.etaSeconds,
        at: transcode.at,
      },
      ladder:
        ladder && master
          ? {
              jobId: ladder.jobId,
              durationSeconds: ladder.durationSeconds,
              renditions: renditionsView(ladder.renditions),
              masterUrl: master.url,
              masterUrlExpiresAt: master.expiresAt.toISOString(),
            }
          : null,
      revision: history.at(-1)!.revision,
    });
  });

  router.post(`${base}/transcode`, authenticate(deps.verify), requireRole('admin'), async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    // The body first: bad input is 400 whatever it names (the text rule).
    const body = validated(schema.transcodeRequest(jsonBody(req)));
    const { courseId, assetId } = await load(req);
    const outcome = await runMediaAsset(deps, req, assetId, {
      type: 'RequestTranscode',
      actor: actorOf(req),
      at: deps.clock.now().toISOString(),
      renditions: body.rendition ? [body.rendition] : null,
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.status(202).json({ assetId, courseId, status: outcome.state.status, revision: outcome.revision });
  });

  return router;
};
