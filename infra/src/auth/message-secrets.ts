import { createHmac, randomBytes } from 'node:crypto';
import { migrate, sqlMigration, type Sql } from '../sql/index.ts';
import { fromBase64url } from './scrypt.ts';

/**
 * The secrets a message carries (a verification or reset link's token, a
 * phone code) without ever being in an event, a log record or a log line
 * (ARCHITECTURE rule 7).
 *
 * The service that decides (identity) and the worker that sends
 * (notifications) share a key, `LECTERN_MESSAGE_KEYS`, kept out of the
 * database and the log. The secret is an HMAC of that key over facts the
 * event already holds and that are unique to the request (the user, the
 * address, the purpose, the time it was asked for; a phone code's id).
 * The event keeps only the secret's hash, as before; the worker derives
 * the secret again and checks it against that hash before it sends, so a
 * message is never sent with a secret that would not work.
 *
 * Rotation: the first key derives, every listed key is tried when
 * checking, so a message asked for before a rotation is still sent after it.
 * The threat model is in docs/architecture.md ("Secrets in messages").
 */

/** Which secret a derivation is for; part of the HMAC input, so one can never stand in for another. */
export type SecretPurpose =
  'verify-email' | 'confirm-email-change' | 'reset-password' | 'phone-code' | 'unsubscribe' | 'playback';

export type MessageKeys = Readonly<{
  /** Derives with the current key. */
  derive(purpose: SecretPurpose, facts: readonly string[]): Buffer;
  /** Derives with every key, current first: what the worker checks against the stored hash. */
  candidates(purpose: SecretPurpose, facts: readonly string[]): readonly Buffer[];
}>;

/** The fewest bytes a message key may have: 256 bits. */
export const MESSAGE_KEY_BYTES = 32;

/**
 * Reads `LECTERN_MESSAGE_KEYS`: comma-separated base64url keys of at least
 * 32 bytes, the current first. Throws with a message that names no key.
 *
 * @example const keys = messageKeys(parseMessageKeys(env.LECTERN_MESSAGE_KEYS!));
 */
export const parseMessageKeys = (text: string): readonly Buffer[] => {
  const keys = text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k, i) => {
      const bytes = fromBase64url(k);
      if (!bytes || bytes.length < MESSAGE_KEY_BYTES)
        throw new Error(
          `LECTERN_MESSAGE_KEYS entry ${i + 1} is not base64url of ≥ ${MESSAGE_KEY_BYTES} bytes`,
        );
      return bytes;
    });
  if (keys.length === 0) throw new Error('LECTERN_MESSAGE_KEYS holds no key');
  return keys;
};

/**
 * The key set: derivation is HMAC-SHA256 over the purpose and the facts,
 * each length-prefixed so no two lists of facts make the same input.
 *
 * @example
 *   const token = `${userId}.${keys.derive('reset-password', [userId, requestedAt]).toString('base64url')}`;
 */
export const messageKeys = (keys: readonly Buffer[]): MessageKeys => {
  if (keys.length === 0) throw new Error('messageKeys needs a key');
  const input = (purpose: SecretPurpose, facts: readonly string[]) =>
    [purpose, ...facts].map((f) => `${Buffer.byteLength(f, 'utf8')}:${f}`).join('|');
  const mac = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest();
  return {
    derive: (purpose, facts) => mac(keys[0]!, input(purpose, facts)),
    candidates: (purpose, facts) => keys.map((k) => mac(k, input(purpose, facts))),
  };
};

/** A link token: the user's id (so the route finds the stream) and 256 derived bits. */
export const linkToken = (userId: string, derived: Buffer): string =>
  `${userId}.${derived.toString('base64url')}`;

/**
 * `digits` decimal digits from derived bytes. 256 bits reduced modulo 10^6
 * leave a bias of about 10^6 / 2^256 (none worth the name).
 */
export const derivedDigits = (derived: Buffer, digits = 6): string => {
  const n = BigInt(`0x${derived.toString('hex')}`) % 10n ** BigInt(digits);
  return n.toString().padStart(digits, '0');
};

const devKeyMigrations = [
  sqlMigration(
    '001_dev_message_key',
    `create table if not exists dev_message_key (
       id int primary key check (id = 1),
       key text not null
     )`,
    'drop table if exists dev_message_key;',
  ),
];

/**
 * DEVELOPMENT ONLY (the configuration demands `LECTERN_MESSAGE_KEYS` in
 * production): a random key made once and kept in the shared database, so
 * every process of a development deployment derives alike and no key is
 * written in code. Whoever reads that database can derive the secrets,
 * which in development it may.
 */
export const developmentMessageKeys = async (sql: Sql): Promise<readonly Buffer[]> => {
  await migrate(sql, 'dev_message_key', devKeyMigrations);
  await sql.query('insert into dev_message_key (id, key) values (1, $1) on conflict (id) do nothing', [
    randomBytes(MESSAGE_KEY_BYTES).toString('base64url'),
  ]);
  const [row] = await sql.query<{ key: string }>('select key from dev_message_key where id = 1');
  return parseMessageKeys(row!.key);
};

/** For a process none of whose roles sends or decides messages (a relay): any use is a deployment error. */
export const noMessageKeys: MessageKeys = {
  derive: () => {
    throw new Error('LECTERN_MESSAGE_KEYS is not configured in this process');
  },
  candidates: () => {
    throw new Error('LECTERN_MESSAGE_KEYS is not configured in this process');
  },
};
