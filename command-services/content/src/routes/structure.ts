import { Router } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { jsonBody } from '@lectern/infra/http/app';
import { assertRole, authenticate, requireRole } from '@lectern/infra/http/auth';
import {
  actorOf,
  answer,
  assetLookup,
  idParam,
  newId,
  runCourse,
  validated,
  type ContentCommandDeps,
} from './shared.ts';

/** Sections and materials of a course: add, change, order, remove. */
export const structureRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const guard = [authenticate(deps.verify), requireRole('author', 'admin')];
  const at = () => deps.clock.now().toISOString();
  const base = '/api/courses/:courseId/sections';
  const by = (req: Parameters<typeof actorOf>[0]) => {
    assertRole(req.ctx.actor?.roles, 'author', 'admin');
    return { actor: actorOf(req), at: at() };
  };

  router.post(base, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const body = validated(schema.newSection(jsonBody(req)));
    const sectionId = newId(req, 'section');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'AddSection',
      sectionId,
      ...body,
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId }, 201);
  });

  router.patch(`${base}/:sectionId`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const body = validated(schema.sectionChanges(jsonBody(req)));
    const outcome = await runCourse(deps, req, courseId, {
      type: 'RenameSection',
      sectionId,
      ...body,
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId });
  });

  router.delete(`${base}/:sectionId`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const outcome = await runCourse(deps, req, courseId, { type: 'RemoveSection', sectionId, ...by(req) });
    answer(res, courseId, outcome, { sectionId });
  });

  router.put('/api/courses/:courseId/section-order', ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const body = validated(schema.sectionOrder(jsonBody(req)));
    const outcome = await runCourse(deps, req, courseId, { type: 'ReorderSections', ...body, ...by(req) });
    answer(res, courseId, outcome);
  });

  router.post(`${base}/:sectionId/materials`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const body = validated(schema.newMaterial(jsonBody(req)));
    const materialId = newId(req, 'material');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'AddMaterial',
      sectionId,
      materialId,
      ...body,
      asset: await assetLookup(deps.store, body.assetId),
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId, materialId }, 201);
  });

  router.patch(`${base}/:sectionId/materials/:materialId`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const materialId = idParam(req, 'materialId');
    const body = validated(schema.materialChanges(jsonBody(req)));
    const outcome = await runCourse(deps, req, courseId, {
      type: 'ChangeMaterial',
      sectionId,
      materialId,
      ...body,
      asset: await assetLookup(deps.store, body.assetId),
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId, materialId });
  });

  router.delete(`${base}/:sectionId/materials/:materialId`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const materialId = idParam(req, 'materialId');
    const outcome = await runCourse(deps, req, courseId, {
      type: 'RemoveMaterial',
      sectionId,
      materialId,
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId, materialId });
  });

  router.put(`${base}/:sectionId/material-order`, ...guard, async (req, res) => {
    const courseId = idParam(req, 'courseId');
    const sectionId = idParam(req, 'sectionId');
    const body = validated(schema.materialOrder(jsonBody(req)));
    const outcome = await runCourse(deps, req, courseId, {
      type: 'ReorderMaterials',
      sectionId,
      ...body,
      ...by(req),
    });
    answer(res, courseId, outcome, { sectionId });
  });

  return router;
};
