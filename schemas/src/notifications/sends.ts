import { eventGuard, type CatalogueOf } from '../catalogue.ts';
import type { DomainEvent, RecordedEventOf } from '../envelope.ts';
import { phoneNumber } from '../identity/requests.ts';
import {
  arrayOf,
  describe,
  email,
  integer,
  isoTime as isoTimeOf,
  nullable,
  number,
  object,
  oneOf,
  record,
  string,
  uuid as uuidOf,
  withSchema,
  jsonSchemaOf,
  type Validator,
} from '../validation.ts';
import { channels, type Channel } from './events.ts';

/*
 * `POST /api/notify/send`: an admin's (or a service's) request to send a
 * template to a user or an address. It is a command: the request is an
 * event (`notificationrequest-<id>`, the id from the command id, so an
 * Idempotency-Key retry is the same request), and the notifications worker
 * sends what it asks, once per recipient and channel, like any other
 * notification. Variables are stored in the event: they are message
 * content, never a secret.
 */

/** Who a sent notification is for: a user (every channel the template has and the user accepts), or one address. */
export type SendRecipient =
  | Readonly<{ userId: string }>
  | Readonly<{ email: string }>
  | Readonly<{ phone: string }>
  | Readonly<{ pushToken: string }>;

export type VariableValue = string | number;

export type NotificationRequested = Readonly<{
  requestId: string;
  template: string;
  templateVersion: number;
  /** The channels to use, a subset of the template's; all of them when the request named none. */
  channels: readonly Channel[];
  recipient: SendRecipient;
  variables: Readonly<Record<string, VariableValue>>;
  /** The language asked for; null = the user's, else English. */
  locale: string | null;
  requestedBy: string;
  requestedAt: string;
}>;

export type SendDomainEvent = DomainEvent<'notifications.NotificationRequested', NotificationRequested>;
export type SendEvent = RecordedEventOf<SendDomainEvent>;

const uuid = uuidOf();
const isoTime = isoTimeOf();
const templateId = describe(string({ min: 1, max: 80, pattern: /^[a-z][a-z0-9-]*$/ }), {
  description: 'A template id (see docs/contexts/notifications.md).',
  example: 'announcement',
});
const locale = describe(string({ min: 2, max: 35, pattern: /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/ }), {
  description: 'A BCP 47 language tag; the nearest translation is used (`de-AT` → `de` → `en`).',
  example: 'de',
});
const pushToken = string({ min: 1, max: 4096, trim: false });
const variableValue: Validator<VariableValue> = withSchema(
  (input, path = '') => {
    const n = number()(input, path);
    if (n.ok) return n;
    return string({ max: 2000, trim: false })(input, path);
  },
  {
    description: 'A string (≤ 2000 characters) or a number.',
    anyOf: [jsonSchemaOf(string({ max: 2000 })), { type: 'number' }],
  },
);
const variables = describe(record(variableValue, { max: 50 }), {
  description: "The template's variables by name; every one it needs, no others.",
  example: { title: 'New course', message: 'Have a look.', url: 'https://app.lectern.example/courses/1' },
});

const recipient: Validator<SendRecipient> = withSchema(
  (input, path = '') => {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return { ok: false, issues: [{ path, message: 'must be an object' }] };
    const keys = Object.keys(input);
    const one = (
      key: 'userId' | 'email' | 'phone' | 'pushToken',
      v: Validator<string>,
    ): ReturnType<Validator<SendRecipient>> => {
      const r = object({ [key]: v })(input, path);
      return r.ok ? { ok: true, value: r.value as unknown as SendRecipient } : r;
    };
    if (keys.length === 1 && keys[0] === 'userId') return one('userId', uuid);
    if (keys.length === 1 && keys[0] === 'email') return one('email', email());
    if (keys.length === 1 && keys[0] === 'phone') return one('phone', phoneNumber);
    if (keys.length === 1 && keys[0] === 'pushToken') return one('pushToken', pushToken);
    return {
      ok: false,
      issues: [{ path, message: 'must have exactly one of userId, email, phone, pushToken' }],
    };
  },
  {
    description:
      'A user (by id: every channel they accept), or one address: an e-mail, an E.164 phone, a push token.',
    oneOf: [
      {
        type: 'object',
        properties: { userId: jsonSchemaOf(uuid) },
        required: ['userId'],
        additionalProperties: false,
      },
      {
        type: 'object',
        properties: { email: jsonSchemaOf(email()) },
        required: ['email'],
        additionalProperties: false,
      },
      {
        type: 'object',
        properties: { phone: jsonSchemaOf(phoneNumber) },
        required: ['phone'],
        additionalProperties: false,
      },
      {
        type: 'object',
        properties: { pushToken: jsonSchemaOf(pushToken) },
        required: ['pushToken'],
        additionalProperties: false,
      },
    ],
  },
);

/** The body of `POST /api/notify/send`. */
export const sendRequest = object(
  {
    template: templateId,
    recipient,
    variables,
    channels: describe(arrayOf(oneOf(channels), { max: 3 }), {
      description: "Which of the template's channels to use; all of them when absent.",
    }),
    locale,
  },
  { optional: ['channels', 'locale'] },
);

/** The body of `POST /api/notify/preview`. */
export const previewRequest = object(
  {
    template: templateId,
    variables,
    channels: describe(arrayOf(oneOf(channels), { min: 1, max: 3 }), {
      description:
        "Which of the template's channels to render; all of them when absent. A channel the template lacks is 400 `channel_not_in_template`.",
    }),
    locale,
  },
  { optional: ['channels', 'locale'] },
);

export const sendEvents: CatalogueOf<SendDomainEvent> = {
  'notifications.NotificationRequested': [
    {
      version: 1,
      validate: object({
        requestId: uuid,
        template: templateId,
        templateVersion: integer({ min: 1 }),
        channels: arrayOf(oneOf(channels), { max: 3 }),
        recipient,
        variables,
        locale: nullable(locale),
        requestedBy: uuid,
        requestedAt: isoTime,
      }) as Validator<unknown>,
    },
  ],
};

export const isSendEvent = eventGuard<SendDomainEvent>(sendEvents);

export const notificationRequestStreamId = (requestId: string): string => `notificationrequest-${requestId}`;
