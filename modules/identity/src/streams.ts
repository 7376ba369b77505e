import { emailClaimDecider } from '@lectern/identity-commands/domain/email-claim';
import { phoneDecider } from '@lectern/identity-commands/domain/phone';
import { tokenFamilyDecider } from '@lectern/identity-commands/domain/token-family';
import { userDecider } from '@lectern/identity-commands/domain/user';
import { aggregateStream, type StreamKind } from '@lectern/infra/runtime/stream-kinds';
import { identityEvents } from '@lectern/schemas/identity/events';

/**
 * What no audit view shows. Events hold no secret (hashes only), but a
 * password's scrypt hash, a six-digit code's hash and salt (cheap to try
 * every code against) and a token's digest are what an attacker would
 * start from.
 */
const redact = ['passwordHash', 'matchedHash', 'tokenHash', 'codeHash', 'codeSalt'];

/** Identity's aggregates, as the audit tools read them. */
export const identityStreams: readonly StreamKind[] = [
  aggregateStream({
    category: 'user',
    description: 'an account: e-mail, password (hashed), roles, sessions',
    decider: userDecider,
    catalogue: identityEvents,
    types: {
      'identity.UserRegistered': true,
      'identity.EmailVerificationRequested': true,
      'identity.EmailVerified': true,
      'identity.EmailChanged': true,
      'identity.LoggedIn': true,
      'identity.LoginFailed': true,
      'identity.AccountLocked': true,
      'identity.LoggedOut': true,
      'identity.PasswordResetRequested': true,
      'identity.PasswordReset': true,
      'identity.PhoneChanged': true,
      'identity.RolesChanged': true,
    },
    redact,
  }),
  aggregateStream({
    category: 'emailclaim',
    description: 'who holds an e-mail address (keyed by a hash of it)',
    decider: emailClaimDecider,
    catalogue: identityEvents,
    types: {
      'identity.EmailClaimed': true,
      'identity.EmailClaimConfirmed': true,
      'identity.EmailReleased': true,
    },
    redact,
  }),
  aggregateStream({
    category: 'tokenfamily',
    description: 'a family of refresh tokens, rotated at each use',
    decider: tokenFamilyDecider,
    catalogue: identityEvents,
    types: {
      'identity.TokenFamilyStarted': true,
      'identity.RefreshTokenRotated': true,
      'identity.TokenFamilyRevoked': true,
    },
    redact,
  }),
  aggregateStream({
    category: 'phone',
    description: 'a phone number: its codes, attempts, lock and owner',
    decider: phoneDecider,
    catalogue: identityEvents,
    types: {
      'identity.PhoneCodeSent': true,
      'identity.PhoneCodeFailed': true,
      'identity.PhoneLocked': true,
      'identity.PhoneVerified': true,
      'identity.PhoneReleased': true,
    },
    redact,
  }),
];
