import { identity as schema, type RecordedEvent } from '@lectern/schemas';
import {
  linkToken,
  derivedDigits,
  type MessageKeys,
  type SecretPurpose,
} from '@lectern/infra/auth/message-secrets';
import { tokenHash, verifyCode } from '@lectern/infra/auth/secrets';

/** A message to one recipient on one channel, before its template is rendered. */
export type PlannedMessage = Readonly<{
  template: string;
  channel: 'email' | 'sms' | 'push';
  userId: string | null;
  /** A message to a bare address that a user owns: whose delivery log it is in (its id stays the address's). */
  ownerId?: string;
  /** An e-mail address, an E.164 number or a device token; empty when the user has none on this channel. */
  address: string;
  /** The push device, when a user has several (each is a notification of its own). */
  deviceId?: string;
  variables: Readonly<Record<string, string | number>>;
  /** When the message stops being worth sending (a link's or code's end of life). */
  expiresAt: string | null;
  /** The language asked for; null or absent = the recipient's. */
  locale?: string | null;
  /** Why this message cannot be sent at all (recorded, then dead-lettered); its variables are then incomplete. */
  refusal?: string;
  /** The user's channel choices, where they apply (never to security messages, which do not carry them). */
  preferences?: Readonly<{ email: boolean; sms: boolean; push: boolean }>;
  /** The topic the message came by (a fan-out's): its unsubscribe link turns that off, not all e-mail. */
  topic?: Readonly<{ kind: 'course' | 'author'; id: string }>;
}>;

/** Who a user is to the worker: where their messages go, in which language. */
export type Recipient = Readonly<{
  userId: string;
  email: string;
  phone: string | null;
  locale: string | null;
  /** The name they show others; a fan-out names the author by it. */
  displayName?: string | null;
}>;

export type IdentityMessageDeps = Readonly<{
  keys: MessageKeys;
  /** The web app; links point into it with the token in the fragment. */
  appUrl: string;
  /** The recipient of a user id, from the notifications context's own read model; null when not projected yet. */
  recipientOf: (userId: string) => Promise<Recipient | null>;
}>;

/** The identity events that send something. */
export const identityMessageEvents = [
  'identity.UserRegistered',
  'identity.EmailVerificationRequested',
  'identity.PasswordResetRequested',
  'identity.PhoneCodeSent',
] as const;

const hours = (from: string, to: string) =>
  Math.max(1, Math.round((Date.parse(to) - Date.parse(from)) / 3_600_000));
const minutes = (from: string, to: string) =>
  Math.max(1, Math.round((Date.parse(to) - Date.parse(from)) / 60_000));

/**
 * The link token identity derived for this request, found again with the
 * message keys and checked against the hash the event holds: a token that
 * would not work is never sent (the key that made it is not one this worker
 * holds, which is a deployment error, not a reason to retry).
 */
const linkTokenOf = (
  keys: MessageKeys,
  purpose: SecretPurpose,
  userId: string,
  facts: readonly string[],
  expectedHash: string,
): string | null => {
  for (const derived of keys.candidates(purpose, facts)) {
    const token = linkToken(userId, derived);
    if (tokenHash(token) === expectedHash) return token;
  }
  return null;
};
const foreignKey = (purpose: SecretPurpose) =>
  `the ${purpose} secret was derived with a message key this worker does not hold`;

/**
 * What an identity event asks to be sent: its secrets derived again from
 * facts of the event (never read from it), its recipient from the event or
 * from the recipients read model.
 */
export const identityMessages = async (
  event: RecordedEvent,
  deps: IdentityMessageDeps,
): Promise<readonly PlannedMessage[]> => {
  if (!schema.isIdentityEvent(event)) return [];
  switch (event.type) {
    case 'identity.UserRegistered': {
      const d = event.data;
      return [
        {
          template: 'welcome',
          channel: 'email',
          userId: d.userId,
          address: d.email,
          variables: { email: d.email },
          expiresAt: null,
        },
      ];
    }
    case 'identity.EmailVerificationRequested': {
      const d = event.data;
      const purpose: SecretPurpose = d.purpose === 'register' ? 'verify-email' : 'confirm-email-change';
      const token = linkTokenOf(
        deps.keys,
        purpose,
        d.userId,
        [d.userId, d.email, d.requestedAt],
        d.tokenHash,
      );
      const path = d.purpose === 'register' ? 'verify-email' : 'confirm-email';
      return [
        {
          template: purpose,
          channel: 'email',
          userId: d.userId,
          address: d.email,
          variables: token
            ? {
                link: `${deps.appUrl}/${path}#token=${token}`,
                expiresInHours: hours(d.requestedAt, d.expiresAt),
              }
            : {},
          expiresAt: d.expiresAt,
          ...(token ? {} : { refusal: foreignKey(purpose) }),
        },
      ];
    }
    case 'identity.PasswordResetRequested': {
      const d = event.data;
      const recipient = await deps.recipientOf(d.userId);
      // The recipients model has not caught up with this user yet: worth another try.
      if (!recipient) throw new Error(`no recipient for user ${d.userId} yet`);
      const token = linkTokenOf(
        deps.keys,
        'reset-password',
        d.userId,
        [d.userId, d.requestedAt],
        d.tokenHash,
      );
      return [
        {
          template: 'reset-password',
          channel: 'email',
          userId: d.userId,
          address: recipient.email,
          variables: token
            ? {
                link: `${deps.appUrl}/reset-password#token=${token}`,
                expiresInMinutes: minutes(d.requestedAt, d.expiresAt),
              }
            : {},
          expiresAt: d.expiresAt,
          ...(token ? {} : { refusal: foreignKey('reset-password') }),
        },
      ];
    }
    case 'identity.PhoneCodeSent': {
      const d = event.data;
      let code: string | null = null;
      for (const derived of deps.keys.candidates('phone-code', [d.phone, d.codeId])) {
        const candidate = derivedDigits(derived);
        if (await verifyCode(candidate, d.codeSalt, d.codeHash)) {
          code = candidate;
          break;
        }
      }
      return [
        {
          template: 'phone-code',
          channel: 'sms',
          userId: d.userId,
          address: d.phone,
          variables: code ? { code, expiresInMinutes: minutes(d.sentAt, d.expiresAt) } : {},
          expiresAt: d.expiresAt,
          ...(code ? {} : { refusal: foreignKey('phone-code') }),
        },
      ];
    }
    default:
      return [];
  }
};
