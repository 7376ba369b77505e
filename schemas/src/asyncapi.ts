import type { EventCatalogue } from './catalogue.ts';
import { hoister } from './openapi.ts';
import {
  authFrame,
  CLOSE_CODES,
  consistencyFrame,
  consistencyReply,
  errorFrame,
  pingFrame,
  pongFrame,
  presenceChangeFrame,
  presenceListReply,
  presenceRequestFrame,
  replyFrame,
  subscribedFrame,
  subscribeFrame,
  unsubscribedFrame,
  unsubscribeFrame,
  welcomeFrame,
} from './realtime/protocol.ts';
import { describe, jsonSchemaOf, type JsonSchema, type Validator } from './validation.ts';

/** A message of a topic that is not an event catalogue (client telemetry). */
export type AsyncApiTopicMessage = Readonly<{ name: string; summary: string; payload: Validator<unknown> }>;

/** One topic of the log, after the namespace (`chat.events` is `<namespace>.chat.events`). */
export type AsyncApiTopic = Readonly<{
  name: string;
  description: string;
  /** Its events, each as the envelope the relay publishes with the data of its newest version. */
  events?: EventCatalogue;
  messages?: readonly AsyncApiTopicMessage[];
}>;

/** What a context brings to the socket: its channel kinds' item frames, its actions. */
export type AsyncApiSocket = Readonly<{
  items?: readonly Readonly<{ kind: string; description: string; frame: Validator<unknown> }>[];
  actions?: readonly Readonly<{ type: string; frame: Validator<unknown>; reply: Validator<unknown> }>[];
}>;

/** A context's part of the AsyncAPI document. */
export type AsyncApiSection = Readonly<{
  context: string;
  topics?: readonly AsyncApiTopic[];
  socket?: AsyncApiSocket;
}>;

const KEY = /[^A-Za-z0-9_-]/g;
/** A key AsyncAPI takes for a channel, message or operation (`chat.MessageSent` → `chat_MessageSent`). */
const keyOf = (name: string) => name.replace(KEY, '_');

const ref = (path: string) => ({ $ref: path });

/** The envelope every event travels in (infra's codec), with `data` as given. */
const envelope = (type: string, version: number, data: JsonSchema): JsonSchema => ({
  type: 'object',
  required: [
    'id',
    'type',
    'schemaVersion',
    'streamId',
    'revision',
    'position',
    'occurredAt',
    'data',
    'metadata',
  ],
  properties: {
    id: {
      type: 'string',
      format: 'uuid',
      description: 'Deterministic from the command: a copy has the same id.',
    },
    type: { type: 'string', enum: [type] },
    schemaVersion: { type: 'integer', enum: [version] },
    streamId: { type: 'string', description: 'The aggregate: `<aggregate>-<uuid>`; also the message key.' },
    revision: { type: 'integer', minimum: 0, description: 'Its place in its stream.' },
    position: { type: 'integer', minimum: 1, description: 'Its place in the store (the consistency token).' },
    occurredAt: { type: 'string', format: 'date-time' },
    data,
    metadata: { $ref: '#/components/schemas/EventMetadata' },
  },
});

const eventMetadata: JsonSchema = {
  type: 'object',
  required: ['correlationId', 'causationId', 'actor', 'requestId', 'traceparent'],
  properties: {
    correlationId: { type: 'string' },
    causationId: { type: ['string', 'null'] },
    actor: {
      type: ['object', 'null'],
      properties: {
        userId: { type: ['string', 'null'] },
        roles: { type: 'array', items: { type: 'string' } },
      },
    },
    requestId: { type: ['string', 'null'] },
    traceparent: { type: ['string', 'null'] },
  },
};

/** The envelope headers every record carries; the optional ones follow. */
const REQUIRED_HEADERS = [
  'event-id',
  'event-type',
  'schema-version',
  'stream-id',
  'revision',
  'position',
  'correlation-id',
];

const eventHeaders: JsonSchema = {
  type: 'object',
  description: 'The envelope repeated for tools that do not parse the value.',
  required: REQUIRED_HEADERS,
  properties: Object.fromEntries(
    [...REQUIRED_HEADERS, 'causation-id', 'traceparent', 'request-id', 'actor-id'].map((h) => [
      h,
      { type: 'string' },
    ]),
  ),
};

const closeCodes = Object.values(CLOSE_CODES)
  .map((c) => `- \`${c.code}\` \`${c.reason}\`: ${c.meaning}`)
  .join('\n');

/**
 * The AsyncAPI 3.0 document of Lectern: the WebSocket protocol at `/ws`
 * (the protocol's frames, and what each context adds to it) and the
 * topics of the log (each context's events, in their envelope). Served
 * at `/asyncapi.json` and linted with Spectral's AsyncAPI rules.
 *
 * @example asyncApiDocument({ title: 'Lectern', version: '0.1.0' }, [chatAsyncApi, profileAsyncApi])
 */
export const asyncApiDocument = (
  info: Readonly<{ title: string; version: string }>,
  sections: readonly AsyncApiSection[],
) => {
  const { hoist, components } = hoister();
  const messages: Record<string, unknown> = {};
  const message = (name: string, summary: string, payload: JsonSchema, extra: object = {}) => {
    const key = keyOf(name);
    if (messages[key]) throw new Error(`two AsyncAPI messages are named ${key}`);
    messages[key] = {
      name,
      title: name,
      summary,
      contentType: 'application/json',
      payload: hoist(payload),
      ...extra,
    };
    return key;
  };
  const frame = (name: string, v: Validator<unknown>) => {
    const schema = jsonSchemaOf(v);
    const summary = String(
      (schema.properties as { type?: JsonSchema } | undefined)?.type?.description ?? name,
    );
    return message(name, summary, schema);
  };

  // The socket: the protocol's frames, then each context's.
  const received = [
    frame('auth', authFrame),
    frame('subscribe', subscribeFrame),
    frame('unsubscribe', unsubscribeFrame),
    frame('presenceRequest', presenceRequestFrame),
    frame('consistency', consistencyFrame),
    frame('ping', pingFrame),
  ];
  const sent = [
    frame('welcome', welcomeFrame),
    frame('subscribed', subscribedFrame),
    frame('unsubscribed', unsubscribedFrame),
    frame('presenceChange', presenceChangeFrame),
    frame(
      'presenceList',
      describe(replyFrame(presenceListReply, 'Who is in the channel.'), { title: 'PresenceListReplyFrame' }),
    ),
    frame(
      'consistencyReply',
      describe(replyFrame(consistencyReply, 'Whether the read model has applied the write.'), {
        title: 'ConsistencyReplyFrame',
      }),
    ),
    frame('pong', pongFrame),
    frame('error', errorFrame),
  ];
  for (const s of sections) {
    for (const item of s.socket?.items ?? []) sent.push(frame(`${s.context}.${item.kind}Item`, item.frame));
    for (const action of s.socket?.actions ?? []) {
      received.push(frame(action.type, action.frame));
      sent.push(frame(`${action.type}.reply`, action.reply));
    }
  }
  const socketMessages = Object.fromEntries(
    [...received, ...sent].map((k) => [k, ref(`#/components/messages/${k}`)]),
  );

  const channels: Record<string, unknown> = {
    socket: {
      address: '/ws',
      title: 'The realtime socket',
      description:
        'JSON text frames, one object each. Send `auth` first (the token never goes in the URL), then ' +
        'subscribe to channels with the last seq you have: every item after it comes once, in order, ' +
        'from history and then live, on whichever gateway process you reach.\n\nClose codes:\n' +
        closeCodes,
      servers: [ref('#/servers/gateway')],
      messages: socketMessages,
    },
  };
  const operations: Record<string, unknown> = {
    receiveClientFrames: {
      action: 'receive',
      title: 'Frames a client sends',
      description: "auth, subscribe, unsubscribe, presence, consistency, ping, and the contexts' actions.",
      channel: ref('#/channels/socket'),
      messages: received.map((k) => ref(`#/channels/socket/messages/${k}`)),
    },
    sendServerFrames: {
      action: 'send',
      title: 'Frames the gateway sends',
      description: 'Answers, items of subscribed channels, presence changes and errors.',
      channel: ref('#/channels/socket'),
      messages: sent.map((k) => ref(`#/channels/socket/messages/${k}`)),
    },
  };

  // The log: each context's topics.
  for (const s of sections)
    for (const topic of s.topics ?? []) {
      const keys: string[] = [];
      for (const [type, versions] of Object.entries(topic.events ?? {})) {
        const newest = versions[versions.length - 1]!;
        keys.push(
          message(
            type,
            `${type} (schema version ${newest.version})`,
            envelope(type, newest.version, jsonSchemaOf(newest.validate)),
            {
              headers: ref('#/components/schemas/EventHeaders'),
            },
          ),
        );
      }
      for (const m of topic.messages ?? []) keys.push(message(m.name, m.summary, jsonSchemaOf(m.payload)));
      const channel = keyOf(topic.name);
      channels[channel] = {
        address: `{namespace}.${topic.name}`,
        title: topic.name,
        description: topic.description,
        servers: [ref('#/servers/kafka')],
        parameters: { namespace: ref('#/components/parameters/namespace') },
        messages: Object.fromEntries(keys.map((k) => [k, ref(`#/components/messages/${k}`)])),
      };
      operations[`publish_${channel}`] = {
        action: 'send',
        title: `Publish to ${topic.name}`,
        description: `What Lectern publishes to \`<namespace>.${topic.name}\`: ${topic.description}`,
        channel: ref(`#/channels/${channel}`),
        messages: keys.map((k) => ref(`#/channels/${channel}/messages/${k}`)),
      };
    }

  return {
    asyncapi: '3.0.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'The realtime socket and the topics of the message log. Over the socket a client receives ' +
        'what happens in the channels it may read; on the log every consumer reads every event.',
      contact: { name: 'Lectern', url: 'https://github.com/lectern' },
      tags: [
        { name: 'events', description: 'The topics of the message log.' },
        { name: 'realtime', description: 'The WebSocket protocol at /ws.' },
      ],
    },
    defaultContentType: 'application/json',
    servers: {
      gateway: {
        host: 'localhost:8000',
        protocol: 'ws',
        description: 'A process with the `realtime` role (every process of `./dev start`).',
      },
      kafka: {
        host: 'localhost:19092',
        protocol: 'kafka',
        description: 'The message log (Kafka; a PostgreSQL table log in the embedded profile, same topics).',
      },
    },
    channels,
    operations,
    components: {
      schemas: { ...components(), EventMetadata: eventMetadata, EventHeaders: eventHeaders },
      messages,
      parameters: {
        namespace: { description: 'The deployment (`LECTERN_NAMESPACE`).', default: 'lectern' },
      },
    },
  };
};
