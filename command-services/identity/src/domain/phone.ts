import { addMs, secondsUntil, type identity as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { policy } from './policy.ts';

/**
 * One stream per phone number: its codes, wrong attempts, lock and owner.
 * Because the state is in the event store and every append states the
 * revision it read, the 30 s resend interval, the attempt count and the lock
 * hold across any number of identity processes.
 */
type Code = Readonly<{
  codeId: string;
  userId: string;
  codeHash: string;
  codeSalt: string;
  expiresAt: string;
  attempts: number;
}>;

/** A number some code was sent to: its current code, the last send and any lock. */
type Known = Readonly<{
  phone: string;
  code: Code | null;
  lastSentAt: string;
  lockedUntil: string | null;
}>;

/**
 * No code sent yet; a number codes were sent to that no one has verified
 * (or its owner released); a number that belongs to the user who verified it.
 * Every state answers `code`, so a caller can check a submitted code against
 * whatever state it loaded.
 */
export type Phone =
  | Readonly<{ status: 'none'; code: null }>
  | (Readonly<{ status: 'unowned' }> & Known)
  | (Readonly<{ status: 'owned'; owner: string }> & Known);

export type PhoneCommand =
  | Readonly<{
      type: 'SendCode';
      phone: string;
      userId: string;
      codeId: string;
      codeHash: string;
      codeSalt: string;
      at: string;
    }>
  | Readonly<{
      type: 'VerifyCode';
      userId: string;
      /** The id of the current code if the submitted digits matched it, else null. */
      matchedCodeId: string | null;
      at: string;
    }>
  | Readonly<{ type: 'Release'; userId: string; at: string }>;

export const initialState = (): Phone => ({ status: 'none', code: null });

const checkLock = (s: Phone, at: string): void => {
  if (s.status !== 'none' && s.lockedUntil && s.lockedUntil > at)
    throw new Problem('locked', 'phone_locked', 'Too many wrong codes: this phone is locked for an hour.', {
      retryAfterSeconds: secondsUntil(at, s.lockedUntil),
    });
};

export const decide = (cmd: PhoneCommand, s: Phone): schema.PhoneStreamEvent[] => {
  switch (cmd.type) {
    case 'SendCode': {
      checkLock(s, cmd.at);
      if (s.status === 'owned' && s.owner !== cmd.userId)
        throw new Problem('conflict', 'phone_taken', 'That phone number belongs to another account.');
      if (s.status !== 'none') {
        const next = addMs(s.lastSentAt, policy.phoneResendInterval);
        if (next > cmd.at)
          throw new Problem(
            'rate_limited',
            'phone_code_too_soon',
            'A code was just sent to this phone; wait before asking again.',
            {
              retryAfterSeconds: secondsUntil(cmd.at, next),
            },
          );
      }
      const sent: schema.PhoneCodeSent = {
        phone: cmd.phone,
        userId: cmd.userId,
        codeId: cmd.codeId,
        codeHash: cmd.codeHash,
        codeSalt: cmd.codeSalt,
        expiresAt: addMs(cmd.at, policy.phoneCodeTtl),
        sentAt: cmd.at,
      };
      return [{ type: 'identity.PhoneCodeSent', data: sent }];
    }
    case 'VerifyCode': {
      checkLock(s, cmd.at);
      const code = s.code;
      if (s.status === 'none' || !code || code.userId !== cmd.userId)
        throw new Problem(
          'validation',
          'phone_code_invalid',
          'No code was sent to this phone for you; ask for one.',
        );
      if (code.expiresAt <= cmd.at)
        throw new Problem('validation', 'phone_code_expired', 'The code has expired; ask for a new one.');
      if (cmd.matchedCodeId === code.codeId) {
        const verified: schema.PhoneVerified = {
          phone: s.phone,
          userId: cmd.userId,
          codeId: code.codeId,
          verifiedAt: cmd.at,
        };
        return [{ type: 'identity.PhoneVerified', data: verified }];
      }
      const attempts = code.attempts + 1;
      const failed: schema.PhoneCodeFailed = {
        phone: s.phone,
        codeId: code.codeId,
        attempts,
        failedAt: cmd.at,
      };
      const events: schema.PhoneStreamEvent[] = [{ type: 'identity.PhoneCodeFailed', data: failed }];
      if (attempts >= policy.phoneMaxAttempts) {
        const locked: schema.PhoneLocked = {
          phone: s.phone,
          lockedUntil: addMs(cmd.at, policy.phoneLock),
          lockedAt: cmd.at,
        };
        events.push({ type: 'identity.PhoneLocked', data: locked });
      }
      return events;
    }
    case 'Release': {
      if (s.status !== 'owned' || s.owner !== cmd.userId) return [];
      const released: schema.PhoneReleased = { phone: s.phone, userId: cmd.userId, releasedAt: cmd.at };
      return [{ type: 'identity.PhoneReleased', data: released }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: Phone, e: schema.PhoneStreamEvent): Phone => {
  switch (e.type) {
    case 'identity.PhoneCodeSent': {
      const d = e.data;
      const known: Known = {
        phone: d.phone,
        lastSentAt: d.sentAt,
        lockedUntil: s.status === 'none' ? null : s.lockedUntil,
        code: {
          codeId: d.codeId,
          userId: d.userId,
          codeHash: d.codeHash,
          codeSalt: d.codeSalt,
          expiresAt: d.expiresAt,
          attempts: 0,
        },
      };
      return s.status === 'owned' ? { ...s, ...known } : { status: 'unowned', ...known };
    }
    case 'identity.PhoneCodeFailed':
      if (s.status === 'none' || s.code?.codeId !== e.data.codeId) return s;
      return { ...s, code: { ...s.code, attempts: e.data.attempts } };
    case 'identity.PhoneLocked':
      // The code that was guessed at is dead; after the lock a new one must be sent.
      return s.status === 'none' ? s : { ...s, code: null, lockedUntil: e.data.lockedUntil };
    case 'identity.PhoneVerified': {
      if (s.status === 'none') return s;
      const { phone, lastSentAt, lockedUntil } = s;
      return { status: 'owned', owner: e.data.userId, phone, code: null, lastSentAt, lockedUntil };
    }
    case 'identity.PhoneReleased': {
      if (s.status !== 'owned') return s;
      const { phone, code, lastSentAt, lockedUntil } = s;
      return { status: 'unowned', phone, code, lastSentAt, lockedUntil };
    }
    default:
      return unknownEvent(e, s);
  }
};

export const phoneDecider: Decider<Phone, PhoneCommand, schema.PhoneStreamEvent> = {
  initialState,
  decide,
  evolve,
};
