import { Router } from 'express';
import { profile as schema } from '@lectern/schemas';
import { authenticate, requireRole, type VerifiedToken } from '@lectern/infra/http/auth';
import { awaitConsistency, type WaitFor } from '@lectern/infra/http/headers';
import { Problem } from '@lectern/infra/runtime/errors';
import type { SqlExecutor } from '@lectern/infra/sql/sql';
import { emptyProfile, type ProfileDocument } from '@lectern/profile-projection-profiles';
import type { ProfileHistoryEntry } from '@lectern/profile-projection-history';
import type { ExperienceLevelDocument } from '@lectern/profile-projection-experience-levels';

export type ProfileQueryDeps = Readonly<{
  /** The database holding the read models. */
  sql: SqlExecutor;
  verify: (token: string) => Promise<VerifiedToken>;
  waitFor: WaitFor;
}>;

/** History cursors are opaque to clients: base64url of the last row's (position, seq). */
const encodeCursor = (position: number, seq: number): string =>
  Buffer.from(`${position}:${seq}`).toString('base64url');
const decodeCursor = (cursor: string): [number, number] => {
  const m = /^(\d{1,15}):(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!m) throw new Problem('validation', 'invalid_cursor', 'The cursor is not one this API returned.');
  return [Number(m[1]), Number(m[2])];
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

/** Queries of the profile context over the `profiles`, `profile_history` and `experience_levels` read models. */
export const profileQueryRoutes = (deps: ProfileQueryDeps): Router => {
  const router = Router();
  const auth = authenticate(deps.verify);

  router.get('/api/profile', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    await awaitConsistency(req, res, deps.waitFor, 'profiles', schema.profileStreamId(userId));
    const [row] = await deps.sql.query<{ doc: ProfileDocument; revision: string }>(
      'select doc, revision from profiles where id = $1',
      [userId],
    );
    // A user who never saved a profile has the defaults, at no revision yet.
    res.setHeader('ETag', `"${row ? Number(row.revision) : -1}"`);
    res.json(row ? row.doc : { ...emptyProfile(userId), createdAt: null, updatedAt: null });
  });

  router.get('/api/profile/history', auth, async (req, res) => {
    const userId = req.ctx.actor!.userId!;
    const limit = limitOf(req.query.limit);
    const after = typeof req.query.cursor === 'string' ? decodeCursor(req.query.cursor) : null;
    await awaitConsistency(req, res, deps.waitFor, 'profile_history', schema.profileStreamId(userId));
    const rows = await deps.sql.query<{
      event_id: string;
      field: string;
      old_value: string | null;
      new_value: string | null;
      changed_at: Date | string;
      actor_id: string | null;
      position: string;
      seq: number;
    }>(
      `select event_id::text as event_id, field, old_value, new_value, changed_at, actor_id, position, seq
       from profile_history where user_id = $1 ${after ? 'and (position, seq) < ($3, $4)' : ''}
       order by position desc, seq desc limit $2`,
      after ? [userId, limit + 1, after[0], after[1]] : [userId, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const items: ProfileHistoryEntry[] = page.map((r) => ({
      field: r.field,
      oldValue: r.old_value,
      newValue: r.new_value,
      changedAt: new Date(r.changed_at).toISOString(),
      actorId: r.actor_id,
      eventId: r.event_id,
    }));
    res.json({
      items,
      nextCursor: rows.length > limit && last ? encodeCursor(Number(last.position), last.seq) : null,
    });
  });

  const levels = async (includeRetired: boolean): Promise<ExperienceLevelDocument[]> =>
    (
      await deps.sql.query<{ doc: ExperienceLevelDocument }>(
        `select doc from experience_levels ${includeRetired ? '' : `where doc->>'status' = 'active'`}
         order by (doc->>'rank')::int, id`,
      )
    ).map((r) => r.doc);

  router.get('/api/experience-levels', auth, async (_req, res) => {
    res.json({ items: (await levels(false)).map(({ code, label, rank }) => ({ code, label, rank })) });
  });

  router.get('/api/admin/experience-levels', auth, requireRole('admin'), async (req, res) => {
    res.json({ items: await levels(true) });
  });

  return router;
};

/** Active level codes, for the command side's validation of `experienceLevel`. */
export const activeExperienceLevelCodes = async (sql: SqlExecutor): Promise<string[]> =>
  (await sql.query<{ id: string }>(`select id from experience_levels where doc->>'status' = 'active'`)).map(
    (r) => r.id,
  );
