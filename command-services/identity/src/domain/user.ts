import { addMs, secondsUntil, type identity as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { policy } from './policy.ts';

type Pending = Readonly<{ tokenHash: string; expiresAt: string }>;

type Account = Readonly<{
  userId: string;
  email: string;
  passwordHash: string;
  roles: readonly schema.Role[];
  phone: string | null;
  /** Consecutive wrong passwords since `since`. */
  failures: Readonly<{ count: number; since: string }> | null;
  lockedUntil: string | null;
  /** Families started by logins and not ended by logout or a password reset. */
  families: readonly Readonly<{ familyId: string; startedAt: string }>[];
  passwordReset: Pending | null;
  emailChange: (Pending & Readonly<{ email: string }>) | null;
  /** Refresh tokens from families started before this are dead. */
  credentialsChangedAt: string | null;
}>;

export type User =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'pending'; verification: Pending }> & Account)
  | (Readonly<{ status: 'active' }> & Account);

export type UserCommand =
  | Readonly<{
      type: 'Register';
      userId: string;
      email: string;
      passwordHash: string;
      tokenHash: string;
      at: string;
    }>
  | Readonly<{ type: 'ResendVerification'; tokenHash: string; at: string }>
  | Readonly<{
      type: 'VerifyEmail';
      tokenHash: string;
      familyId: string;
      device: schema.Device | null;
      at: string;
    }>
  | Readonly<{
      type: 'LogIn';
      /** The stored hash the password was checked against and matched, or null for a wrong password. */
      matchedHash: string | null;
      familyId: string;
      device: schema.Device | null;
      at: string;
    }>
  | Readonly<{ type: 'LogOut'; familyId: string; at: string }>
  | Readonly<{ type: 'RequestPasswordReset'; tokenHash: string; at: string }>
  | Readonly<{ type: 'ResetPassword'; tokenHash: string; passwordHash: string; at: string }>
  | Readonly<{
      type: 'RequestEmailChange';
      newEmail: string;
      matchedHash: string | null;
      tokenHash: string;
      at: string;
    }>
  | Readonly<{ type: 'ConfirmEmailChange'; tokenHash: string; at: string }>
  | Readonly<{ type: 'ChangePhone'; phone: string; at: string }>
  | Readonly<{ type: 'SetRoles'; roles: readonly schema.Role[]; at: string }>;

export const initialState = (): User => ({ status: 'none' });

const invalidToken = (what: string): Problem =>
  new Problem(
    'validation',
    `${what}_token_invalid`,
    `The ${what.replace('_', ' ')} token is invalid or spent.`,
  );
const expiredToken = (what: string): Problem =>
  new Problem('validation', `${what}_token_expired`, `The ${what.replace('_', ' ')} token has expired.`);
const invalidCredentials = (): Problem =>
  new Problem('unauthenticated', 'invalid_credentials', 'The email or password is wrong.');

/** A one-time token must match what was issued and still be in date. */
const checkToken = (pending: Pending | null, tokenHash: string, at: string, what: string): void => {
  if (!pending || pending.tokenHash !== tokenHash) throw invalidToken(what);
  if (pending.expiresAt <= at) throw expiredToken(what);
};

const liveFamilies = (s: Account, at: string) =>
  s.families.filter((f) => addMs(f.startedAt, policy.tokenFamilyMaxAge) > at);

export const decide = (cmd: UserCommand, s: User): schema.UserStreamEvent[] => {
  switch (cmd.type) {
    case 'Register': {
      if (s.status !== 'none')
        throw new Problem('conflict', 'email_taken', 'That email is already registered.');
      const registered: schema.UserRegistered = {
        userId: cmd.userId,
        email: cmd.email,
        passwordHash: cmd.passwordHash,
        roles: ['learner'],
        registeredAt: cmd.at,
      };
      const requested: schema.EmailVerificationRequested = {
        userId: cmd.userId,
        email: cmd.email,
        purpose: 'register',
        tokenHash: cmd.tokenHash,
        expiresAt: addMs(cmd.at, policy.emailVerificationTtl),
        requestedAt: cmd.at,
      };
      return [
        { type: 'identity.UserRegistered', data: registered },
        { type: 'identity.EmailVerificationRequested', data: requested },
      ];
    }
    case 'ResendVerification': {
      // Silent for unknown and already active users: the route answers the same either way.
      if (s.status !== 'pending') return [];
      const requested: schema.EmailVerificationRequested = {
        userId: s.userId,
        email: s.email,
        purpose: 'register',
        tokenHash: cmd.tokenHash,
        expiresAt: addMs(cmd.at, policy.emailVerificationTtl),
        requestedAt: cmd.at,
      };
      return [{ type: 'identity.EmailVerificationRequested', data: requested }];
    }
    case 'VerifyEmail': {
      if (s.status !== 'pending') throw invalidToken('verification');
      checkToken(s.verification, cmd.tokenHash, cmd.at, 'verification');
      const verified: schema.EmailVerified = { userId: s.userId, email: s.email, verifiedAt: cmd.at };
      const loggedIn: schema.LoggedIn = {
        userId: s.userId,
        familyId: cmd.familyId,
        method: 'email_verification',
        device: cmd.device,
        loggedInAt: cmd.at,
      };
      return [
        { type: 'identity.EmailVerified', data: verified },
        { type: 'identity.LoggedIn', data: loggedIn },
      ];
    }
    case 'LogIn': {
      if (s.status === 'none') throw invalidCredentials();
      if (s.lockedUntil && s.lockedUntil > cmd.at)
        throw new Problem(
          'locked',
          'account_locked',
          'Too many wrong passwords: the account is locked for a while.',
          {
            retryAfterSeconds: secondsUntil(cmd.at, s.lockedUntil),
          },
        );
      if (cmd.matchedHash === null) {
        const inWindow = s.failures && addMs(s.failures.since, policy.loginFailureWindow) > cmd.at;
        const failures = inWindow ? s.failures!.count + 1 : 1;
        const failed: schema.LoginFailed = {
          userId: s.userId,
          reason: 'wrong_password',
          failures,
          failedAt: cmd.at,
        };
        const events: schema.UserStreamEvent[] = [{ type: 'identity.LoginFailed', data: failed }];
        if (failures >= policy.loginMaxFailures) {
          const locked: schema.AccountLocked = {
            userId: s.userId,
            lockedUntil: addMs(cmd.at, policy.accountLock),
            lockedAt: cmd.at,
          };
          events.push({ type: 'identity.AccountLocked', data: locked });
        }
        return events;
      }
      // The password was checked against a hash that a reset has since replaced: decide again.
      if (cmd.matchedHash !== s.passwordHash)
        throw new Problem('conflict', 'credentials_changed', 'The password changed during login; try again.');
      if (s.status === 'pending')
        throw new Problem('forbidden', 'email_not_verified', 'Verify your email address before logging in.');
      const loggedIn: schema.LoggedIn = {
        userId: s.userId,
        familyId: cmd.familyId,
        method: 'password',
        device: cmd.device,
        loggedInAt: cmd.at,
      };
      return [{ type: 'identity.LoggedIn', data: loggedIn }];
    }
    case 'LogOut': {
      if (s.status === 'none' || !s.families.some((f) => f.familyId === cmd.familyId)) return [];
      const out: schema.LoggedOut = { userId: s.userId, familyId: cmd.familyId, loggedOutAt: cmd.at };
      return [{ type: 'identity.LoggedOut', data: out }];
    }
    case 'RequestPasswordReset': {
      if (s.status !== 'active') return [];
      const requested: schema.PasswordResetRequested = {
        userId: s.userId,
        tokenHash: cmd.tokenHash,
        expiresAt: addMs(cmd.at, policy.passwordResetTtl),
        requestedAt: cmd.at,
      };
      return [{ type: 'identity.PasswordResetRequested', data: requested }];
    }
    case 'ResetPassword': {
      if (s.status !== 'active') throw invalidToken('reset');
      checkToken(s.passwordReset, cmd.tokenHash, cmd.at, 'reset');
      const reset: schema.PasswordReset = {
        userId: s.userId,
        passwordHash: cmd.passwordHash,
        revokedFamilyIds: liveFamilies(s, cmd.at).map((f) => f.familyId),
        resetAt: cmd.at,
      };
      return [{ type: 'identity.PasswordReset', data: reset }];
    }
    case 'RequestEmailChange': {
      if (s.status !== 'active') throw invalidCredentials();
      if (cmd.matchedHash === null) throw invalidCredentials();
      if (cmd.matchedHash !== s.passwordHash)
        throw new Problem('conflict', 'credentials_changed', 'The password changed meanwhile; try again.');
      if (cmd.newEmail === s.email) return [];
      const requested: schema.EmailVerificationRequested = {
        userId: s.userId,
        email: cmd.newEmail,
        purpose: 'change',
        tokenHash: cmd.tokenHash,
        expiresAt: addMs(cmd.at, policy.emailChangeTtl),
        requestedAt: cmd.at,
      };
      return [{ type: 'identity.EmailVerificationRequested', data: requested }];
    }
    case 'ConfirmEmailChange': {
      if (s.status !== 'active') throw invalidToken('email_change');
      checkToken(s.emailChange, cmd.tokenHash, cmd.at, 'email_change');
      const changed: schema.EmailChanged = {
        userId: s.userId,
        from: s.email,
        to: s.emailChange!.email,
        changedAt: cmd.at,
      };
      return [{ type: 'identity.EmailChanged', data: changed }];
    }
    case 'ChangePhone': {
      if (s.status !== 'active') throw new Problem('not_found', 'user_not_found', 'No such user.');
      if (s.phone === cmd.phone) return [];
      const changed: schema.PhoneChanged = {
        userId: s.userId,
        from: s.phone,
        to: cmd.phone,
        changedAt: cmd.at,
      };
      return [{ type: 'identity.PhoneChanged', data: changed }];
    }
    case 'SetRoles': {
      if (s.status === 'none') throw new Problem('not_found', 'user_not_found', 'No such user.');
      const to = [...new Set(cmd.roles)].sort();
      const from = [...s.roles].sort();
      if (to.join() === from.join()) return [];
      const changed: schema.RolesChanged = { userId: s.userId, from, to, changedAt: cmd.at };
      return [{ type: 'identity.RolesChanged', data: changed }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: User, e: schema.UserStreamEvent): User => {
  if (e.type === 'identity.UserRegistered') {
    const d = e.data;
    return {
      status: 'pending',
      verification: { tokenHash: '', expiresAt: d.registeredAt },
      userId: d.userId,
      email: d.email,
      passwordHash: d.passwordHash,
      roles: d.roles,
      phone: null,
      failures: null,
      lockedUntil: null,
      families: [],
      passwordReset: null,
      emailChange: null,
      credentialsChangedAt: null,
    };
  }
  if (s.status === 'none') return s;
  switch (e.type) {
    case 'identity.EmailVerificationRequested': {
      const d = e.data;
      const pending = { tokenHash: d.tokenHash, expiresAt: d.expiresAt };
      if (d.purpose === 'change') return { ...s, emailChange: { ...pending, email: d.email } };
      return s.status === 'pending' ? { ...s, verification: pending } : s;
    }
    case 'identity.EmailVerified': {
      if (s.status !== 'pending') return s;
      const { verification: _spent, ...account } = s;
      return { ...account, status: 'active' };
    }
    case 'identity.EmailChanged':
      return { ...s, email: e.data.to, emailChange: null };
    case 'identity.LoggedIn': {
      const d = e.data;
      return {
        ...s,
        failures: null,
        families: [...s.families, { familyId: d.familyId, startedAt: d.loggedInAt }],
      };
    }
    case 'identity.LoginFailed': {
      const d = e.data;
      return {
        ...s,
        failures: {
          count: d.failures,
          since: d.failures === 1 ? d.failedAt : (s.failures?.since ?? d.failedAt),
        },
      };
    }
    case 'identity.AccountLocked':
      return { ...s, failures: null, lockedUntil: e.data.lockedUntil };
    case 'identity.LoggedOut': {
      const d = e.data;
      return { ...s, families: s.families.filter((f) => f.familyId !== d.familyId) };
    }
    case 'identity.PasswordResetRequested': {
      const d = e.data;
      return { ...s, passwordReset: { tokenHash: d.tokenHash, expiresAt: d.expiresAt } };
    }
    case 'identity.PasswordReset': {
      const d = e.data;
      return {
        ...s,
        passwordHash: d.passwordHash,
        passwordReset: null,
        failures: null,
        lockedUntil: null,
        families: [],
        credentialsChangedAt: d.resetAt,
      };
    }
    case 'identity.PhoneChanged':
      return { ...s, phone: e.data.to };
    case 'identity.RolesChanged':
      return { ...s, roles: e.data.to };
    default:
      return unknownEvent(e, s);
  }
};

export const userDecider: Decider<User, UserCommand, schema.UserStreamEvent> = {
  initialState,
  decide,
  evolve,
};
