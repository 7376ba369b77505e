import { addMs, type identity as schema } from '@lectern/schemas';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';
import { policy } from './policy.ts';

/**
 * A refresh-token family: the chain of tokens one login rotates through.
 * Each use spends the current token and issues the next (`prev` link); a
 * spent token presented again means it leaked, so the whole family dies.
 */
type Family = Readonly<{
  familyId: string;
  userId: string;
  current: Readonly<{ tokenId: string; tokenHash: string; expiresAt: string }>;
  /** Hashes of spent tokens, for reuse detection. */
  spent: readonly string[];
  /** The token the latest rotation spent, and when: a duplicate of that request is a race, not a theft. */
  lastRotation: Readonly<{ spentHash: string; at: string }> | null;
  familyExpiresAt: string;
  startedAt: string;
}>;

export type TokenFamily =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'active' }> & Family)
  | (Readonly<{ status: 'revoked'; reason: schema.TokenFamilyRevoked['reason'] }> & Family);

export type TokenFamilyCommand =
  | Readonly<{
      type: 'Start';
      familyId: string;
      userId: string;
      tokenId: string;
      tokenHash: string;
      expiresAt: string;
      familyExpiresAt: string;
      device: schema.Device | null;
      at: string;
    }>
  | Readonly<{
      type: 'Rotate';
      presentedHash: string;
      tokenId: string;
      tokenHash: string;
      expiresAt: string;
      /** From the user: families started before the last password reset are dead. */
      credentialsChangedAt: string | null;
      userActive: boolean;
      at: string;
    }>
  | Readonly<{
      type: 'Revoke';
      presentedHash: string | null;
      reason: schema.TokenFamilyRevoked['reason'];
      at: string;
    }>;

export const initialState = (): TokenFamily => ({ status: 'none' });

const invalid = (): Problem =>
  new Problem(
    'unauthenticated',
    'refresh_token_invalid',
    'The refresh token is invalid, expired or revoked.',
  );

const revoke = (
  s: Family,
  reason: schema.TokenFamilyRevoked['reason'],
  at: string,
): schema.TokenFamilyStreamEvent => ({
  type: 'identity.TokenFamilyRevoked',
  data: { familyId: s.familyId, userId: s.userId, reason, revokedAt: at },
});

export const decide = (cmd: TokenFamilyCommand, s: TokenFamily): schema.TokenFamilyStreamEvent[] => {
  switch (cmd.type) {
    case 'Start': {
      if (s.status !== 'none') return [];
      const started: schema.TokenFamilyStarted = {
        familyId: cmd.familyId,
        userId: cmd.userId,
        tokenId: cmd.tokenId,
        tokenHash: cmd.tokenHash,
        expiresAt: cmd.expiresAt < cmd.familyExpiresAt ? cmd.expiresAt : cmd.familyExpiresAt,
        familyExpiresAt: cmd.familyExpiresAt,
        device: cmd.device,
        startedAt: cmd.at,
      };
      return [{ type: 'identity.TokenFamilyStarted', data: started }];
    }
    case 'Rotate': {
      if (s.status === 'none') throw invalid();
      if (s.status === 'revoked') throw invalid();
      // The token the latest rotation spent, again within seconds: two requests raced (a
      // double submit). One won; this one loses without killing the family.
      if (
        s.lastRotation?.spentHash === cmd.presentedHash &&
        addMs(s.lastRotation.at, policy.refreshRaceGrace) > cmd.at
      )
        throw new Problem(
          'conflict',
          'refresh_conflict',
          'This refresh token was just used by a concurrent request.',
        );
      // Reuse of a spent token: whoever holds the family's tokens may be an attacker.
      if (s.spent.includes(cmd.presentedHash)) return [revoke(s, 'reuse', cmd.at)];
      if (s.current.tokenHash !== cmd.presentedHash) throw invalid();
      if (s.current.expiresAt <= cmd.at) throw invalid();
      if (!cmd.userActive || (cmd.credentialsChangedAt !== null && cmd.credentialsChangedAt >= s.startedAt))
        return [revoke(s, 'password_reset', cmd.at)];
      const rotated: schema.RefreshTokenRotated = {
        familyId: s.familyId,
        userId: s.userId,
        previousTokenId: s.current.tokenId,
        tokenId: cmd.tokenId,
        tokenHash: cmd.tokenHash,
        expiresAt: cmd.expiresAt < s.familyExpiresAt ? cmd.expiresAt : s.familyExpiresAt,
        rotatedAt: cmd.at,
      };
      return [{ type: 'identity.RefreshTokenRotated', data: rotated }];
    }
    case 'Revoke': {
      if (s.status !== 'active') return [];
      // Logout proves possession with a token of the family, current or spent.
      if (
        cmd.presentedHash !== null &&
        s.current.tokenHash !== cmd.presentedHash &&
        !s.spent.includes(cmd.presentedHash)
      )
        throw invalid();
      return [revoke(s, cmd.reason, cmd.at)];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: TokenFamily, e: schema.TokenFamilyStreamEvent): TokenFamily => {
  switch (e.type) {
    case 'identity.TokenFamilyStarted': {
      const d = e.data;
      return {
        status: 'active',
        familyId: d.familyId,
        userId: d.userId,
        current: { tokenId: d.tokenId, tokenHash: d.tokenHash, expiresAt: d.expiresAt },
        spent: [],
        lastRotation: null,
        familyExpiresAt: d.familyExpiresAt,
        startedAt: d.startedAt,
      };
    }
    case 'identity.RefreshTokenRotated': {
      if (s.status === 'none') return s;
      const d = e.data;
      return {
        ...s,
        spent: [...s.spent, s.current.tokenHash],
        lastRotation: { spentHash: s.current.tokenHash, at: d.rotatedAt },
        current: { tokenId: d.tokenId, tokenHash: d.tokenHash, expiresAt: d.expiresAt },
      };
    }
    case 'identity.TokenFamilyRevoked': {
      if (s.status === 'none') return s;
      return { ...s, status: 'revoked', reason: e.data.reason };
    }
    default:
      return unknownEvent(e, s);
  }
};

export const tokenFamilyDecider: Decider<TokenFamily, TokenFamilyCommand, schema.TokenFamilyStreamEvent> = {
  initialState,
  decide,
  evolve,
};
