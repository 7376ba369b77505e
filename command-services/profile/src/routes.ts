import { Router, type Request } from 'express';
import { profile as schema } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { jsonBody } from '@lectern/infra/http/app';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { profileDecider } from './domain/profile.ts';
import { experienceLevelDecider, type ExperienceLevelCommand } from './domain/experience-level.ts';

export type ProfileCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  /** Codes of the active experience levels (a read-model lookup). */
  activeExperienceLevels: () => Promise<readonly string[]>;
  clock: Clock;
}>;

const validated = <T>(
  r: { ok: true; value: T } | { ok: false; issues: { path: string; message: string }[] },
): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

/** The id of a level is derived from its code, so defining a code twice meets the same stream. */
export const experienceLevelId = (code: string): string => deterministicUuid(`experience-level/${code}`);

/** Commands of the profile context: `PUT /api/profile` and the admin routes for experience levels. */
export const profileCommandRoutes = (deps: ProfileCommandDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);
  const common = (req: Request) => ({
    store: deps.store,
    catalogue: schema.profileEvents,
    commandId: req.ctx.commandId,
    occurredAt: deps.clock.now().toISOString(),
    metadata: eventMetadata(req.ctx),
  });

  router.put('/api/profile', auth, async (req, res) => {
    const changes = validated(schema.profileChanges(jsonBody(req)));
    const expectedRevision = ifMatchRevision(req);
    const userId = req.ctx.actor!.userId!;
    const outcome = await handleCommand({
      ...common(req),
      streamId: schema.profileStreamId(userId),
      decider: profileDecider,
      command: {
        type: 'UpdateProfile',
        userId,
        changes,
        knownExperienceLevels: changes.experienceLevel ? await deps.activeExperienceLevels() : [],
        at: deps.clock.now().toISOString(),
      },
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    const changed = outcome.events.flatMap((e) => e.data.changes);
    res.json({ userId, revision: outcome.revision, changes: changed });
  });

  const admin = [auth, requireRole('admin')];
  const runLevel = async (req: Request, code: string, command: ExperienceLevelCommand) => {
    assertRole(req.ctx.actor?.roles, 'admin');
    const expectedRevision = ifMatchRevision(req);
    return handleCommand({
      ...common(req),
      streamId: schema.experienceLevelStreamId(experienceLevelId(code)),
      decider: experienceLevelDecider,
      command,
      ...(expectedRevision === undefined ? {} : { expectedRevision }),
    });
  };

  router.post('/api/admin/experience-levels', ...admin, async (req, res) => {
    const body = validated(schema.newExperienceLevel(jsonBody(req)));
    const at = deps.clock.now().toISOString();
    const outcome = await runLevel(req, body.code, {
      type: 'DefineExperienceLevel',
      levelId: experienceLevelId(body.code),
      ...body,
      at,
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res
      .status(201)
      .location(`/api/admin/experience-levels/${body.code}`)
      .json({ ...body, revision: outcome.revision });
  });

  router.patch('/api/admin/experience-levels/:code', ...admin, async (req, res) => {
    const code = validated(schema.experienceLevelCode(req.params.code, '/code'));
    const body = validated(schema.experienceLevelChanges(jsonBody(req)));
    const outcome = await runLevel(req, code, {
      type: 'ChangeExperienceLevel',
      ...body,
      at: deps.clock.now().toISOString(),
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ code, revision: outcome.revision });
  });

  router.delete('/api/admin/experience-levels/:code', ...admin, async (req, res) => {
    const code = validated(schema.experienceLevelCode(req.params.code, '/code'));
    const outcome = await runLevel(req, code, {
      type: 'RetireExperienceLevel',
      at: deps.clock.now().toISOString(),
    });
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({ code, revision: outcome.revision, status: 'retired' });
  });

  return router;
};
