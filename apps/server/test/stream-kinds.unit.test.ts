import test from 'ava';
import { loadConfig } from '../src/config.ts';
import { contextModules } from '../src/modules.ts';

const modules = contextModules(loadConfig({}));

test('every event type a context publishes belongs to one of its stream kinds, and no other type does', (t) => {
  for (const m of modules) {
    const published = new Set(m.asyncApi?.topics?.flatMap((topic) => Object.keys(topic.events ?? {})) ?? []);
    const declared = (m.streams ?? []).flatMap((k) => Object.keys(k.events));
    // A type may sit in two kinds only when one stream writes it beside another's (the fan-out pages).
    t.deepEqual(
      [...new Set(declared)].sort(),
      [...published].sort(),
      `${m.name}: stream kinds cover its events`,
    );
  }
});

test('every stream category of the deployment, each declared once, each aggregate with its decider', (t) => {
  const kinds = modules.flatMap((m) => m.streams ?? []);
  const categories = kinds.map((k) => k.category);
  t.is(new Set(categories).size, categories.length, 'unique');
  t.deepEqual(Object.fromEntries(kinds.map((k) => [k.category, k.decider ? 'decider' : 'record'])), {
    user: 'decider',
    emailclaim: 'decider',
    tokenfamily: 'decider',
    phone: 'decider',
    profile: 'decider',
    experiencelevel: 'decider',
    course: 'decider',
    mediaasset: 'decider',
    chatroom: 'decider',
    chatmessages: 'record',
    chatblocks: 'decider',
    chatattachment: 'decider',
    subscriptions: 'decider',
    notificationrequest: 'decider',
    notification: 'record',
    notificationfanout: 'record',
    pdfreport: 'decider',
    pdfreportschedule: 'decider',
  });
  const identity = kinds.find((k) => k.category === 'user')!;
  for (const key of ['passwordHash', 'tokenHash', 'matchedHash', 'codeHash', 'codeSalt'])
    t.true(identity.redact.includes(key), `identity redacts ${key}`);
});
