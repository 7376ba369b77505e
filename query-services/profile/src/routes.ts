import { Router } from 'express';
import { profile as schema } from '@lectern/schemas';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import { emptyProfile, profileOf, profilesProjection } from '@lectern/profile-projection-profiles';
import {
  historyPage,
  profileHistoryProjection,
  type HistoryCursor,
} from '@lectern/profile-projection-history';
import { experienceLevels } from '@lectern/profile-projection-experience-levels';

export type ProfileQueryDeps = Readonly<{
  /** The database holding the read models. */
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
  /** Signs the short-lived URL of an avatar. */
  blobs: BlobStore;
}>;

/** How long the avatar URL in a profile answer is good for. */
const AVATAR_URL_SECONDS = 5 * 60;

/** History cursors are opaque to clients: base64url of the last row's (position, seq). */
const encodeCursor = (position: number, seq: number): string =>
  Buffer.from(`${position}:${seq}`).toString('base64url');
const decodeCursor = (cursor: string): HistoryCursor => {
  const m = /^(\d{1,15}):(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new Problem('validation', 'invalid_cursor', 'The cursor is not one this API returned.');
  return { position: Number(m[1]), seq: Number(m[2]) };
};

const limitOf = (raw: unknown): number => {
  if (raw === undefined) return schema.historyLimitDefault;
  const r = schema.historyQuery.limit(raw, '/limit');
  if (!r.ok)
    throw new Problem('validation', 'invalid_limit', 'limit must be an integer from 1 to 200.', {
      issues: [{ path: '/limit', message: 'must be an integer from 1 to 200' }],
    });
  return r.value;
};

/** Queries of the profile context over its read models, through their readers. */
export const profileQueryRoutes = (deps: ProfileQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  router.get('/api/profile', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    await awaitConsistency(req, res, deps.waitFor, profilesProjection.name, schema.profileStreamId(userId));
    const found = await profileOf(deps.sql, userId);
    // A user who never saved a profile has the defaults, at no revision yet.
    res.setHeader('ETag', `"${found ? found.revision : -1}"`);
    const { avatar = null, ...profile } = found
      ? found.profile
      : { ...emptyProfile(userId), createdAt: null, updatedAt: null };
    const avatarUrl = avatar
      ? (await deps.blobs.presignDownload(avatar.key, { expiresInSeconds: AVATAR_URL_SECONDS })).url
      : null;
    res.json({ ...profile, avatarUrl });
  });

  router.get('/api/profile/history', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    const limit = limitOf(req.query.limit);
    const after = typeof req.query.cursor === 'string' ? decodeCursor(req.query.cursor) : null;
    await awaitConsistency(
      req,
      res,
      deps.waitFor,
      profileHistoryProjection.name,
      schema.profileStreamId(userId),
    );
    const page = await historyPage(deps.sql, userId, { limit, after });
    res.json({
      items: page.items,
      nextCursor: page.next ? encodeCursor(page.next.position, page.next.seq) : null,
    });
  });

  router.get('/api/experience-levels', auth, async (_req, res) => {
    const levels = await experienceLevels(deps.sql, { includeRetired: false });
    res.json({ items: levels.map(({ code, label, rank }) => ({ code, label, rank })) });
  });

  router.get('/api/admin/experience-levels', auth, requireRole('admin'), async (req, res) => {
    res.json({ items: await experienceLevels(deps.sql, { includeRetired: true }) });
  });

  return router;
};
