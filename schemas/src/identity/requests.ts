import { arrayOf, describe, email, object, oneOf, partialObject, string, uuid } from '../validation.ts';
import { roles } from './events.ts';

/**
 * What identity's routes accept. Addresses are lower-cased by `email()`, so
 * `Ada@x.org` and `ada@x.org` are one account; passwords are taken as typed
 * (never trimmed).
 */
export const emailAddress = email();
/** E.164: `+` and 7–15 digits. */
export const phoneNumber = string({ pattern: /^\+[1-9]\d{6,14}$/ });
/** NIST SP 800-63B: length over composition rules; the upper bound caps hashing cost. */
export const password = describe(string({ min: 10, max: 128, trim: false }), {
  description: 'At least 10 and at most 128 characters, taken as typed.',
});
const oneTimeToken = string({ min: 20, max: 200, pattern: /^[A-Za-z0-9._-]+$/ });

export const registerRequest = object({ email: emailAddress, password });
export const verifyEmailRequest = object({ token: oneTimeToken });
export const resendVerificationRequest = object({ email: emailAddress });
export const loginRequest = object(
  {
    email: emailAddress,
    password: string({ min: 1, max: 128, trim: false }),
    device: describe(partialObject({ name: string({ max: 100 }), platform: string({ max: 50 }) }), {
      description: 'Shown in the session list; the User-Agent is added by the server.',
    }),
  },
  { optional: ['device'] },
);
export const refreshRequest = object({ refreshToken: oneTimeToken });
export const passwordResetRequest = object({ email: emailAddress });
export const passwordResetConfirmRequest = object({ token: oneTimeToken, newPassword: password });
export const changeEmailRequest = object({
  newEmail: emailAddress,
  password: string({ min: 1, max: 128, trim: false }),
});
export const confirmEmailChangeRequest = object({ token: oneTimeToken });
export const phoneCodeRequest = object({ phone: phoneNumber });
export const phoneVerifyRequest = object({ phone: phoneNumber, code: string({ pattern: /^\d{6}$/ }) });
const roleList = arrayOf(oneOf(roles), { max: roles.length });
export const setRolesRequest = object({ roles: roleList });
/** `POST /api/dev/token` (development only): a user id, and roles (`learner` when left out). */
export const devTokenRequest = object({ sub: uuid(), roles: roleList }, { optional: ['roles'] });
