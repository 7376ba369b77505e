import { Router, type Request } from 'express';
import { profile as schema } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { sniffedObject } from '@lectern/infra/blobs/stored';
import { authenticate, assertRole, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { jsonBody } from '@lectern/infra/http/app';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { Problem, validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { narrowToImage, profileDecider, type StoredImage } from './domain/profile.ts';
import { experienceLevelDecider, type ExperienceLevelCommand } from './domain/experience-level.ts';

export type ProfileCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  /** Codes of the active experience levels (a read-model lookup). */
  activeExperienceLevels: () => Promise<readonly string[]>;
  /** Where avatars are uploaded to, straight from the client. */
  blobs: BlobStore;
  clock: Clock;
}>;

/** How long an avatar upload URL is good for. */
const AVATAR_UPLOAD_SECONDS = 15 * 60;

/** Where a user's avatar upload lives: under their id, so a caller can only ever name their own. */
export const avatarKey = (userId: string, avatarId: string): string => `avatars/${userId}/${avatarId}`;

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
    const changed = outcome.events.flatMap((e) =>
      e.type === 'profile.ProfileUpdated' ? e.data.changes : [],
    );
    res.json({ userId, revision: outcome.revision, changes: changed });
  });

  // 1. The client says what it will upload; the answer is a URL the storage
  //    holds to that type and exact size. The id comes from the command id,
  //    so a retry under the same Idempotency-Key gets the same one.
  router.post('/api/profile/avatar/presign', auth, async (req, res) => {
    const body = validated(schema.avatarUploadRequest(jsonBody(req)));
    if (body.size > schema.AVATAR_MAX_BYTES)
      throw new Problem(
        'too_large',
        'avatar_too_large',
        `An avatar is at most ${schema.AVATAR_MAX_BYTES} bytes.`,
        {
          extra: { size: body.size, maxBytes: schema.AVATAR_MAX_BYTES },
        },
      );
    const userId = req.ctx.actor!.userId!;
    const avatarId = deterministicUuid(`avatar/${req.ctx.commandId}`);
    const upload = await deps.blobs.presignUpload({
      key: avatarKey(userId, avatarId),
      contentType: body.contentType,
      size: body.size,
      maxSize: schema.AVATAR_MAX_BYTES,
      expiresInSeconds: AVATAR_UPLOAD_SECONDS,
    });
    res.json({ avatarId, upload: { ...upload, expiresAt: upload.expiresAt.toISOString() } });
  });

  // 2. Finalize: what the storage holds is checked (size, magic bytes against
  //    the uploaded type) before it is recorded; an object that fails is deleted.
  router.post('/api/profile/avatar', auth, async (req, res) => {
    const { avatarId } = validated(schema.avatarFinalize(jsonBody(req)));
    const userId = req.ctx.actor!.userId!;
    const key = avatarKey(userId, avatarId);
    const expectedRevision = ifMatchRevision(req);
    const stored = await storedImage(deps.blobs, key);
    let outcome;
    try {
      outcome = await handleCommand({
        ...common(req),
        streamId: schema.profileStreamId(userId),
        decider: profileDecider,
        command: {
          type: 'ChangeAvatar',
          userId,
          avatarId,
          key,
          stored,
          maxBytes: schema.AVATAR_MAX_BYTES,
          at: deps.clock.now().toISOString(),
        },
        ...(expectedRevision === undefined ? {} : { expectedRevision }),
      });
    } catch (error) {
      if (
        error instanceof Problem &&
        (error.code === 'avatar_too_large' || error.code === 'avatar_not_an_image')
      )
        await deps.blobs.delete(key);
      throw error;
    }
    setCommandHeaders(res, outcome.revision, outcome.position);
    res.json({
      userId,
      revision: outcome.revision,
      avatar: { avatarId, contentType: stored!.contentType, size: stored!.size },
    });
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

/** What the storage holds under `key`, with its first bytes sniffed; null when nothing is there. */
const storedImage = async (blobs: BlobStore, key: string): Promise<StoredImage | null> => {
  const stored = await sniffedObject(blobs, key);
  return stored && { ...stored, sniffed: narrowToImage(stored.sniffed) };
};
