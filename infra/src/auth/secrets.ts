import { createHash, randomBytes, randomInt } from 'node:crypto';
import { formatCost, fromBase64url, parseCost, sameBytes, scrypt, type ScryptCost } from './scrypt.ts';

/**
 * A random secret for links and refresh tokens: `bytes` from the CSPRNG
 * (32 by default: 256 bits), in unpadded base64url so it travels in URLs and
 * JSON as is.
 *
 * @example const token = randomToken(); // 43 characters
 */
export const randomToken = (bytes = 32): string => {
  if (!Number.isSafeInteger(bytes) || bytes < 16)
    throw new TypeError(`a token needs ≥ 16 bytes (got ${bytes})`);
  return randomBytes(bytes).toString('base64url');
};

/**
 * What we store of a high-entropy token (verification and reset links,
 * refresh tokens): SHA-256, base64url. A fast unsalted hash is enough when
 * the input has 256 random bits: nobody can enumerate the inputs, and a
 * lookup by hash needs the same hash for the same token.
 *
 * @example await repo.save({ tokenHash: tokenHash(token) });
 */
export const tokenHash = (token: string): string =>
  createHash('sha256').update(token, 'utf8').digest('base64url');

/**
 * `n` decimal digits, each drawn uniformly from the CSPRNG (crypto.randomInt
 * rejects rather than reduces modulo, so no digit is likelier).
 *
 * @example const code = randomDigits(6); // '048213'
 */
export const randomDigits = (n: number): string => {
  if (!Number.isSafeInteger(n) || n < 1) throw new TypeError(`randomDigits needs n ≥ 1 (got ${n})`);
  let digits = '';
  for (let i = 0; i < n; i++) digits += String(randomInt(10));
  return digits;
};

/**
 * The cost of hashing a short code: scrypt N=2^12, r=8, p=1 (4 MiB), about
 * 5 ms on our CI machine.
 *
 * Why not SHA-256: a 6-digit code is one of 10^6 values, so anyone who reads
 * a stored SHA-256 of it (a leaked backup, a read replica, a log) recovers it
 * with a million hashes, a fraction of a second, salt or no salt (the salt
 * only stops tables computed in advance). At 5 ms of memory-hard work a
 * guess, the same search costs about 80 minutes of one core per code (40 on
 * average), longer than the code lives (10 minutes). It slows a determined
 * attacker with many cores, it does not stop one: the real guards on codes
 * are the attempt limit with its lockout, and the short life.
 */
export const CODE_HASH_COST: ScryptCost = Object.freeze({ N: 2 ** 12, r: 8, p: 1 });

const CODE_KEY_BYTES = 32;

/**
 * Hashes a low-entropy code with its own salt (give it `randomToken(16)`):
 * `N=4096,r=8,p=1$<hash>`; the cost travels with the hash, so a change of
 * cost during a code's life does not break it.
 *
 * @example
 *   const salt = randomToken(16);
 *   const hash = await codeHash(code, salt);
 */
export const codeHash = async (
  code: string,
  salt: string,
  cost: ScryptCost = CODE_HASH_COST,
): Promise<string> => {
  if (salt.length === 0) throw new TypeError('codeHash needs a salt');
  const hash = await scrypt(code, Buffer.from(salt, 'utf8'), CODE_KEY_BYTES, cost);
  return `${formatCost(cost)}$${hash.toString('base64url')}`;
};

/**
 * Whether `code` is the one `hash` was made from with `salt`, compared in
 * constant time; a malformed hash never matches.
 *
 * @example if (!(await verifyCode(body.code, stored.salt, stored.hash))) await countFailure();
 */
export const verifyCode = async (code: string, salt: string, hash: string): Promise<boolean> => {
  const [costText, hashText, ...rest] = hash.split('$');
  const cost = parseCost(costText ?? '');
  const expected = fromBase64url(hashText ?? '');
  if (rest.length > 0 || !cost || !expected || expected.length !== CODE_KEY_BYTES || salt.length === 0)
    return false;
  const candidate = await scrypt(code, Buffer.from(salt, 'utf8'), CODE_KEY_BYTES, cost);
  return sameBytes(candidate, expected);
};
