import type { ExecutionContext } from 'ava';
import type { RecordedEvent } from '@lectern/schemas';
import type { Decided, Decider } from '../runtime/command-handler.ts';
import { Problem } from '../runtime/errors.ts';

/**
 * Given–when–then for pure deciders (STYLE.md §12): no I/O, no store.
 *
 * @example
 *   spec(profileDecider).given([updated]).when(cmd).then(t, [{ type: 'profile.ProfileUpdated', data }]);
 */
export const spec = <C, S>(decider: Decider<C, S>) => ({
  given: (history: readonly Decided[]) => {
    const recorded = history.map((d, i): RecordedEvent => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      type: d.type,
      schemaVersion: d.schemaVersion ?? 1,
      occurredAt: '2026-01-01T00:00:00.000Z',
      data: d.data,
      metadata: { correlationId: 'c', causationId: null, actor: null, requestId: null, traceparent: null },
      streamId: 'spec-1',
      revision: i,
      position: i + 1,
    }));
    const state = recorded.reduce(decider.evolve, decider.initialState());
    return {
      state,
      when: (command: C) => ({
        then: (t: ExecutionContext, expected: readonly Decided[]) =>
          t.deepEqual(decider.decide(command, state), expected),
        thenFails: (t: ExecutionContext, code: string) => {
          const error = t.throws(() => decider.decide(command, state), { instanceOf: Problem });
          t.is(error?.code, code);
        },
      }),
    };
  },
});
