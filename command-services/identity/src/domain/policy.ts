/**
 * Identity's numbers (REQUIREMENTS.md §Identity). Durations in milliseconds.
 * They live in the domain because decisions depend on them; the per-IP limits,
 * which are counted outside any aggregate, are in `../limits.ts`.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const policy = {
  /** Register → verify email. */
  emailVerificationTtl: 24 * HOUR,
  /** Change-email confirmation. */
  emailChangeTtl: 24 * HOUR,
  passwordResetTtl: 15 * MINUTE,
  accessTokenTtl: HOUR,
  /** Each refresh token lives 30 days; rotation never carries a family past 60. */
  refreshTokenTtl: 30 * DAY,
  tokenFamilyMaxAge: 60 * DAY,
  /**
   * The token a rotation just spent, presented again within this, is a
   * concurrent duplicate (409) rather than reuse (family revoked). Older spent
   * tokens, or any but the latest, always count as reuse.
   */
  refreshRaceGrace: 5_000,
  phoneCodeTtl: 10 * MINUTE,
  phoneResendInterval: 30_000,
  phoneMaxAttempts: 5,
  phoneLock: HOUR,
  /** Per account: this many wrong passwords within the window lock it. */
  loginMaxFailures: 5,
  loginFailureWindow: 15 * MINUTE,
  accountLock: 15 * MINUTE,
} as const;
