import { arrayOf, object, oneOf, partialObject, string } from '../validation.ts';
import { roles } from './events.ts';

/**
 * What identity's routes accept. Emails are lower-cased by the route after
 * validation; passwords are taken as typed (never trimmed).
 */
export const emailAddress = string({ max: 254, pattern: /^[^\s@]+@[^\s@]+\.[^\s@]+$/ });
/** E.164: `+` and 7–15 digits. */
export const phoneNumber = string({ pattern: /^\+[1-9]\d{6,14}$/ });
/** NIST SP 800-63B: length over composition rules; the upper bound caps hashing cost. */
export const password = string({ min: 10, max: 128, trim: false });
const oneTimeToken = string({ min: 20, max: 200, pattern: /^[A-Za-z0-9._-]+$/ });

export const registerRequest = object({ email: emailAddress, password });
export const verifyEmailRequest = object({ token: oneTimeToken });
export const resendVerificationRequest = object({ email: emailAddress });
export const loginRequest = partialObject({
  email: emailAddress,
  password: string({ min: 1, max: 128, trim: false }),
  device: partialObject({
    name: string({ max: 100 }),
    platform: string({ max: 50 }),
  }),
});
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
export const setRolesRequest = object({ roles: arrayOf(oneOf(roles), { max: roles.length }) });
