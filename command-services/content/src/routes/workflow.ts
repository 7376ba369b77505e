import { Router, type Request } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import { assetIdsOf, type CourseCommand } from '../domain/course.ts';
import {
  actorOf,
  answer,
  assetStatuses,
  idParam,
  newId,
  readCourse,
  runCourse,
  validated,
  type ContentCommandDeps,
} from './shared.ts';

type Step = Extract<CourseCommand['type'], 'SubmitForReview' | 'ReturnToDraft' | 'ArchiveCourse'>;

/** The workflow (draft → review → published, back to draft, archived) and reviewers' comments. */
export const workflowRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const authors = [auth, requireRole('author', 'admin')];
  const at = () => deps.clock.now().toISOString();

  const step = (path: string, type: Step) =>
    router.post(`/api/courses/:courseId/${path}`, ...authors, async (req: Request, res) => {
      assertRole(req.ctx.actor?.roles, 'author', 'admin');
      const courseId = idParam(req, 'courseId');
      const outcome = await runCourse(deps, req, courseId, { type, actor: actorOf(req), at: at() });
      answer(res, courseId, outcome);
    });
  step('submit', 'SubmitForReview');
  step('return-to-draft', 'ReturnToDraft');
  step('archive', 'ArchiveCourse');

  router.post('/api/courses/:courseId/publish', ...authors, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const courseId = idParam(req, 'courseId');
    // 1. Which assets the course uses, and their statuses, from the store. The
    //    decider re-checks against the course it folds: an asset added since
    //    then is missing from the lookup, and counts as not ready.
    const assets = await assetStatuses(deps.store, assetIdsOf(await readCourse(deps.store, courseId)));
    // 2. Publish at the revision the command reads.
    const outcome = await runCourse(deps, req, courseId, {
      type: 'PublishCourse',
      assets,
      actor: actorOf(req),
      at: at(),
    });
    answer(res, courseId, outcome);
  });

  router.post('/api/courses/:courseId/comments', auth, requireRole('admin'), async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const courseId = idParam(req, 'courseId');
    const body = validated(schema.newComment(jsonBody(req)));
    const commentId = newId(req, 'comment');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'CommentOnReview',
      commentId,
      body: body.body,
      actor: actorOf(req),
      at: at(),
    });
    answer(res, courseId, outcome, { commentId }, 201);
  });

  return router;
};
