import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import {
  arrayOf,
  integer,
  nullable,
  object,
  oneOf,
  partialObject,
  string,
  type Validator,
  isoTime as isoTimeOf,
  uuid as uuidOf,
} from '../validation.ts';

/**
 * Identity's events. Secrets never appear here (ARCHITECTURE.md rule 7):
 * passwords as scrypt hashes, one-time tokens as SHA-256 hashes, phone codes
 * as salted scrypt hashes. Emails and phones are stored normalised (lower-case
 * email, E.164 phone).
 */

export const roles = ['admin', 'author', 'learner', 'analyst'] as const;
export type Role = (typeof roles)[number];

export type Device = Readonly<{ name?: string; platform?: string; userAgent?: string }>;

// — user-<userId> —
export type UserRegistered = Readonly<{
  userId: string;
  email: string;
  passwordHash: string;
  roles: readonly Role[];
  registeredAt: string;
}>;
export type EmailVerificationRequested = Readonly<{
  userId: string;
  email: string;
  /** `register` activates the user; `change` replaces their email. */
  purpose: 'register' | 'change';
  tokenHash: string;
  expiresAt: string;
  requestedAt: string;
}>;
export type EmailVerified = Readonly<{ userId: string; email: string; verifiedAt: string }>;
export type EmailChanged = Readonly<{ userId: string; from: string; to: string; changedAt: string }>;
export type LoggedIn = Readonly<{
  userId: string;
  familyId: string;
  method: 'password' | 'email_verification';
  device: Device | null;
  loggedInAt: string;
}>;
export type LoginFailed = Readonly<{
  userId: string;
  reason: 'wrong_password' | 'email_not_verified';
  /** Consecutive failures in the current window, this one included. */
  failures: number;
  failedAt: string;
}>;
export type AccountLocked = Readonly<{ userId: string; lockedUntil: string; lockedAt: string }>;
export type LoggedOut = Readonly<{ userId: string; familyId: string; loggedOutAt: string }>;
export type PasswordResetRequested = Readonly<{
  userId: string;
  tokenHash: string;
  expiresAt: string;
  requestedAt: string;
}>;
export type PasswordReset = Readonly<{
  userId: string;
  passwordHash: string;
  /** The live token families this reset ends (each also gets `TokenFamilyRevoked`). */
  revokedFamilyIds: readonly string[];
  resetAt: string;
}>;
export type PhoneChanged = Readonly<{ userId: string; from: string | null; to: string; changedAt: string }>;
export type RolesChanged = Readonly<{
  userId: string;
  from: readonly Role[];
  to: readonly Role[];
  changedAt: string;
}>;

// — emailclaim-<id> —
export type EmailClaimed = Readonly<{
  email: string;
  userId: string;
  /** A claim not confirmed by then may be taken by someone else. */
  pendingUntil: string;
  claimedAt: string;
}>;
export type EmailClaimConfirmed = Readonly<{ email: string; userId: string; confirmedAt: string }>;
export type EmailReleased = Readonly<{ email: string; userId: string; releasedAt: string }>;

// — tokenfamily-<familyId> —
export type TokenFamilyStarted = Readonly<{
  familyId: string;
  userId: string;
  tokenId: string;
  tokenHash: string;
  expiresAt: string;
  /** No rotation extends the family past this. */
  familyExpiresAt: string;
  device: Device | null;
  startedAt: string;
}>;
export type RefreshTokenRotated = Readonly<{
  familyId: string;
  userId: string;
  /** The spent token (the `prev` link). */
  previousTokenId: string;
  tokenId: string;
  tokenHash: string;
  expiresAt: string;
  rotatedAt: string;
}>;
export type TokenFamilyRevoked = Readonly<{
  familyId: string;
  userId: string;
  reason: 'logout' | 'reuse' | 'password_reset' | 'admin';
  revokedAt: string;
}>;

// — phone-<id> —
export type PhoneCodeSent = Readonly<{
  phone: string;
  userId: string;
  codeId: string;
  codeHash: string;
  codeSalt: string;
  expiresAt: string;
  sentAt: string;
}>;
export type PhoneCodeFailed = Readonly<{ phone: string; codeId: string; attempts: number; failedAt: string }>;
export type PhoneLocked = Readonly<{ phone: string; lockedUntil: string; lockedAt: string }>;
export type PhoneVerified = Readonly<{ phone: string; userId: string; codeId: string; verifiedAt: string }>;
export type PhoneReleased = Readonly<{ phone: string; userId: string; releasedAt: string }>;

/** The events of a `user-<userId>` stream, as its decider states them. */
export type UserStreamEvent =
  | DomainEvent<'identity.UserRegistered', UserRegistered>
  | DomainEvent<'identity.EmailVerificationRequested', EmailVerificationRequested>
  | DomainEvent<'identity.EmailVerified', EmailVerified>
  | DomainEvent<'identity.EmailChanged', EmailChanged>
  | DomainEvent<'identity.LoggedIn', LoggedIn>
  | DomainEvent<'identity.LoginFailed', LoginFailed>
  | DomainEvent<'identity.AccountLocked', AccountLocked>
  | DomainEvent<'identity.LoggedOut', LoggedOut>
  | DomainEvent<'identity.PasswordResetRequested', PasswordResetRequested>
  | DomainEvent<'identity.PasswordReset', PasswordReset>
  | DomainEvent<'identity.PhoneChanged', PhoneChanged>
  | DomainEvent<'identity.RolesChanged', RolesChanged>;

/** The events of an `emailclaim-<id>` stream. */
export type EmailClaimStreamEvent =
  | DomainEvent<'identity.EmailClaimed', EmailClaimed>
  | DomainEvent<'identity.EmailClaimConfirmed', EmailClaimConfirmed>
  | DomainEvent<'identity.EmailReleased', EmailReleased>;

/** The events of a `tokenfamily-<familyId>` stream. */
export type TokenFamilyStreamEvent =
  | DomainEvent<'identity.TokenFamilyStarted', TokenFamilyStarted>
  | DomainEvent<'identity.RefreshTokenRotated', RefreshTokenRotated>
  | DomainEvent<'identity.TokenFamilyRevoked', TokenFamilyRevoked>;

/** The events of a `phone-<id>` stream. */
export type PhoneStreamEvent =
  | DomainEvent<'identity.PhoneCodeSent', PhoneCodeSent>
  | DomainEvent<'identity.PhoneCodeFailed', PhoneCodeFailed>
  | DomainEvent<'identity.PhoneLocked', PhoneLocked>
  | DomainEvent<'identity.PhoneVerified', PhoneVerified>
  | DomainEvent<'identity.PhoneReleased', PhoneReleased>;

/** Every identity event as decided, narrowed by `type`. */
export type IdentityDomainEvent =
  UserStreamEvent | EmailClaimStreamEvent | TokenFamilyStreamEvent | PhoneStreamEvent;

/** Every identity event as read back from the store or the log, narrowed by `type`. */
export type IdentityEvent = RecordedEventOf<IdentityDomainEvent>;

const isoTime = isoTimeOf();
const uuid = uuidOf();
/** Normalised: trimmed and lower-cased before it reaches an event. */
const email = string({ max: 254, pattern: /^[^\s@A-Z]+@[^\s@A-Z]+\.[^\s@A-Z]+$/ });
/** E.164. */
const phone = string({ pattern: /^\+[1-9]\d{6,14}$/ });
/** A SHA-256 digest in base64url: the only form a one-time token is kept in. */
const digest = string({ pattern: /^[A-Za-z0-9_-]{43}$/ });
const passwordHash = string({ min: 16, max: 300, trim: false });
const roleList = arrayOf(oneOf(roles), { max: roles.length });
const device = nullable(
  partialObject({
    name: string({ max: 100 }),
    platform: string({ max: 50 }),
    userAgent: string({ max: 300 }),
  }),
);

const v1 = (shape: Record<string, Validator<unknown>>) => [
  { version: 1, validate: object(shape) as Validator<unknown> },
];

export const identityEvents: CatalogueOf<IdentityDomainEvent> = {
  'identity.UserRegistered': v1({
    userId: uuid,
    email,
    passwordHash,
    roles: roleList,
    registeredAt: isoTime,
  }),
  'identity.EmailVerificationRequested': v1({
    userId: uuid,
    email,
    purpose: oneOf(['register', 'change']),
    tokenHash: digest,
    expiresAt: isoTime,
    requestedAt: isoTime,
  }),
  'identity.EmailVerified': v1({ userId: uuid, email, verifiedAt: isoTime }),
  'identity.EmailChanged': v1({ userId: uuid, from: email, to: email, changedAt: isoTime }),
  'identity.LoggedIn': v1({
    userId: uuid,
    familyId: uuid,
    method: oneOf(['password', 'email_verification']),
    device,
    loggedInAt: isoTime,
  }),
  'identity.LoginFailed': v1({
    userId: uuid,
    reason: oneOf(['wrong_password', 'email_not_verified']),
    failures: integer({ min: 1 }),
    failedAt: isoTime,
  }),
  'identity.AccountLocked': v1({ userId: uuid, lockedUntil: isoTime, lockedAt: isoTime }),
  'identity.LoggedOut': v1({ userId: uuid, familyId: uuid, loggedOutAt: isoTime }),
  'identity.PasswordResetRequested': v1({
    userId: uuid,
    tokenHash: digest,
    expiresAt: isoTime,
    requestedAt: isoTime,
  }),
  'identity.PasswordReset': v1({
    userId: uuid,
    passwordHash,
    revokedFamilyIds: arrayOf(uuid, { max: 10_000 }),
    resetAt: isoTime,
  }),
  'identity.PhoneChanged': v1({ userId: uuid, from: nullable(phone), to: phone, changedAt: isoTime }),
  'identity.RolesChanged': v1({ userId: uuid, from: roleList, to: roleList, changedAt: isoTime }),
  'identity.EmailClaimed': v1({ email, userId: uuid, pendingUntil: isoTime, claimedAt: isoTime }),
  'identity.EmailClaimConfirmed': v1({ email, userId: uuid, confirmedAt: isoTime }),
  'identity.EmailReleased': v1({ email, userId: uuid, releasedAt: isoTime }),
  'identity.TokenFamilyStarted': v1({
    familyId: uuid,
    userId: uuid,
    tokenId: uuid,
    tokenHash: digest,
    expiresAt: isoTime,
    familyExpiresAt: isoTime,
    device,
    startedAt: isoTime,
  }),
  'identity.RefreshTokenRotated': v1({
    familyId: uuid,
    userId: uuid,
    previousTokenId: uuid,
    tokenId: uuid,
    tokenHash: digest,
    expiresAt: isoTime,
    rotatedAt: isoTime,
  }),
  'identity.TokenFamilyRevoked': v1({
    familyId: uuid,
    userId: uuid,
    reason: oneOf(['logout', 'reuse', 'password_reset', 'admin']),
    revokedAt: isoTime,
  }),
  'identity.PhoneCodeSent': v1({
    phone,
    userId: uuid,
    codeId: uuid,
    codeHash: string({ min: 16, max: 300, trim: false }),
    codeSalt: string({ min: 8, max: 64 }),
    expiresAt: isoTime,
    sentAt: isoTime,
  }),
  'identity.PhoneCodeFailed': v1({ phone, codeId: uuid, attempts: integer({ min: 1 }), failedAt: isoTime }),
  'identity.PhoneLocked': v1({ phone, lockedUntil: isoTime, lockedAt: isoTime }),
  'identity.PhoneVerified': v1({ phone, userId: uuid, codeId: uuid, verifiedAt: isoTime }),
  'identity.PhoneReleased': v1({ phone, userId: uuid, releasedAt: isoTime }),
};

/** Narrows a recorded event to identity's union (see `eventGuard`). */
export const isIdentityEvent = eventGuard<IdentityDomainEvent>(identityEvents);

/** Stream names. Email and phone streams are keyed by a hash-derived id so the address is not in the name. */
export const userStreamId = (userId: string): string => `user-${userId}`;
export const emailClaimStreamId = (claimId: string): string => `emailclaim-${claimId}`;
export const tokenFamilyStreamId = (familyId: string): string => `tokenfamily-${familyId}`;
export const phoneStreamId = (phoneId: string): string => `phone-${phoneId}`;
