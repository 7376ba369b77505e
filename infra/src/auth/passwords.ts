import { randomBytes } from 'node:crypto';
import { formatCost, fromBase64url, parseCost, sameBytes, scrypt, type ScryptCost } from './scrypt.ts';

/**
 * The cost new password hashes get: scrypt with N=2^15, r=8, p=1, which
 * holds 32 MiB for each hash and took about 59 ms on our 2-core CI machine
 * (N=2^14 took 27 ms, N=2^16 120 ms). Memory-hard, so guessing on GPUs or
 * ASICs pays for memory as well as time. Hashes carry their own parameters:
 * raising this later leaves existing hashes verifiable, and
 * `passwordNeedsRehash` tells the login flow to re-hash them with the new
 * cost once it holds the plain password.
 */
export const PASSWORD_HASH_COST: ScryptCost = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const SCHEME = 'scrypt';

/*
 * NFKC, as NIST SP 800-63B asks: the same password typed on two keyboards
 * (composed or decomposed accents, full-width digits) is the same password.
 */
const normalize = (password: string): string => password.normalize('NFKC');

type Parsed = Readonly<{ cost: ScryptCost; salt: Buffer; hash: Buffer }>;

const parse = (stored: string): Parsed | null => {
  const parts = stored.split('$');
  if (parts.length !== 4 || parts[0] !== SCHEME) return null;
  const cost = parseCost(parts[1]!);
  const salt = fromBase64url(parts[2]!);
  const hash = fromBase64url(parts[3]!);
  if (!cost || !salt || !hash || salt.length < SALT_BYTES || hash.length !== KEY_BYTES) return null;
  return { cost, salt, hash };
};

/**
 * Hashes a password for storage: `scrypt$N=32768,r=8,p=1$<salt>$<hash>`,
 * salt (16 random bytes) and hash (32 bytes) in unpadded base64url.
 *
 * @example
 *   const passwordHash = await hashPassword(body.password);
 */
export const hashPassword = async (
  password: string,
  cost: ScryptCost = PASSWORD_HASH_COST,
): Promise<string> => {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(normalize(password), salt, KEY_BYTES, cost);
  return `${SCHEME}$${formatCost(cost)}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
};

/**
 * Whether `password` is the one `stored` was made from, with the cost
 * written in `stored`; compared in constant time. A malformed string, or one
 * whose parameters are out of bounds, never matches.
 *
 * @example
 *   if (!(await verifyPassword(body.password, user.passwordHash))) throw wrongCredentials();
 */
export const verifyPassword = async (
  password: string,
  stored: string,
  /** The key derivation; tests pass one that records the work each path does. */
  kdf: typeof scrypt = scrypt,
): Promise<boolean> => {
  const parsed = parse(stored);
  if (!parsed) return false;
  const candidate = await kdf(normalize(password), parsed.salt, parsed.hash.length, parsed.cost);
  return sameBytes(candidate, parsed.hash);
};

/** True when `stored` was made with another cost than today's (or cannot be read): hash again at next login. */
export const passwordNeedsRehash = (stored: string, cost: ScryptCost = PASSWORD_HASH_COST): boolean => {
  const parsed = parse(stored);
  return !parsed || parsed.cost.N !== cost.N || parsed.cost.r !== cost.r || parsed.cost.p !== cost.p;
};

let dummy: Promise<string> | undefined;

/**
 * A hash of a random password nobody knows, made once per process at
 * today's cost. A login for an unknown email verifies against it, so that
 * it costs the same scrypt as a wrong password for a known one and the
 * response time does not tell which emails have accounts. Call it once at
 * start so the first such login does not pay for making it.
 *
 * @example
 *   await dummyPasswordHash(); // warm up in the composition root
 */
export const dummyPasswordHash = (): Promise<string> =>
  (dummy ??= hashPassword(randomBytes(32).toString('base64url')));

/**
 * `verifyPassword` that also takes "no such user" (`null`), and then spends
 * the same time on the dummy hash before answering false.
 *
 * @example
 *   const ok = await verifyPasswordOrDummy(body.password, user?.passwordHash ?? null);
 */
export const verifyPasswordOrDummy = async (
  password: string,
  stored: string | null | undefined,
  kdf: typeof scrypt = scrypt,
): Promise<boolean> => {
  if (stored === null || stored === undefined) {
    await verifyPassword(password, await dummyPasswordHash(), kdf);
    return false;
  }
  return verifyPassword(password, stored, kdf);
};
