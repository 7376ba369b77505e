import test from 'ava';
import { asyncApiDocument } from './asyncapi.ts';
import { chatEvents } from './chat/events.ts';
import { chatSendFrame, chatSentReplyFrame, roomItemFrame } from './chat/socket.ts';
import { profileEvents } from './profile/events.ts';
import { subscribeFrame } from './realtime/protocol.ts';

const doc = asyncApiDocument({ title: 'Lectern', version: '0.1.0' }, [
  {
    context: 'profile',
    topics: [{ name: 'profile.events', description: 'Profiles.', events: profileEvents }],
  },
  {
    context: 'chat',
    topics: [{ name: 'chat.events', description: 'Chat.', events: chatEvents }],
    socket: {
      items: [{ kind: 'room', description: 'A room.', frame: roomItemFrame }],
      actions: [{ type: 'chat.send', frame: chatSendFrame, reply: chatSentReplyFrame }],
    },
  },
]);

/** Every `$ref` in the document, resolved against it: none may point nowhere. */
const dangling = (root: unknown): string[] => {
  const refs: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v))
      if (k === '$ref' && typeof x === 'string') refs.push(x);
      else walk(x);
  };
  walk(root);
  const resolve = (ref: string) =>
    ref
      .slice(2)
      .split('/')
      .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key], root);
  return refs.filter((r) => resolve(r) === undefined);
};

test('every event type of every topic is a message of its channel, in its envelope', (t) => {
  const channels = doc.channels as Record<string, { address: string; messages: Record<string, unknown> }>;
  t.is(channels.chat_events!.address, '{namespace}.chat.events');
  t.deepEqual(
    Object.keys(channels.chat_events!.messages).sort(),
    Object.keys(chatEvents)
      .map((type) => type.replace('.', '_'))
      .sort(),
  );
  const sent = (
    doc.components.messages as Record<string, { payload: { properties: Record<string, unknown> } }>
  ).chat_MessageSent!;
  t.deepEqual(sent.payload.properties.type, { type: 'string', enum: ['chat.MessageSent'] });
  t.like(sent.payload.properties.data, {
    type: 'object',
    required: ['roomId', 'messageId', 'senderId', 'body'],
  });
});

test('the socket lists the protocol frames both ways, and what contexts add to it', (t) => {
  const ops = doc.operations as Record<string, { action: string; messages: { $ref: string }[] }>;
  const names = (op: string) => ops[op]!.messages.map((m) => m.$ref.split('/').at(-1));
  t.deepEqual(names('receiveClientFrames'), [
    'auth',
    'subscribe',
    'unsubscribe',
    'presenceRequest',
    'consistency',
    'ping',
    'chat_send',
  ]);
  t.true(names('sendServerFrames').includes('chat_roomItem'));
  t.true(names('sendServerFrames').includes('chat_send_reply'));
  t.is(ops.receiveClientFrames!.action, 'receive');
  const subscribe = (doc.components.messages as Record<string, { payload: unknown }>).subscribe!.payload;
  t.deepEqual(subscribe, { $ref: '#/components/schemas/SubscribeFrame' });
  t.truthy((doc.components.schemas as Record<string, unknown>).SubscribeFrame);
  t.true(subscribeFrame({ type: 'subscribe', channel: 'room:x', cursor: -1 }).ok);
  t.false(subscribeFrame({ type: 'subscribe', channel: 'room:x', cursor: -2 }).ok);
});

test('no reference points nowhere', (t) => {
  t.deepEqual(dangling(doc), []);
});
