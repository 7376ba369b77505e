import { commandHeaders, commandResponseHeaders, requiredParam, type ApiOperation } from '../openapi.ts';
import { previewRequest, sendRequest } from './sends.ts';
import {
  arrayOf,
  describe,
  integer,
  integerString,
  uuid,
  isoTime,
  jsonSchemaOf,
  nullable,
  object,
  oneOf,
  record,
  string,
  withSchema,
  type Validator,
} from '../validation.ts';
import { emailAddress, phoneNumber } from '../identity/requests.ts';

const json = (description: string, body: ApiOperation['body']) => ({
  description,
  ...(body ? { body } : {}),
});

/** `to` of `GET /api/dev/outbox`: whose messages, by address or number. */
export const outboxAddress: Validator<string> = withSchema(
  (input, path = '') => {
    const e = emailAddress(input, path);
    return e.ok ? e : phoneNumber(input, path);
  },
  {
    description: 'An e-mail address or an E.164 phone number.',
    anyOf: [jsonSchemaOf(emailAddress), jsonSchemaOf(phoneNumber)],
    examples: ['ada@example.org'],
  },
);

/** Development-only routes (absent with `NODE_ENV=production`, and from its document). */
export const notificationsDevApi: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/dev/outbox',
    operationId: 'devOutbox',
    summary: 'The development mailbox (development only)',
    description:
      'What the notifications worker handed to the development mailbox, the embedded profile’s provider for every channel: e-mails and texts with their links and codes, newest first.',
    tags: ['development'],
    security: 'none',
    query: { to: requiredParam(outboxAddress) },
    responses: {
      200: json(
        'The messages.',
        object({
          items: arrayOf(
            object({
              channel: oneOf(['email', 'sms', 'push']),
              to: string(),
              template: string(),
              messageId: string(),
              subject: string(),
              text: describe(string(), { description: 'The plain-text part, with its link or code.' }),
              html: nullable(string()),
              sentAt: isoTime(),
            }),
          ),
        }),
      ),
    },
  },
];

export const notificationsDevTags: Readonly<Record<string, string>> = {
  development: 'Development-only helpers; they do not exist in production.',
};

/** The query of `GET /api/admin/notifications`. */
export const notificationLogQuery = {
  user: requiredParam(describe(uuid(), { description: 'The user whose notifications to show.' })),
  limit: describe(integerString({ min: 1, max: 200 }), { description: 'Decisions per page.', default: 50 }),
  before: describe(string(), {
    description: 'The `next` of the page before; opaque (400 `invalid_cursor` if it is not one).',
  }),
} as const;

const decision = object({
  decisionId: uuid(),
  notificationId: uuid(),
  decision: oneOf(['sent', 'suppressed', 'failed', 'dead_lettered']),
  template: string(),
  templateVersion: integer(),
  channel: oneOf(['email', 'sms', 'push']),
  userId: nullable(uuid()),
  address: describe(string(), { description: 'Masked: `a…@example.org`, `+49…78`.' }),
  causeEventId: uuid(),
  causeEventType: string(),
  provider: nullable(string()),
  providerRef: nullable(string()),
  attempts: nullable(integer()),
  reason: nullable(string()),
  at: isoTime(),
});

const rendered = object(
  {
    template: string(),
    version: integer(),
    locale: describe(string(), { description: 'The translation used.' }),
    email: object({ subject: string(), html: string(), text: string() }),
    sms: object({ text: string(), encoding: oneOf(['gsm-7', 'ucs-2']), segments: integer() }),
    push: object({ title: string(), body: string(), data: record(string()) }),
  },
  { optional: ['email', 'sms', 'push'] },
);

const renderErrors = {
  status: 400,
  description:
    '`template_unknown`; `template_variable_missing`, `template_variable_unknown`, `template_variable_invalid` ' +
    '(one pointer per variable in `errors`; several kinds at once: `template_variables_invalid`); `sms_too_long`, ' +
    '`push_too_long` (the detail names the channel, the rendered length and the limit; the pointer is ' +
    '`/variables/<name>` where one variable alone makes the text too long, else `/variables`); ' +
    '`validation_failed` for a malformed body.',
};

/** The notifications context's operations. */
export const notificationsApi: readonly ApiOperation[] = [
  {
    method: 'post',
    path: '/api/notify/preview',
    operationId: 'previewNotification',
    summary: 'Render a template',
    description:
      'Renders the channels asked for (`channels`; every channel of the template when absent) with the given variables, in the nearest translation of `locale`, and sends nothing. System variables (`appUrl`, `unsubscribeUrl`) are filled with examples.',
    tags: ['notifications-admin'],
    security: { roles: ['admin'] },
    body: previewRequest,
    responses: { 200: json('The message of each channel asked for.', rendered) },
    errors: [
      renderErrors,
      {
        status: 400,
        description:
          '`channel_not_in_template`: a channel asked for that the template does not have (a pointer per channel, `/channels/<i>`).',
      },
    ],
  },
  {
    method: 'post',
    path: '/api/notify/send',
    operationId: 'sendNotification',
    summary: 'Send a template to a user or an address',
    description:
      "Asks the notifications worker to send a template: to a user (each channel asked for, or all the template has, that the user accepts; push to each of the user's devices), or to one address on its channel. Rendered first, so what could not be sent is refused here. With `Idempotency-Key` a retry is the same request. The variables are kept in the request's event: never put a secret in them.",
    tags: ['notifications-admin'],
    security: { roles: ['admin'] },
    headers: commandHeaders,
    body: sendRequest,
    responses: {
      202: {
        description:
          'Accepted: the worker sends it; `GET /api/admin/notifications?user=` shows what it decided.',
        body: object({
          requestId: uuid(),
          template: string(),
          templateVersion: integer(),
          channels: arrayOf(oneOf(['email', 'sms', 'push'])),
        }),
        headers: commandResponseHeaders,
      },
    },
    errors: [
      renderErrors,
      {
        status: 400,
        description:
          '`channel_not_in_template`: the template has no such channel; `channel_not_for_recipient`: a bare address was asked for another channel than its own (an e-mail address takes e-mail only).',
      },
    ],
  },
  {
    method: 'get',
    path: '/api/admin/notifications',
    operationId: 'notificationLog',
    summary: "A user's notification decisions",
    description:
      'Every decision of the notifications worker about one user, newest first: sent (provider, tries), suppressed (why), failed, dead-lettered. How support answers “why did this user not get that message”.',
    tags: ['notifications-admin'],
    security: { roles: ['admin'] },
    query: notificationLogQuery,
    responses: {
      200: json(
        'A page of decisions; `next` pages on.',
        object({ items: arrayOf(decision), next: nullable(string()) }),
      ),
    },
    errors: [
      {
        status: 400,
        description:
          '`validation_failed` for a malformed `user` or `limit`; `invalid_cursor`: `before` is not a `next` this API returned.',
      },
    ],
  },
];

export const notificationsTags: Readonly<Record<string, string>> = {
  'notifications-admin': 'What the notifications worker decided, for support (admins).',
};
