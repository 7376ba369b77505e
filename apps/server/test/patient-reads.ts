/**
 * A test that reads its write back with `X-Consistency-Token` asserts
 * `caught-up`: on a busy machine the projection may need longer than the
 * 3 s a deployment waits, so test servers wait up to a minute (bounded: a
 * projection that never catches up still fails the test).
 */
export const PATIENT_READS = { LECTERN_CONSISTENCY_WAIT_MS: '60000' } as const;
