import type { identity as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

/**
 * One stream per email address: appending to it with the revision read is
 * what makes an address belong to exactly one user, even when two
 * registrations race. A claim stays pending until the address is verified;
 * a pending claim past its deadline may be taken over.
 */
export type EmailClaim =
  | Readonly<{ status: 'free' }>
  | Readonly<{ status: 'pending'; email: string; userId: string; pendingUntil: string }>
  | Readonly<{ status: 'held'; email: string; userId: string }>;

export type EmailClaimCommand =
  | Readonly<{ type: 'Claim'; email: string; userId: string; pendingUntil: string; at: string }>
  | Readonly<{ type: 'Confirm'; userId: string; at: string }>
  | Readonly<{ type: 'Release'; userId: string; at: string }>;

export const initialState = (): EmailClaim => ({ status: 'free' });

const taken = (): Problem => new Problem('conflict', 'email_taken', 'That email is already registered.');

export const decide = (cmd: EmailClaimCommand, s: EmailClaim): schema.EmailClaimStreamEvent[] => {
  switch (cmd.type) {
    case 'Claim': {
      if (s.status !== 'free' && s.userId === cmd.userId) return [];
      if (s.status === 'held' || (s.status === 'pending' && s.pendingUntil > cmd.at)) throw taken();
      const claimed: schema.EmailClaimed = {
        email: cmd.email,
        userId: cmd.userId,
        pendingUntil: cmd.pendingUntil,
        claimedAt: cmd.at,
      };
      return [{ type: 'identity.EmailClaimed', data: claimed }];
    }
    case 'Confirm': {
      if (s.status === 'free' || s.userId !== cmd.userId) throw taken();
      if (s.status === 'held') return [];
      const confirmed: schema.EmailClaimConfirmed = { email: s.email, userId: s.userId, confirmedAt: cmd.at };
      return [{ type: 'identity.EmailClaimConfirmed', data: confirmed }];
    }
    case 'Release': {
      if (s.status === 'free' || s.userId !== cmd.userId) return [];
      const released: schema.EmailReleased = { email: s.email, userId: s.userId, releasedAt: cmd.at };
      return [{ type: 'identity.EmailReleased', data: released }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: EmailClaim, e: schema.EmailClaimStreamEvent): EmailClaim => {
  switch (e.type) {
    case 'identity.EmailClaimed':
      return {
        status: 'pending',
        email: e.data.email,
        userId: e.data.userId,
        pendingUntil: e.data.pendingUntil,
      };
    case 'identity.EmailClaimConfirmed':
      return s.status === 'pending' ? { status: 'held', email: s.email, userId: s.userId } : s;
    case 'identity.EmailReleased':
      return { status: 'free' };
    default:
      return unknownEvent(e, s);
  }
};

export const emailClaimDecider: Decider<EmailClaim, EmailClaimCommand, schema.EmailClaimStreamEvent> = {
  initialState,
  decide,
  evolve,
};
