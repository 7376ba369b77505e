import type { RateLimit } from '@lectern/infra/ports/rate-limiter';

/**
 * Per-IP limits, counted in the shared database (`rate_limits`) so that every
 * identity process sees the same counts. Per-account and per-phone limits are
 * decided by the aggregates themselves (see `domain/policy.ts`).
 */
export const ipLimits = {
  /** Phone codes requested from one IP (REQUIREMENTS.md: 5 per hour). */
  phoneCodes: { limit: 5, windowMs: 60 * 60_000 },
  /** Failed logins from one IP, across all accounts. */
  failedLogins: { limit: 20, windowMs: 15 * 60_000 },
  /** Registrations from one IP. */
  registrations: { limit: 10, windowMs: 60 * 60_000 },
  /** Password-reset and verification e-mails requested from one IP. */
  emailRequests: { limit: 10, windowMs: 60 * 60_000 },
} as const satisfies Record<string, RateLimit>;
