import { identity as schema } from '@lectern/schemas';
import { liveTable, type SqlProjection } from '@lectern/infra/runtime/projection';
import type { SqlExecutor } from '@lectern/infra/sql/sql';

const TABLE = 'identity_users';

/** A row of `identity_users`: who a user is, findable by e-mail and phone. No secrets. */
export type IdentityUser = Readonly<{
  userId: string;
  email: string;
  phone: string | null;
  status: 'pending' | 'active';
  roles: readonly string[];
  registeredAt: string;
  verifiedAt: string | null;
  lastLoginAt: string | null;
  lockedUntil: string | null;
  passwordChangedAt: string | null;
}>;

const events = [
  'identity.UserRegistered',
  'identity.EmailVerified',
  'identity.EmailChanged',
  'identity.PhoneChanged',
  'identity.RolesChanged',
  'identity.LoggedIn',
  'identity.AccountLocked',
  'identity.PasswordReset',
] as const;

/**
 * User lookup by id, e-mail and phone (the admin search and `GET
 * /api/identity/me`). Each event is one idempotent update keyed by user id
 * and guarded by the stream revision, so a replay changes nothing.
 */
export const identityUsersProjection: SqlProjection = {
  name: 'identity_users',
  version: 1,
  contexts: ['identity'],
  // Made of its events' data alone: a rebuild reads no metadata.
  metadata: [],
  eventTypes: events,
  tables: [TABLE],
  ddl: (t) => `
    create table if not exists ${t[TABLE]} (
      user_id uuid primary key,
      email text not null,
      phone text,
      status text not null,
      roles text[] not null,
      registered_at timestamptz not null,
      verified_at timestamptz,
      last_login_at timestamptz,
      locked_until timestamptz,
      password_changed_at timestamptz,
      revision bigint not null
    );
    create index if not exists identity_users_email on ${t[TABLE]} (email);
    create index if not exists identity_users_phone on ${t[TABLE]} (phone) where phone is not null`,
  async apply(tx, batch, t) {
    const table = t[TABLE]!;
    for (const e of batch) {
      if (!schema.isIdentityEvent(e)) continue;
      const set = (userId: string, assignments: string, params: unknown[]) =>
        tx.query(`update ${table} set ${assignments}, revision = $2 where user_id = $1 and revision < $2`, [
          userId,
          e.revision,
          ...params,
        ]);
      switch (e.type) {
        case 'identity.UserRegistered': {
          const d = e.data;
          await tx.query(
            `insert into ${table} (user_id, email, status, roles, registered_at, revision)
             values ($1, $2, 'pending', $3, $4, $5) on conflict (user_id) do nothing`,
            [d.userId, d.email, d.roles, d.registeredAt, e.revision],
          );
          break;
        }
        case 'identity.EmailVerified':
          await set(e.data.userId, `status = 'active', verified_at = $3`, [e.data.verifiedAt]);
          break;
        case 'identity.EmailChanged':
          await set(e.data.userId, 'email = $3', [e.data.to]);
          break;
        case 'identity.PhoneChanged':
          await set(e.data.userId, 'phone = $3', [e.data.to]);
          break;
        case 'identity.RolesChanged':
          await set(e.data.userId, 'roles = $3', [e.data.to]);
          break;
        case 'identity.LoggedIn':
          await set(e.data.userId, 'last_login_at = $3', [e.data.loggedInAt]);
          break;
        case 'identity.AccountLocked':
          await set(e.data.userId, 'locked_until = $3', [e.data.lockedUntil]);
          break;
        case 'identity.PasswordReset':
          await set(e.data.userId, 'password_changed_at = $3, locked_until = null', [e.data.resetAt]);
          break;
      }
    }
  },
};

// Readers: the only SQL that reads `identity_users`.

const users = liveTable(TABLE);
const COLUMNS =
  'user_id::text as user_id, email, phone, status, roles, registered_at, verified_at, last_login_at, locked_until, password_changed_at';

type Row = {
  user_id: string;
  email: string;
  phone: string | null;
  status: 'pending' | 'active';
  roles: string[];
  registered_at: Date | string;
  verified_at: Date | string | null;
  last_login_at: Date | string | null;
  locked_until: Date | string | null;
  password_changed_at: Date | string | null;
};
const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

const toIdentityUser = (r: Row): IdentityUser => ({
  userId: r.user_id,
  email: r.email,
  phone: r.phone,
  status: r.status,
  roles: r.roles,
  registeredAt: iso(r.registered_at)!,
  verifiedAt: iso(r.verified_at),
  lastLoginAt: iso(r.last_login_at),
  lockedUntil: iso(r.locked_until),
  passwordChangedAt: iso(r.password_changed_at),
});

/** The user with this id, or null: never registered, or not projected yet. */
export const userById = async (sql: SqlExecutor, userId: string): Promise<IdentityUser | null> => {
  const [row] = await sql.query<Row>(`select ${COLUMNS} from ${users} where user_id = $1`, [userId]);
  return row ? toIdentityUser(row) : null;
};

const usersWhere = async (sql: SqlExecutor, column: 'email' | 'phone', value: string) =>
  (
    await sql.query<Row>(
      `select ${COLUMNS} from ${users} where ${column} = $1 order by registered_at, user_id`,
      [value],
    )
  ).map(toIdentityUser);

/** The users whose e-mail is `email`, as stored (normalised: lower case), oldest first. */
export const usersByEmail = (sql: SqlExecutor, email: string): Promise<IdentityUser[]> =>
  usersWhere(sql, 'email', email);

/** The users whose phone is `phone`, as stored (E.164), oldest first. */
export const usersByPhone = (sql: SqlExecutor, phone: string): Promise<IdentityUser[]> =>
  usersWhere(sql, 'phone', phone);
