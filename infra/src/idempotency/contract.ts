import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import type { IdempotencyStore, StoredAnswer } from '../ports/idempotency-store.ts';

/** Lease and retention the contract's store must be opened with, so time can be moved past them. */
export const contractTimings = { leaseMs: 60_000, retentionMs: 24 * 3_600_000 } as const;

/**
 * The IdempotencyStore contract: every adapter runs it, opened with
 * `contractTimings`. Time is passed in, never waited for; tests keep apart by
 * unique scopes.
 */
export const idempotencyStoreContract = (
  test: TestFn,
  label: string,
  open: () => Promise<IdempotencyStore>,
): void => {
  const scope = (what: string) => `sub:${what}-${randomBytes(6).toString('hex')}`;
  const t0 = Date.now();
  const at = (ms: number) => new Date(t0 + ms);
  const answer: StoredAnswer = {
    status: 201,
    headers: { 'content-type': 'application/json; charset=utf-8', etag: '"0"' },
    body: '{"ok":true}',
  };
  const { leaseMs, retentionMs } = contractTimings;

  test(`${label}: a finished request is replayed, whole, to the same request`, async (t) => {
    const store = await open();
    const s = scope('replay');
    const first = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) });
    if (first.outcome !== 'started') return t.fail(first.outcome);
    await store.complete({ scope: s, key: 'k', owner: first.owner, answer });
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(1000) }), {
      outcome: 'replay',
      answer,
    });
    // Still replayed at the end of the retention window.
    t.is(
      (await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(retentionMs - 1) })).outcome,
      'replay',
    );
  });

  test(`${label}: a key used for another request is refused, running or finished`, async (t) => {
    const store = await open();
    const s = scope('mismatch');
    const first = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) });
    if (first.outcome !== 'started') return t.fail(first.outcome);
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f2', now: at(1) }), {
      outcome: 'mismatch',
    });
    await store.complete({ scope: s, key: 'k', owner: first.owner, answer });
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f2', now: at(2) }), {
      outcome: 'mismatch',
    });
    // Not even a lapsed lease frees it for another request.
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f2', now: at(leaseMs * 2) }), {
      outcome: 'mismatch',
    });
  });

  test(`${label}: the same request while the first runs is told so`, async (t) => {
    const store = await open();
    const s = scope('in-flight');
    const first = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) });
    t.is(first.outcome, 'started');
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(leaseMs - 1) }), {
      outcome: 'in_flight',
    });
  });

  test(`${label}: a lapsed lease is taken over with the same command id; the old owner can no longer finish`, async (t) => {
    const store = await open();
    const s = scope('takeover');
    const first = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) });
    if (first.outcome !== 'started') return t.fail(first.outcome);
    const second = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(leaseMs) });
    if (second.outcome !== 'started') return t.fail(second.outcome);
    t.is(second.commandId, first.commandId, 'the appends of the dead attempt are the same events');
    t.not(second.owner, first.owner);
    await store.complete({ scope: s, key: 'k', owner: first.owner, answer: { ...answer, status: 500 } });
    await store.release({ scope: s, key: 'k', owner: first.owner });
    t.is(
      (await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(leaseMs + 1) })).outcome,
      'in_flight',
    );
    await store.complete({ scope: s, key: 'k', owner: second.owner, answer });
    t.deepEqual(await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(leaseMs + 2) }), {
      outcome: 'replay',
      answer,
    });
  });

  test(`${label}: after the retention window a key starts afresh, with a new command id`, async (t) => {
    const store = await open();
    const s = scope('expiry');
    const first = await store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) });
    if (first.outcome !== 'started') return t.fail(first.outcome);
    await store.complete({ scope: s, key: 'k', owner: first.owner, answer });
    const later = await store.claim({ scope: s, key: 'k', fingerprint: 'f2', now: at(retentionMs) });
    if (later.outcome !== 'started') return t.fail(later.outcome);
    t.not(later.commandId, first.commandId);
  });

  test(`${label}: scopes never meet, and a released key can be used again`, async (t) => {
    const store = await open();
    const [a, b] = [scope('a'), scope('b')];
    const ca = await store.claim({ scope: a, key: 'same', fingerprint: 'fa', now: at(0) });
    const cb = await store.claim({ scope: b, key: 'same', fingerprint: 'fb', now: at(0) });
    if (ca.outcome !== 'started' || cb.outcome !== 'started') return t.fail(`${ca.outcome} ${cb.outcome}`);
    t.not(ca.commandId, cb.commandId);
    await store.release({ scope: a, key: 'same', owner: ca.owner });
    t.is((await store.claim({ scope: a, key: 'same', fingerprint: 'other', now: at(1) })).outcome, 'started');
  });

  test(`${label}: of 20 concurrent claims of one key exactly one starts`, async (t) => {
    const store = await open();
    const s = scope('race');
    const claims = await Promise.all(
      Array.from({ length: 20 }, () => store.claim({ scope: s, key: 'k', fingerprint: 'f1', now: at(0) })),
    );
    t.is(claims.filter((c) => c.outcome === 'started').length, 1);
    t.is(claims.filter((c) => c.outcome === 'in_flight').length, 19);
  });
};
