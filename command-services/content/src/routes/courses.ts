import { Router } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import { actorOf, answer, idParam, newId, runCourse, validated, type ContentCommandDeps } from './shared.ts';

/** Create, change and remove a course. */
export const courseRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('author', 'admin')];
  const at = () => deps.clock.now().toISOString();

  router.post('/api/courses', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const body = validated(schema.newCourse(jsonBody(req)));
    const courseId = newId(req, 'course');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'CreateCourse',
      courseId,
      ...body,
      actor: actorOf(req),
      at: at(),
    });
    answer(res, courseId, outcome, {}, 201);
  });

  router.patch('/api/courses/:courseId', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const courseId = idParam(req, 'courseId');
    const body = validated(schema.courseChanges(jsonBody(req)));
    const outcome = await runCourse(deps, req, courseId, {
      type: 'ChangeCourse',
      ...body,
      actor: actorOf(req),
      at: at(),
    });
    answer(res, courseId, outcome);
  });

  router.delete('/api/courses/:courseId', ...guard, async (req, res) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    const courseId = idParam(req, 'courseId');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'RemoveCourse',
      actor: actorOf(req),
      at: at(),
    });
    answer(res, courseId, outcome);
  });

  return router;
};
