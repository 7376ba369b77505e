import { commandResponseHeaders, queryHeaders, queryResponseHeaders, type ApiOperation } from '../openapi.ts';
import {
  arrayOf,
  boolean,
  describe,
  integer,
  isoTime,
  nullable,
  object,
  oneOf,
  partialObject,
  string,
  uuid,
  withSchema,
  jsonSchemaOf,
  type Validator,
} from '../validation.ts';
import { roles } from './events.ts';
import {
  changeEmailRequest,
  confirmEmailChangeRequest,
  devTokenRequest,
  emailAddress,
  loginRequest,
  passwordResetConfirmRequest,
  passwordResetRequest,
  phoneCodeRequest,
  phoneNumber,
  phoneVerifyRequest,
  refreshRequest,
  registerRequest,
  resendVerificationRequest,
  setRolesRequest,
  verifyEmailRequest,
} from './requests.ts';

/* What identity's routes answer (command-services/identity, query-services/identity). */

const role = oneOf(roles);

export const tokenPair = describe(
  object({
    userId: uuid(),
    tokenType: oneOf(['Bearer']),
    accessToken: describe(string(), { description: 'A JWT (EdDSA, `typ: at+jwt`, `kid`), valid 1 h.' }),
    expiresIn: describe(integer({ min: 1 }), { description: 'Seconds the access token is valid.' }),
    accessTokenExpiresAt: isoTime(),
    refreshToken: describe(string(), {
      description: 'Opaque; spent by its first use. Reusing a spent one revokes every token of its login.',
    }),
    refreshTokenExpiresAt: nullable(isoTime()),
  }),
  { title: 'TokenPair', description: 'An access token and the refresh token that renews it.' },
);

const accepted = describe(object({ status: oneOf(['accepted']) }), {
  title: 'Accepted',
  description: 'The same answer whether or not the address is known, so that it tells nothing.',
});

export const identityUser = describe(
  object({
    userId: uuid(),
    email: emailAddress,
    phone: nullable(phoneNumber),
    status: oneOf(['pending', 'active']),
    roles: arrayOf(role),
    registeredAt: isoTime(),
    verifiedAt: nullable(isoTime()),
    lastLoginAt: nullable(isoTime()),
    lockedUntil: nullable(isoTime()),
    passwordChangedAt: nullable(isoTime()),
  }),
  { title: 'IdentityUser', description: 'A user as identity knows them; no secret.' },
);

const device = nullable(partialObject({ name: string(), platform: string(), userAgent: string() }));

export const sessionList = describe(
  object({
    items: arrayOf(
      object({
        familyId: uuid(),
        userId: uuid(),
        device,
        startedAt: isoTime(),
        lastRotatedAt: nullable(isoTime()),
        rotations: integer({ min: 0 }),
        expiresAt: isoTime(),
        revokedAt: nullable(isoTime()),
        revokeReason: nullable(oneOf(['logout', 'reuse', 'password_reset', 'admin'])),
      }),
    ),
  }),
  { title: 'SessionList', description: 'Your logins (token families), newest first.' },
);

const jwks = describe(
  object({
    keys: arrayOf(
      partialObject({
        kty: string(),
        crv: string(),
        x: string(),
        kid: string(),
        alg: string(),
        use: string(),
      }),
    ),
  }),
  { title: 'JsonWebKeySet', description: 'Public keys only (RFC 7517).' },
);

const bearer = 'bearer' as const;
const admin = { roles: ['admin'] } as const;
const json = (description: string, body: ApiOperation['body']) => ({
  description,
  ...(body ? { body } : {}),
});

/** Tags of identity's operations. */
export const identityTags: Readonly<Record<string, string>> = {
  identity:
    'Accounts, sessions and credentials: registration, login, refresh-token families, resets, e-mail and phone.',
  'identity-admin': 'Roles and signing keys (admins).',
  keys: 'The public keys access tokens are verified with.',
};

/** Every route identity mounts, development-only ones excepted (see `identityDevApi`). */
/** A one-time token that is malformed, unknown, spent or expired: a business answer, not a schema matter. */
const tokenRefused = (what: string) => ({
  status: 400,
  description:
    `\`${what}_token_invalid\`: the token is malformed, unknown or already used; \`${what}_token_expired\`: ` +
    'it has expired (request a new one); `validation_failed` for a malformed body.',
});

/**
 * `GET /api/admin/users`'s query: an exact e-mail address, an exact phone
 * number, or both (the address wins); one of them is required, which only an
 * object parameter can say.
 */
const userFilter: Validator<unknown> = withSchema((input) => ({ ok: true, value: input }), {
  type: 'object',
  description:
    'Who to find: `email` (an exact address, lower-cased), `phone` (an exact E.164 number), or both.',
  properties: { email: jsonSchemaOf(emailAddress), phone: jsonSchemaOf(phoneNumber) },
  anyOf: [{ required: ['email'] }, { required: ['phone'] }],
});

export const identityApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/identity/register',
    operationId: 'register',
    summary: 'Register with e-mail and password',
    description: 'Creates an inactive user and e-mails a verification link valid 24 h.',
    tags: ['identity'],
    security: 'none',
    body: registerRequest,
    responses: {
      201: {
        description: 'Registered; verify the e-mail to activate.',
        body: object({ userId: uuid(), email: emailAddress, status: oneOf(['pending']) }),
        headers: commandResponseHeaders,
      },
    },
    errors: [{ status: 409, description: '`email_taken`.' }, 429],
  },
  {
    method: 'post',
    path: '/api/identity/verify-email/resend',
    operationId: 'resendVerification',
    summary: 'Send the verification link again',
    description: 'A new link valid 24 h replaces the last one; answered the same for unknown addresses.',
    tags: ['identity'],
    security: 'none',
    body: resendVerificationRequest,
    responses: { 202: json('Sent if the address waits for verification.', accepted) },
    errors: [429],
  },
  {
    method: 'post',
    path: '/api/identity/verify-email',
    operationId: 'verifyEmail',
    summary: 'Verify the e-mail address and log in',
    description: 'Activates the user, spends the token and answers a token pair.',
    tags: ['identity'],
    security: 'none',
    body: verifyEmailRequest,
    responses: { 200: json('Active and logged in.', tokenPair) },
    errors: [
      tokenRefused('verification'),
      { status: 409, description: '`email_taken`: the unverified claim expired and was taken.' },
    ],
  },
  {
    method: 'post',
    path: '/api/identity/login',
    operationId: 'login',
    summary: 'Log in with e-mail and password',
    description: 'Starts a new refresh-token family for this device.',
    tags: ['identity'],
    security: 'none',
    body: loginRequest,
    responses: { 200: json('Logged in.', tokenPair) },
    errors: [
      { status: 401, description: '`invalid_credentials`.' },
      { status: 403, description: '`email_not_verified`.' },
      { status: 409, description: '`credentials_changed`: the password changed meanwhile; retry.' },
      { status: 423, description: '`account_locked`: 5 wrong passwords within 15 min lock it 15 min.' },
      { status: 429, description: '`rate_limited`: 20 failed logins per IP per 15 min.' },
    ],
  },
  {
    method: 'post',
    path: '/api/identity/refresh',
    operationId: 'refresh',
    summary: 'Rotate a refresh token',
    description:
      'Spends the presented refresh token and answers a new pair. A spent token presented again revokes the whole family; the token just spent, presented again within 5 s, is a concurrent duplicate (409).',
    tags: ['identity'],
    security: 'none',
    body: refreshRequest,
    responses: { 200: json('A new pair; the presented refresh token is spent.', tokenPair) },
    errors: [
      {
        status: 401,
        description: '`refresh_token_invalid`, or `refresh_token_reused` (the family is revoked).',
      },
      { status: 409, description: '`refresh_conflict`: a concurrent request rotated this token first.' },
    ],
  },
  {
    method: 'post',
    path: '/api/identity/logout',
    operationId: 'logout',
    summary: "Log out: revoke the refresh token's family",
    description: 'Every refresh token of this login stops working; access tokens run out within the hour.',
    tags: ['identity'],
    security: 'none',
    body: refreshRequest,
    responses: { 204: { description: 'Logged out.' } },
    errors: [{ status: 401, description: '`refresh_token_invalid`.' }],
  },
  {
    method: 'post',
    path: '/api/identity/password-reset',
    operationId: 'requestPasswordReset',
    summary: 'E-mail a password-reset link',
    description: 'The link is valid 15 minutes.',
    tags: ['identity'],
    security: 'none',
    body: passwordResetRequest,
    responses: { 202: json('Sent if the address belongs to an active user.', accepted) },
    errors: [429],
  },
  {
    method: 'post',
    path: '/api/identity/password-reset/confirm',
    operationId: 'confirmPasswordReset',
    summary: 'Set a new password with a reset token',
    description: 'Revokes every refresh token of the user.',
    tags: ['identity'],
    security: 'none',
    body: passwordResetConfirmRequest,
    responses: { 204: { description: 'Changed; every session is logged out.' } },
    errors: [tokenRefused('reset')],
  },
  {
    method: 'post',
    path: '/api/identity/email',
    operationId: 'changeEmail',
    summary: 'Change your e-mail address',
    description: 'E-mails a confirmation link to the new address; nothing changes until it is used.',
    tags: ['identity'],
    security: bearer,
    body: changeEmailRequest,
    responses: {
      202: json(
        'Confirmation sent to the new address.',
        object({ status: oneOf(['verification_sent']), email: emailAddress }),
      ),
    },
    errors: [
      { status: 404, description: '`user_not_found`.' },
      { status: 409, description: '`email_taken`.' },
    ],
  },
  {
    method: 'post',
    path: '/api/identity/email/confirm',
    operationId: 'confirmEmailChange',
    summary: 'Confirm a new e-mail address',
    description: 'With the token from the confirmation e-mail; the old address is released.',
    tags: ['identity'],
    security: 'none',
    body: confirmEmailChangeRequest,
    responses: {
      200: {
        description: 'Changed.',
        body: object({ userId: uuid(), email: emailAddress }),
        headers: commandResponseHeaders,
      },
    },
    errors: [tokenRefused('email_change'), { status: 409, description: '`email_taken`.' }],
  },
  {
    method: 'post',
    path: '/api/identity/phone',
    operationId: 'requestPhoneCode',
    summary: 'Text a code to a new phone number',
    description: 'A 6-digit code valid 10 minutes.',
    tags: ['identity'],
    security: bearer,
    body: phoneCodeRequest,
    responses: {
      202: json(
        'Sent.',
        object({ status: oneOf(['code_sent']), phone: phoneNumber, expiresAt: nullable(isoTime()) }),
      ),
    },
    errors: [
      { status: 409, description: '`phone_taken`.' },
      { status: 423, description: '`phone_locked`: 5 wrong codes lock the phone 1 h.' },
      {
        status: 429,
        description: '`phone_code_too_soon` (1 per 30 s per phone) or `rate_limited` (5 per hour per IP).',
      },
    ],
  },
  {
    method: 'post',
    path: '/api/identity/phone/verify',
    operationId: 'verifyPhone',
    summary: 'Verify the code and make the number yours',
    description: 'A wrong code is 400 `phone_code_wrong` with `attemptsLeft`; a code is single use.',
    tags: ['identity'],
    security: bearer,
    body: phoneVerifyRequest,
    responses: {
      200: {
        description: 'Verified; your phone is this number.',
        body: object({ userId: uuid(), phone: phoneNumber, verified: boolean() }),
        headers: commandResponseHeaders,
      },
    },
    errors: [
      {
        status: 400,
        description:
          '`phone_code_wrong` (with `attemptsLeft`): the code is not the one sent; `phone_code_invalid`: no ' +
          'code was sent to this number for you; `phone_code_expired`: ask for a new one; `validation_failed` ' +
          'for a malformed body.',
      },
      { status: 423, description: '`phone_locked`; the 5th wrong code locks it for 1 h.' },
    ],
  },
  {
    method: 'get',
    path: '/api/identity/me',
    operationId: 'getMe',
    summary: 'Who you are',
    description:
      'From the `identity_users` read model; send `X-Consistency-Token` to read a write you just made.',
    tags: ['identity'],
    security: bearer,
    headers: queryHeaders,
    responses: { 200: { description: 'You.', body: identityUser, headers: queryResponseHeaders } },
    errors: [
      { status: 404, description: '`user_not_found` (not projected yet: send the consistency token).' },
    ],
  },
  {
    method: 'get',
    path: '/api/identity/sessions',
    operationId: 'listSessions',
    summary: 'Your sessions',
    description: 'Each login (token family) with its device, rotations and revocation.',
    tags: ['identity'],
    security: bearer,
    responses: { 200: json('Newest first, at most 100.', sessionList) },
  },
  {
    method: 'get',
    path: '/api/admin/users',
    operationId: 'findUsers',
    summary: 'Find users by e-mail or phone',
    tags: ['identity-admin'],
    security: admin,
    queryObject: { name: 'filter', schema: userFilter },
    responses: { 200: json('Matching users.', object({ items: arrayOf(identityUser) })) },
  },
  {
    method: 'put',
    path: '/api/admin/users/:userId/roles',
    operationId: 'setUserRoles',
    summary: "Set a user's roles",
    tags: ['identity-admin'],
    security: admin,
    params: { userId: describe(uuid(), { description: 'The user.' }) },
    body: setRolesRequest,
    responses: {
      200: {
        description: 'The roles now.',
        body: object({ userId: uuid(), roles: arrayOf(role) }),
        headers: commandResponseHeaders,
      },
    },
    errors: [404],
  },
  {
    method: 'post',
    path: '/api/admin/identity/keys/rotate',
    operationId: 'rotateSigningKey',
    summary: 'Rotate the token signing key',
    description: 'New tokens use a new key; the old one stays published until tokens it signed have expired.',
    tags: ['identity-admin'],
    security: admin,
    responses: { 200: json('The new key id.', object({ kid: string() })) },
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    operationId: 'getJwks',
    summary: 'The public signing keys',
    description:
      'Every key a valid access token may be signed with: the active one and those retired less than the token lifetime ago.',
    tags: ['keys'],
    security: 'none',
    responses: { 200: json('The JWKS.', jwks) },
  },
];

/** Development-only routes (absent with `NODE_ENV=production`, and from its document). */
export const identityDevApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/dev/token',
    operationId: 'devToken',
    summary: 'Mint an access token for any user and roles (development only)',
    description: 'For trying the API locally (`./dev lectern dev-token`); absent in production.',
    tags: ['development'],
    security: 'none',
    body: devTokenRequest,
    responses: { 200: json('The token.', object({ token: string(), expiresAt: isoTime() })) },
  },
];

export const identityDevTags: Readonly<Record<string, string>> = {
  development: 'Development-only helpers; they do not exist in production.',
};
