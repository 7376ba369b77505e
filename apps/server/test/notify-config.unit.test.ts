import { randomBytes } from 'node:crypto';
import test from 'ava';
import { ConfigError, loadConfig } from '../src/config.ts';

const production = {
  NODE_ENV: 'production',
  JWT_ISSUER: 'https://id.lectern.test',
  JWT_AUDIENCE: 'lectern',
  LECTERN_APP_URL: 'https://app.lectern.test',
};
const key = () => randomBytes(32).toString('base64url');

test('development: no keys (the database keeps one) and no providers (the development mailbox)', (t) => {
  const c = loadConfig({});
  t.is(c.messageKeys, null);
  t.deepEqual(c.notify, {
    from: 'Lectern <no-reply@lectern.localhost>',
    email: [],
    sms: [],
    push: [],
    perSecond: { email: 100, sms: 10, push: 500 },
  });
  t.true(c.roles.includes('workers'), 'every role by default, workers included');
});

test('providers: a primary and a fallback per channel, secrets only as files', (t) => {
  const c = loadConfig({
    SMTP_URL: 'smtp://127.0.0.1:1025',
    SMTP_FALLBACK_URL: 'smtps://relay.example.org:465',
    SMTP_FALLBACK_USER: 'lectern',
    SMTP_FALLBACK_PASSWORD_FILE: '/run/secrets/smtp',
    SMS_PROVIDER_URL: 'https://sms.example.org/send',
    SMS_PROVIDER_TOKEN_FILE: '/run/secrets/sms',
    PUSH_FALLBACK_URL: 'https://push.example.org/send',
    LECTERN_MAIL_FROM: 'Lectern <hello@lectern.example>',
  });
  t.deepEqual(c.notify.email, [
    { name: 'smtp', url: 'smtp://127.0.0.1:1025', user: null, secretFile: null },
    {
      name: 'smtp-fallback',
      url: 'smtps://relay.example.org:465',
      user: 'lectern',
      secretFile: '/run/secrets/smtp',
    },
  ]);
  t.deepEqual(c.notify.sms, [
    { name: 'sms', url: 'https://sms.example.org/send', user: null, secretFile: '/run/secrets/sms' },
  ]);
  t.is(c.notify.push.length, 1);
  t.is(c.notify.from, 'Lectern <hello@lectern.example>');
  const error = t.throws(
    () =>
      loadConfig({
        SMTP_URL: 'smtp://user:secret@127.0.0.1:1025',
        SMTP_PASSWORD: 'secret',
        SMS_PROVIDER_URL: 'ftp://sms.example.org',
        LECTERN_MAIL_FROM: 'nobody',
        LECTERN_MESSAGE_KEYS: 'c2hvcnQ',
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual([...(error?.problems ?? [])].sort(), [
    'LECTERN_MAIL_FROM must be an address or `Name <address>`',
    'LECTERN_MESSAGE_KEYS entry 1 is not base64url of ≥ 32 bytes',
    'SMS_PROVIDER_URL must be a https: or http: URL',
    'SMTP_PASSWORD is not read: name a file in SMTP_PASSWORD_FILE',
    'SMTP_URL must not carry credentials',
  ]);
});

test('production: message keys wherever messages are decided or sent, and SMTP wherever they are sent', (t) => {
  const missing = t.throws(() => loadConfig(production), { instanceOf: ConfigError });
  t.deepEqual(missing?.problems, [
    'LECTERN_MESSAGE_KEYS is required with NODE_ENV=production (roles api and workers)',
    'SMTP_URL is required with NODE_ENV=production in the workers role',
    'LECTERN_PUBLIC_URL is required with NODE_ENV=production in the workers role',
  ]);
  // A relay decides and sends nothing.
  t.is(loadConfig({ ...production, LECTERN_ROLES: 'relay' }).messageKeys, null);
  // An api process needs the keys, not SMTP.
  t.is(
    loadConfig({ ...production, LECTERN_ROLES: 'api', LECTERN_MESSAGE_KEYS: key() }).messageKeys?.length,
    1,
  );
  const rotated = loadConfig({
    ...production,
    LECTERN_MESSAGE_KEYS: `${key()}, ${key()}`,
    SMTP_URL: 'smtps://relay.example.org:465',
    LECTERN_PUBLIC_URL: 'https://api.lectern.example',
  });
  t.is(rotated.messageKeys?.length, 2);
});
