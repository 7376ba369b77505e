import {
  commandHeaders,
  commandResponseHeaders,
  queryHeaders,
  queryResponseHeaders,
  requiredParam,
  type ApiOperation,
} from '../openapi.ts';
import { arrayOf, boolean, describe, integer, object, oneOf, string, uuid } from '../validation.ts';
import {
  channelChanges,
  deviceParams,
  MAX_PUSH_DEVICES,
  MAX_TOPICS,
  pushDeviceRegistration,
  pushPlatforms,
  topic,
  topicParams,
} from './subscriptions.ts';

/*
 * What the subscription routes answer. No handler validates its own
 * answers; the e2e flow checks real answers against these, so the document
 * cannot drift from what the routes send.
 */

const revision = describe(integer({ min: -1 }), {
  description: 'The stream revision after the command (`-1`: nothing was ever written).',
});

const channels = describe(object({ email: boolean(), sms: boolean(), push: boolean() }), {
  title: 'NotificationChannels',
  description: 'Which channels the user accepts messages of their topics on.',
});

const securityNote =
  'Security messages (e-mail verification, password reset, phone codes) are sent whatever is chosen here: ' +
  'they cannot be switched off, and there is no setting for them.';

export const subscriptionsDocument = describe(
  object({
    userId: uuid(),
    channels,
    devices: arrayOf(
      object({
        deviceId: uuid(),
        platform: oneOf(pushPlatforms),
        tokenEnd: describe(string(), {
          description:
            'The last 6 characters of the push token, to tell devices apart; the token is never shown.',
        }),
      }),
    ),
    topics: arrayOf(topic),
  }),
  {
    title: 'NotificationSubscriptions',
    description: `A user's subscriptions; before their first change, the defaults (every channel on, nothing followed, no devices). ${securityNote}`,
  },
);

export const channelsResult = describe(object({ userId: uuid(), revision, channels }), {
  title: 'NotificationChannelsResult',
  description: 'Every channel as it is now.',
});

export const topicResult = describe(
  object({
    userId: uuid(),
    revision,
    topic,
    subscribed: describe(boolean(), { description: 'Whether the topic is followed now.' }),
  }),
  { title: 'NotificationTopicResult' },
);

export const pushDeviceResult = describe(object({ deviceId: uuid(), revision }), {
  title: 'PushDeviceResult',
});

export const unsubscribeResult = describe(
  object({
    status: oneOf(['unsubscribed']),
    scope: describe(string(), {
      description: 'What was turned off: `all-email`, `course:<id>` or `author:<id>`.',
    }),
  }),
  { title: 'UnsubscribeResult' },
);

/** `?token=` of the one-click unsubscribe link. */
const unsubscribeTokenParam = requiredParam(
  describe(string({ min: 1, max: 400, trim: false }), {
    description: 'The token of the link, as the message gave it (`<userId>.<scope>.<signature>`).',
  }),
);

const conflict = {
  status: 409,
  description: 'Others kept changing the subscriptions; retry (`concurrent_modification`).',
};

/** Tags of the subscription operations, with what they cover. */
export const subscriptionsTags: Readonly<Record<string, string>> = {
  subscriptions:
    "A user's notification subscriptions: the channels they accept, their push devices, the courses and " +
    `authors they follow, and the one-click unsubscribe link of e-mails. ${securityNote}`,
};

/** Every route of the subscriptions (command-services/notifications and query-services/notifications). */
export const subscriptionsApi: readonly ApiOperation[] = [
  {
    method: 'get',
    path: '/api/subscriptions',
    operationId: 'getSubscriptions',
    summary: 'Read your subscriptions',
    description:
      'The channels, push devices and followed topics of the caller, with `ETag` their revision (`"-1"` ' +
      "before the first change: the defaults). Send a command's `X-Consistency-Token` to read your own write. " +
      securityNote,
    tags: ['subscriptions'],
    security: 'bearer',
    headers: queryHeaders,
    responses: {
      200: {
        description: 'The subscriptions.',
        body: subscriptionsDocument,
        headers: { ETag: 'The revision of the subscriptions, for `If-Match`.', ...queryResponseHeaders },
      },
    },
    errors: [{ status: 400, description: 'The consistency token is not one a command returned.' }],
  },
  {
    method: 'put',
    path: '/api/subscriptions/channels',
    operationId: 'changeNotificationChannels',
    summary: 'Turn channels on or off',
    description:
      'Turns any subset of e-mail, SMS and push on or off for the messages of followed topics. Channels ' +
      `already as sent are not changed again (nothing is written when nothing changes). ${securityNote}`,
    tags: ['subscriptions'],
    security: 'bearer',
    headers: commandHeaders,
    body: channelChanges,
    responses: {
      200: {
        description: 'The channels as they are now.',
        body: channelsResult,
        headers: commandResponseHeaders,
      },
    },
    errors: [conflict, 412],
  },
  {
    method: 'put',
    path: '/api/subscriptions/topics/:kind/:id',
    operationId: 'followTopic',
    summary: 'Follow a course or an author',
    description: `Follows the topic; following it again changes nothing. At most ${MAX_TOPICS} topics.`,
    tags: ['subscriptions'],
    security: 'bearer',
    params: topicParams,
    headers: commandHeaders,
    responses: {
      200: { description: 'The topic is followed.', body: topicResult, headers: commandResponseHeaders },
    },
    errors: [
      { status: 400, description: 'The kind or the id is not valid (`validation_failed`, with a pointer).' },
      {
        status: 409,
        description: `The caller follows ${MAX_TOPICS} topics already (\`too_many_topics\`), or others kept changing the subscriptions (\`concurrent_modification\`).`,
      },
      412,
    ],
  },
  {
    method: 'delete',
    path: '/api/subscriptions/topics/:kind/:id',
    operationId: 'unfollowTopic',
    summary: 'Stop following a course or an author',
    description: 'Unfollows the topic; a topic not followed stays so, and the answer is the same.',
    tags: ['subscriptions'],
    security: 'bearer',
    params: topicParams,
    headers: commandHeaders,
    responses: {
      200: { description: 'The topic is not followed.', body: topicResult, headers: commandResponseHeaders },
    },
    errors: [
      { status: 400, description: 'The kind or the id is not valid (`validation_failed`, with a pointer).' },
      conflict,
      412,
    ],
  },
  {
    method: 'post',
    path: '/api/subscriptions/devices',
    operationId: 'registerPushDevice',
    summary: 'Register a device for push messages',
    description:
      'Registers the push token of an app on a device. A token already registered is the same device: the ' +
      `answer is 200 with its \`deviceId\`. At most ${MAX_PUSH_DEVICES} devices.`,
    tags: ['subscriptions'],
    security: 'bearer',
    headers: commandHeaders,
    body: pushDeviceRegistration,
    responses: {
      201: {
        description: 'The device was registered.',
        body: pushDeviceResult,
        headers: { ...commandResponseHeaders, Location: 'Where the device can be removed.' },
      },
      200: {
        description: 'The token was registered already, as this device.',
        body: pushDeviceResult,
        headers: { ...commandResponseHeaders, Location: 'Where the device can be removed.' },
      },
    },
    errors: [
      {
        status: 409,
        description: `The caller has ${MAX_PUSH_DEVICES} devices already (\`too_many_devices\`): remove one first; or others kept changing the subscriptions (\`concurrent_modification\`).`,
      },
      412,
    ],
  },
  {
    method: 'delete',
    path: '/api/subscriptions/devices/:deviceId',
    operationId: 'removePushDevice',
    summary: 'Remove a push device',
    description:
      'No more push messages go to the device; a device not registered stays so, and the answer is the same.',
    tags: ['subscriptions'],
    security: 'bearer',
    params: deviceParams,
    headers: commandHeaders,
    responses: {
      200: {
        description: 'The device is not registered.',
        body: pushDeviceResult,
        headers: commandResponseHeaders,
      },
    },
    errors: [
      { status: 400, description: 'The device id is not valid (`validation_failed`, with a pointer).' },
      conflict,
      412,
    ],
  },
  {
    method: 'post',
    path: '/api/subscriptions/unsubscribe',
    operationId: 'unsubscribeByLink',
    summary: 'One-click unsubscribe (RFC 8058)',
    description:
      'The `List-Unsubscribe` URL of our e-mails: a mail client posts it (with the form body ' +
      '`List-Unsubscribe=One-Click`, which is not read; an empty or JSON body does as well) and the token ' +
      'alone says who and what: e-mail as a whole (`all-email`) or one followed topic. No access token is ' +
      `needed; repeating it changes nothing and answers the same. ${securityNote}`,
    tags: ['subscriptions'],
    security: 'none',
    query: { token: unsubscribeTokenParam },
    responses: {
      200: { description: 'Unsubscribed.', body: unsubscribeResult, headers: commandResponseHeaders },
    },
    errors: [
      {
        status: 400,
        description: 'The token is missing, malformed, or not signed by us (`unsubscribe_token_invalid`).',
      },
      conflict,
    ],
  },
];
