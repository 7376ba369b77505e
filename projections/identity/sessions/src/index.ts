import { identity as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'identity_sessions';

/** A row of `identity_sessions`: one refresh-token family, i.e. one login on one device. */
export type IdentitySession = Readonly<{
  familyId: string;
  userId: string;
  device: schema.Device | null;
  startedAt: string;
  lastRotatedAt: string | null;
  rotations: number;
  expiresAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
}>;

/**
 * Sessions (token families) per user: what a "where am I logged in" page
 * shows. Guarded by the family stream's revision, so replays are no-ops.
 */
export const identitySessionsProjection: SqlProjection = {
  name: 'identity_sessions',
  version: 1,
  contexts: ['identity'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: ['identity.TokenFamilyStarted', 'identity.RefreshTokenRotated', 'identity.TokenFamilyRevoked'],
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      family_id uuid primary key,
      user_id uuid not null,
      device jsonb,
      started_at timestamptz not null,
      last_rotated_at timestamptz,
      rotations int not null default 0,
      expires_at timestamptz not null,
      revoked_at timestamptz,
      revoke_reason text,
      revision bigint not null
    );
    create index if not exists identity_sessions_by_user on ${t[TABLE]} (user_id, started_at desc)`,
  async apply(tx, batch, t) {
    const table = t[TABLE]!;
    for (const e of batch) {
      if (!schema.isIdentityEvent(e)) continue;
      switch (e.type) {
        case 'identity.TokenFamilyStarted': {
          const d = e.data;
          await tx.query(
            `insert into ${table} (family_id, user_id, device, started_at, expires_at, revision)
             values ($1, $2, $3, $4, $5, $6) on conflict (family_id) do nothing`,
            [
              d.familyId,
              d.userId,
              d.device === null ? null : JSON.stringify(d.device),
              d.startedAt,
              d.expiresAt,
              e.revision,
            ],
          );
          break;
        }
        case 'identity.RefreshTokenRotated': {
          const d = e.data;
          await tx.query(
            `update ${table} set last_rotated_at = $3, rotations = rotations + 1, expires_at = $4, revision = $2
             where family_id = $1 and revision < $2`,
            [d.familyId, e.revision, d.rotatedAt, d.expiresAt],
          );
          break;
        }
        case 'identity.TokenFamilyRevoked': {
          const d = e.data;
          await tx.query(
            `update ${table} set revoked_at = $3, revoke_reason = $4, revision = $2 where family_id = $1 and revision < $2`,
            [d.familyId, e.revision, d.revokedAt, d.reason],
          );
          break;
        }
      }
    }
  },
};

// Readers: the only SQL that reads `identity_sessions`.

const sessions = liveTable(TABLE);
const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

/** A user's sessions, revoked ones included, newest first: at most `limit` (100). */
export const sessionsOfUser = async (
  sql: SqlExecutor,
  userId: string,
  limit = 100,
): Promise<IdentitySession[]> => {
  const rows = await sql.query<{
    family_id: string;
    user_id: string;
    device: IdentitySession['device'];
    started_at: Date | string;
    last_rotated_at: Date | string | null;
    rotations: number;
    expires_at: Date | string;
    revoked_at: Date | string | null;
    revoke_reason: string | null;
  }>(
    `select family_id::text as family_id, user_id::text as user_id, device, started_at, last_rotated_at, rotations,
            expires_at, revoked_at, revoke_reason
     from ${sessions} where user_id = $1 order by started_at desc, family_id limit $2`,
    [userId, limit],
  );
  return rows.map((r) => ({
    familyId: r.family_id,
    userId: r.user_id,
    device: r.device,
    startedAt: iso(r.started_at)!,
    lastRotatedAt: iso(r.last_rotated_at),
    rotations: r.rotations,
    expiresAt: iso(r.expires_at)!,
    revokedAt: iso(r.revoked_at),
    revokeReason: r.revoke_reason,
  }));
};
