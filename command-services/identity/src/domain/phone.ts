import { addMs, secondsUntil, type identity as schema, type RecordedEvent } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import type { Decided } from '@lectern/infra/runtime/command-handler';
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

export type Phone = Readonly<{
  phone: string | null;
  code: Code | null;
  lastSentAt: string | null;
  lockedUntil: string | null;
  owner: string | null;
}>;

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

export const initialState = (): Phone => ({
  phone: null,
  code: null,
  lastSentAt: null,
  lockedUntil: null,
  owner: null,
});

const checkLock = (s: Phone, at: string): void => {
  if (s.lockedUntil && s.lockedUntil > at)
    throw new Problem('locked', 'phone_locked', 'Too many wrong codes: this phone is locked for an hour.', {
      retryAfterSeconds: secondsUntil(at, s.lockedUntil),
    });
};

export const decide = (cmd: PhoneCommand, s: Phone): Decided[] => {
  switch (cmd.type) {
    case 'SendCode': {
      checkLock(s, cmd.at);
      if (s.owner && s.owner !== cmd.userId)
        throw new Problem('conflict', 'phone_taken', 'That phone number belongs to another account.');
      if (s.lastSentAt) {
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
      if (!code || code.userId !== cmd.userId)
        throw new Problem(
          'validation',
          'phone_code_invalid',
          'No code was sent to this phone for you; ask for one.',
        );
      if (code.expiresAt <= cmd.at)
        throw new Problem('validation', 'phone_code_expired', 'The code has expired; ask for a new one.');
      if (cmd.matchedCodeId === code.codeId) {
        const verified: schema.PhoneVerified = {
          phone: s.phone!,
          userId: cmd.userId,
          codeId: code.codeId,
          verifiedAt: cmd.at,
        };
        return [{ type: 'identity.PhoneVerified', data: verified }];
      }
      const attempts = code.attempts + 1;
      const failed: schema.PhoneCodeFailed = {
        phone: s.phone!,
        codeId: code.codeId,
        attempts,
        failedAt: cmd.at,
      };
      const events: Decided[] = [{ type: 'identity.PhoneCodeFailed', data: failed }];
      if (attempts >= policy.phoneMaxAttempts) {
        const locked: schema.PhoneLocked = {
          phone: s.phone!,
          lockedUntil: addMs(cmd.at, policy.phoneLock),
          lockedAt: cmd.at,
        };
        events.push({ type: 'identity.PhoneLocked', data: locked });
      }
      return events;
    }
    case 'Release': {
      if (s.owner !== cmd.userId) return [];
      const released: schema.PhoneReleased = { phone: s.phone!, userId: cmd.userId, releasedAt: cmd.at };
      return [{ type: 'identity.PhoneReleased', data: released }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: Phone, e: RecordedEvent): Phone => {
  switch (e.type) {
    case 'identity.PhoneCodeSent': {
      const d = e.data as schema.PhoneCodeSent;
      return {
        ...s,
        phone: d.phone,
        lastSentAt: d.sentAt,
        code: {
          codeId: d.codeId,
          userId: d.userId,
          codeHash: d.codeHash,
          codeSalt: d.codeSalt,
          expiresAt: d.expiresAt,
          attempts: 0,
        },
      };
    }
    case 'identity.PhoneCodeFailed': {
      const d = e.data as schema.PhoneCodeFailed;
      return s.code?.codeId === d.codeId ? { ...s, code: { ...s.code, attempts: d.attempts } } : s;
    }
    case 'identity.PhoneLocked':
      // The code that was guessed at is dead; after the lock a new one must be sent.
      return { ...s, code: null, lockedUntil: (e.data as schema.PhoneLocked).lockedUntil };
    case 'identity.PhoneVerified': {
      const d = e.data as schema.PhoneVerified;
      return { ...s, code: null, owner: d.userId };
    }
    case 'identity.PhoneReleased':
      return { ...s, owner: null };
    default:
      return s;
  }
};

export const phoneDecider = { initialState, decide, evolve };
