import type { ExecutionContext } from 'ava';
import type { DomainEvent } from '@lectern/schemas';
import type { Decider } from '../runtime/decider.ts';
import { Problem } from '../runtime/errors.ts';

/**
 * Given–when–then for pure deciders (STYLE.md §15): no I/O, no store. The
 * given and expected events are the decider's own union, so a fixture with
 * the wrong data for its type does not compile.
 *
 * @example
 *   spec(profileDecider).given([updated]).when(cmd).then(t, [{ type: 'profile.ProfileUpdated', data }]);
 */
export const spec = <State, Command, Event extends DomainEvent>(decider: Decider<State, Command, Event>) => ({
  given: (history: readonly Event[]) => {
    const state = history.reduce(decider.evolve, decider.initialState());
    return {
      state,
      when: (command: Command) => ({
        then: (t: ExecutionContext, expected: readonly Event[]) =>
          t.deepEqual(decider.decide(command, state), expected),
        thenFails: (t: ExecutionContext, code: string) => {
          const error = t.throws(() => decider.decide(command, state), { instanceOf: Problem });
          t.is(error?.code, code);
        },
      }),
    };
  },
});
