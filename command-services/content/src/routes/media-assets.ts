import { Router } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import { setCommandHeaders } from '@lectern/infra/http/headers';
import {
  actorOf,
  idParam,
  newId,
  readCourse,
  runMediaAsset,
  validated,
  type ContentCommandDeps,
} from './shared.ts';

/** Media assets of a course. Registering one is all there is until uploads land. */
export const mediaAssetRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();

  router.post(
    '/api/courses/:courseId/media-assets',
    authenticate(deps.verify),
    requireRole('author', 'admin'),
    async (req, res) => {
      assertRole(req.ctx.actor?.roles, 'author', 'admin');
      const courseId = idParam(req, 'courseId');
      const body = validated(schema.newMediaAsset(jsonBody(req)));
      const course = await readCourse(deps.store, courseId);
      const assetId = newId(req, 'media-asset');
      const outcome = await runMediaAsset(deps, req, assetId, {
        type: 'RegisterMediaAsset',
        assetId,
        courseId,
        ...body,
        course: 'authorId' in course ? { authorId: course.authorId } : null,
        actor: actorOf(req),
        at: deps.clock.now().toISOString(),
      });
      setCommandHeaders(res, outcome.revision, outcome.position);
      res
        .status(201)
        .location(`/api/courses/${courseId}`)
        .json({ assetId, courseId, status: outcome.state.status, revision: outcome.revision });
    },
  );

  return router;
};
