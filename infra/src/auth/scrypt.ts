import { scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

/** scrypt's cost: N (CPU/memory, a power of two), r (block size), p (parallelism). */
export type ScryptCost = Readonly<{ N: number; r: number; p: number }>;

/**
 * Bounds on parameters read back from a stored string. A string that asks
 * for more than this is refused rather than computed: whoever could write it
 * could otherwise make one verification take gigabytes and minutes.
 */
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;
/** 128·N·r bytes is what one computation holds in memory. */
const MAX_MEMORY = 256 * 1024 * 1024;

export const validCost = ({ N, r, p }: ScryptCost): boolean =>
  Number.isSafeInteger(N) &&
  N >= 2 &&
  N <= 2 ** MAX_LOG2_N &&
  (N & (N - 1)) === 0 &&
  Number.isSafeInteger(r) &&
  r >= 1 &&
  r <= MAX_R &&
  Number.isSafeInteger(p) &&
  p >= 1 &&
  p <= MAX_P &&
  128 * N * r <= MAX_MEMORY;

/** Node's scrypt, async (it runs on libuv's thread pool, never on the event loop). */
export const scrypt = (
  secret: string | Buffer,
  salt: Buffer,
  keyLength: number,
  cost: ScryptCost,
): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    scryptCallback(
      secret,
      salt,
      keyLength,
      // scrypt needs 128·N·r bytes; node refuses above `maxmem` (32 MiB by default, just below N=2^15, r=8).
      { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );

/** `N=32768,r=8,p=1` */
export const formatCost = ({ N, r, p }: ScryptCost): string => `N=${N},r=${r},p=${p}`;

/** The inverse of `formatCost`; null for anything else, or for a cost out of bounds. */
export const parseCost = (text: string): ScryptCost | null => {
  const m = /^N=(\d{1,10}),r=(\d{1,3}),p=(\d{1,3})$/.exec(text);
  if (!m) return null;
  const cost = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  return validCost(cost) ? cost : null;
};

const B64URL = /^[A-Za-z0-9_-]+$/;

/** Decodes unpadded base64url strictly (Buffer.from would skip junk silently); null when malformed. */
export const fromBase64url = (text: string): Buffer | null => {
  if (!B64URL.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
};

/** Constant-time equality of two byte strings (false, without comparing, when lengths differ). */
export const sameBytes = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);
