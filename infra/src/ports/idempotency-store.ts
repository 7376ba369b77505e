/**
 * Remembers what a client's `Idempotency-Key` was used for and what it was
 * answered (ARCHITECTURE rule 9), in an engine every process shares, so a
 * retry reaching another process, or arriving after a restart, replays the
 * first answer instead of deciding again.
 *
 * A key lives in a `scope` (the caller: a token's subject, or an anonymous
 * route plus the client's address), so two callers cannot meet on one key,
 * and is bound to a `fingerprint` of the request, so a key cannot be reused
 * for another request.
 */

/** What a finished request answered, as it is replayed. */
export type StoredAnswer = Readonly<{
  status: number;
  /** Only the headers a replay must repeat (content type, ETag, consistency token, Location, …). */
  headers: Readonly<Record<string, string>>;
  body: string;
}>;

export type IdempotencyClaim =
  /**
   * The caller runs the request. `commandId` is what its events' ids derive
   * from; a request taken over from a crashed process gets the id the crashed
   * one had, so appends it already made are recognised as the same. `owner`
   * names this attempt for `complete` and `release`.
   */
  | Readonly<{ outcome: 'started'; commandId: string; owner: string }>
  /** The same request already finished: answer this. */
  | Readonly<{ outcome: 'replay'; answer: StoredAnswer }>
  /** The key was used for another request. */
  | Readonly<{ outcome: 'mismatch' }>
  /** The same request is running now (its lease has not lapsed). */
  | Readonly<{ outcome: 'in_flight' }>;

export type IdempotencyRequest = Readonly<{
  scope: string;
  key: string;
  fingerprint: string;
  /** The caller's time: leases and the retention window are measured by it, so tests move it. */
  now: Date;
}>;

/**
 * @example
 *   const claim = await store.claim({ scope: `sub:${userId}`, key, fingerprint, now: clock.now() });
 *   if (claim.outcome === 'started') {
 *     const answer = await run(claim.commandId);
 *     await store.complete({ scope, key, owner: claim.owner, answer });
 *   }
 */
export interface IdempotencyStore {
  /**
   * Starts a request under a key, or says why not. A key older than the
   * retention window is free again; a request whose lease lapsed (its
   * process died) is taken over by the same request.
   */
  claim(request: IdempotencyRequest): Promise<IdempotencyClaim>;
  /** Stores the answer; a no-op when `owner` lost the key in the meantime. */
  complete(
    opts: Readonly<{ scope: string; key: string; owner: string; answer: StoredAnswer }>,
  ): Promise<void>;
  /** Frees the key (the request failed in a way a retry may fix); a no-op when `owner` lost it. */
  release(opts: Readonly<{ scope: string; key: string; owner: string }>): Promise<void>;
}
