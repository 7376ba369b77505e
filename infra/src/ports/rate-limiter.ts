/**
 * Counts attempts per key against "at most `limit` in any `windowMs`", with
 * the state in an engine every process shares, so that a limit holds however
 * many processes serve the traffic (issue 3: limits and lockouts live in the
 * shared engines, not in process memory).
 */

/** At most `limit` hits in any window of `windowMs` milliseconds. */
export type RateLimit = Readonly<{ limit: number; windowMs: number }>;

export type RateDecision = Readonly<{
  allowed: boolean;
  /** Hits still allowed in the current window after this decision. */
  remaining: number;
  /** 0 when allowed; otherwise whole seconds (≥ 1) until a hit would be allowed. */
  retryAfterSeconds: number;
}>;

/**
 * Time arrives as an argument (`now`), so callers pass their Clock's time and
 * tests move it instead of waiting.
 *
 * @example
 *   const perIp: RateLimit = { limit: 5, windowMs: 3_600_000 };
 *   const d = await limiter.hit(`phone-code:ip:${ip}`, perIp, clock.now());
 *   if (!d.allowed)
 *     throw new Problem('rate_limited', 'too_many_codes', 'Try again later.', {
 *       retryAfterSeconds: d.retryAfterSeconds,
 *     });
 */
export interface RateLimiter {
  /** Counts one hit against `key`; `allowed` false (and nothing counted) when over the limit. */
  hit(key: string, limit: RateLimit, now: Date): Promise<RateDecision>;
  /** The decision a hit would get, without counting it. */
  peek(key: string, limit: RateLimit, now: Date): Promise<RateDecision>;
  /** Forgets a key (e.g. failures after a successful login). */
  reset(key: string): Promise<void>;
}
