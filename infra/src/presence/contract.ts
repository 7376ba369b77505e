import type { ExecutionContext, TestFn } from 'ava';
import {
  presenceDefaults,
  type PresenceBus,
  type PresenceChange,
  type PresenceMember,
  type PresenceOptions,
} from '../ports/presence-bus.ts';
import type { Clock } from '../runtime/ids.ts';
import { waitUntil } from '../testing/wait.ts';

/**
 * Where a test's buses live: buses of one world see each other, as
 * processes on one Redis do (on the in-process adapter, buses of one hub).
 * Each test has a world of its own, so tests run concurrently.
 */
export type PresenceWorld = Readonly<{
  bus(options: PresenceOptions): Promise<PresenceBus>;
  /** Called after every bus of the world is closed. */
  cleanup(): Promise<void>;
}>;

/** A clock the test sets; every bus of a test reads it, so leases run out when the test says. */
type TestClock = Clock & Readonly<{ set(msFromStart: number): void; at(msFromStart: number): Date }>;

const testClock = (): TestClock => {
  const start = Date.UTC(2030, 0, 1);
  let offset = 0;
  return {
    now: () => new Date(start + offset),
    set: (ms) => {
      offset = ms;
    },
    at: (ms) => new Date(start + ms),
  };
};

const TTL = 4_000;
/** Short in tests: a leave after expiry is waited for, and this bounds how long. */
const SWEEP_MS = 25;
/** Never, within a test: a lease that ran out stays unswept until the test acts. */
const NO_SWEEP_MS = 3_600_000;

/** A change as one line, so a sequence reads at a glance: `leave(expired) room ada/c1@a 0`. */
const line = (c: PresenceChange) =>
  `${c.type === 'leave' ? `leave(${c.reason})` : 'join'} ${c.channel} ${c.userId}/${c.connectionId}@${c.nodeId} ${c.userConnections}`;

/** A channel's members as lines: `ada: c1@a c3@b`. */
const members = (list: readonly PresenceMember[] | undefined) =>
  (list ?? []).map(
    (m) => `${m.userId}: ${m.connections.map((c) => `${c.connectionId}@${c.nodeId}`).join(' ')}`,
  );

type Recorder = Readonly<{
  changes: PresenceChange[];
  lines(): string[];
  /** The lines of one channel: order is promised within a channel, not across channels. */
  linesOf(channel: string): string[];
  /** Waits (bounded) until a change shows as `expected`. */
  heard(expected: string): Promise<void>;
  unsubscribe(): Promise<void>;
}>;

type Ctx = Readonly<{
  clock: TestClock;
  /** A bus named `nodeId` in this test's world, TTL 4 s and a fast sweep unless told otherwise. */
  bus(nodeId: string, options?: Partial<PresenceOptions>): Promise<PresenceBus>;
  /** Subscribes and records every change heard. */
  record(bus: PresenceBus, channels: readonly string[]): Promise<Recorder>;
  /** What `onError` of the test's buses received. */
  errors: { context: string; error: unknown }[];
}>;

/**
 * The behaviour every PresenceBus adapter must show, registered as ava
 * tests titled `<name>: …`. Two buses of one world stand for two
 * processes; time is a clock the test sets, never waited for: only the
 * delivery of a change (and a sweep that follows a lease's end) is waited
 * for, bounded.
 *
 * @example
 *   presenceBusContract(test, 'memory', async () => {
 *     const hub = memoryPresenceHub();
 *     return { bus: async (o) => hub.bus(o), cleanup: async () => {} };
 *   });
 */
export const presenceBusContract = (
  test: TestFn,
  name: string,
  makeWorld: () => Promise<PresenceWorld>,
): void => {
  const it = (title: string, body: (ctx: Ctx, t: ExecutionContext) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const world = await makeWorld();
      const clock = testClock();
      const buses: PresenceBus[] = [];
      const errors: Ctx['errors'] = [];
      const ctx: Ctx = {
        clock,
        errors,
        async bus(nodeId, options = {}) {
          const bus = await world.bus({
            nodeId,
            ttlMs: TTL,
            sweepIntervalMs: SWEEP_MS,
            clock,
            onError: (error, context) => errors.push({ error, context }),
            ...options,
          });
          buses.push(bus);
          return bus;
        },
        async record(bus, channels) {
          const changes: PresenceChange[] = [];
          const sub = await bus.subscribe(channels, (c) => changes.push(c));
          const lines = () => changes.map(line);
          return {
            changes,
            lines,
            linesOf: (channel) => changes.filter((c) => c.channel === channel).map(line),
            heard: (expected) =>
              waitUntil(`"${expected}" (heard so far: ${JSON.stringify(lines())})`, () =>
                lines().includes(expected),
              ),
            unsubscribe: () => sub.unsubscribe(),
          };
        },
      };
      try {
        await body(ctx, t);
      } finally {
        await Promise.allSettled(buses.map((b) => b.close()));
        await world.cleanup();
      }
    });

  it("two buses see each other's connections, grouped by user", async ({ bus, clock }, t) => {
    const [a, b] = [await bus('a'), await bus('b')];
    t.is(a.nodeId, 'a');
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    clock.set(1_000);
    await b.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    await b.track({ userId: 'ada', connectionId: 'c3' }, ['room', 'user:ada']);
    for (const reader of [a, b]) {
      const seen = await reader.list(['room', 'user:ada', 'nobody-here']);
      t.deepEqual([...seen.keys()], ['room', 'user:ada', 'nobody-here']);
      t.deepEqual(members(seen.get('room')), ['ada: c1@a c3@b', 'bob: c2@b']);
      t.deepEqual(members(seen.get('user:ada')), ['ada: c3@b']);
      t.deepEqual(seen.get('nobody-here'), []);
    }
    const ada = (await b.list(['room'])).get('room')?.[0];
    t.deepEqual(
      ada?.connections.map((c) => c.joinedAt.toISOString()),
      [clock.at(0).toISOString(), clock.at(1_000).toISOString()],
      'each connection joined when its bus tracked it',
    );
    await a.untrack('c1');
    t.deepEqual(members((await b.list(['room'])).get('room')), ['ada: c3@b', 'bob: c2@b']);
    await b.untrack('c3');
    t.deepEqual(members((await a.list(['room'])).get('room')), ['bob: c2@b']);
    t.deepEqual(members((await a.list(['user:ada'])).get('user:ada')), []);
  });

  it('joins and leaves reach the subscribers of every bus, in the order they were made', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const [onA, onB] = [await ctx.record(a, ['room']), await ctx.record(b, ['room'])];
    ctx.clock.set(500);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room', 'elsewhere']);
    await a.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    await b.track({ userId: 'ada', connectionId: 'c3' }, ['room']);
    await a.untrack('c1');
    await b.untrack('c3', ['room']);
    await a.track({ userId: 'zed', connectionId: 'last' }, ['room']);
    const expected = [
      'join room ada/c1@a 1',
      'join room bob/c2@a 1',
      'join room ada/c3@b 2',
      'leave(untracked) room ada/c1@a 1',
      'leave(untracked) room ada/c3@b 0',
      'join room zed/last@a 1',
    ];
    // The last change heard means every earlier one was delivered, or never will be.
    for (const rec of [onA, onB]) {
      await rec.heard('join room zed/last@a 1');
      t.deepEqual(rec.lines(), expected);
      t.true(rec.changes.every((c) => c.at.getTime() === ctx.clock.at(500).getTime()));
    }
  });

  it('a subscriber hears only its channels, and nothing after it unsubscribes', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const one = await ctx.record(b, ['r1']);
    const both = await ctx.record(b, ['r1', 'r2']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['r2']);
    await a.track({ userId: 'bob', connectionId: 'c2' }, ['r1']);
    await one.heard('join r1 bob/c2@a 1');
    await both.heard('join r1 bob/c2@a 1');
    await both.heard('join r2 ada/c1@a 1');
    t.deepEqual(one.lines(), ['join r1 bob/c2@a 1'], 'nothing of r2');
    await one.unsubscribe();
    await a.untrack('c2');
    await both.heard('leave(untracked) r1 bob/c2@a 0');
    t.deepEqual(one.lines(), ['join r1 bob/c2@a 1']);
    await one.unsubscribe(); // idempotent
  });

  it('a connection whose heartbeats stop expires at the end of its lease, and its leave is announced', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const onB = await ctx.record(b, ['room']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    await a.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    ctx.clock.set(3_000);
    t.true(await a.heartbeat('c1'), "ada's client is still there");
    ctx.clock.set(TTL - 1);
    t.deepEqual(members((await b.list(['room'])).get('room')), ['ada: c1@a', 'bob: c2@a']);
    // bob's client has sent nothing since it joined: its lease ends now.
    ctx.clock.set(TTL);
    t.deepEqual(members((await b.list(['room'])).get('room')), ['ada: c1@a']);
    await onB.heard('leave(expired) room bob/c2@a 0');
    ctx.clock.set(3_000 + TTL - 1);
    t.deepEqual(
      members((await b.list(['room'])).get('room')),
      ['ada: c1@a'],
      'the heartbeat renewed the lease',
    );
    ctx.clock.set(3_000 + TTL);
    t.deepEqual(members((await b.list(['room'])).get('room')), []);
    await onB.heard('leave(expired) room ada/c1@a 0');
    const leave = onB.changes.find((c) => c.connectionId === 'c1' && c.type === 'leave');
    t.true(leave !== undefined && leave.at.getTime() >= ctx.clock.at(3_000 + TTL).getTime());
    t.deepEqual(ctx.errors, []);
  });

  it('with the default settings a crashed client is gone, and announced, within 5 s', async (ctx, t) => {
    t.true(presenceDefaults.ttlMs + presenceDefaults.sweepIntervalMs <= 5_000);
    // The defaults as shipped: no TTL or sweep interval of the test's own.
    const defaults = { ttlMs: undefined, sweepIntervalMs: undefined };
    const [a, b] = [await ctx.bus('a', defaults), await ctx.bus('b', defaults)];
    const onB = await ctx.record(b, ['room']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    ctx.clock.set(presenceDefaults.ttlMs - 1);
    t.deepEqual(members((await b.list(['room'])).get('room')), ['ada: c1@a']);
    ctx.clock.set(5_000);
    t.deepEqual(members((await b.list(['room'])).get('room')), []);
    // Announced by the first sweep after the lease's end: every sweepIntervalMs (0.5 s) of real time.
    await onB.heard('leave(expired) room ada/c1@a 0');
  });

  it('a process that stops without untracking: its connections expire, and another announces it', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const onB = await ctx.record(b, ['room', 'user:ada']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room', 'user:ada']);
    await a.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    await a.close(); // as if killed: nothing untracked, nothing renewed
    await t.throwsAsync(a.track({ userId: 'ada', connectionId: 'c9' }, ['room']), { message: /closed/ });
    ctx.clock.set(TTL);
    for (const expected of [
      'leave(expired) room ada/c1@a 0',
      'leave(expired) user:ada ada/c1@a 0',
      'leave(expired) room bob/c2@a 0',
    ])
      await onB.heard(expected);
    const seen = await b.list(['room', 'user:ada']);
    t.deepEqual([members(seen.get('room')), members(seen.get('user:ada'))], [[], []]);
  });

  it('a user with two connections stays online until both are gone', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const onA = await ctx.record(a, ['room']);
    await a.track({ userId: 'ada', connectionId: 'tab1' }, ['room']);
    await b.track({ userId: 'ada', connectionId: 'phone' }, ['room']);
    t.deepEqual(members((await a.list(['room'])).get('room')), ['ada: phone@b tab1@a']);
    await a.untrack('tab1');
    t.deepEqual(members((await a.list(['room'])).get('room')), ['ada: phone@b'], 'still online on the phone');
    t.false(await a.heartbeat('tab1'), 'an untracked connection is not renewed');
    ctx.clock.set(TTL);
    t.deepEqual(members((await a.list(['room'])).get('room')), []);
    await onA.heard('leave(expired) room ada/phone@b 0');
    t.deepEqual(onA.lines(), [
      'join room ada/tab1@a 1',
      'join room ada/phone@b 2',
      'leave(untracked) room ada/tab1@a 1',
      'leave(expired) room ada/phone@b 0',
    ]);
  });

  it('track adds channels and renews every channel of the connection; untrack removes some or all', async (ctx, t) => {
    const a = await ctx.bus('a');
    const onA = await ctx.record(a, ['r1', 'r2']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['r1']);
    ctx.clock.set(3_000);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['r2', 'r1', 'r2']);
    ctx.clock.set(TTL + 500);
    const seen = await a.list(['r1', 'r2']);
    t.deepEqual([members(seen.get('r1')), members(seen.get('r2'))], [['ada: c1@a'], ['ada: c1@a']]);
    await a.untrack('c1', ['r1']);
    t.deepEqual(members((await a.list(['r1'])).get('r1')), []);
    t.true(await a.heartbeat('c1'), 'still tracked in r2');
    await a.untrack('c1');
    await a.untrack('c1');
    t.false(await a.heartbeat('c1'));
    await a.track({ userId: 'bob', connectionId: 'last' }, ['r1', 'r2']);
    await onA.heard('join r1 bob/last@a 1');
    await onA.heard('join r2 bob/last@a 1');
    t.deepEqual(onA.linesOf('r1'), [
      'join r1 ada/c1@a 1',
      'leave(untracked) r1 ada/c1@a 0',
      'join r1 bob/last@a 1',
    ]);
    t.deepEqual(onA.linesOf('r2'), [
      'join r2 ada/c1@a 1',
      'leave(untracked) r2 ada/c1@a 0',
      'join r2 bob/last@a 1',
    ]);
  });

  it('a lease that ran out before a sweep: a heartbeat announces the expiry, then a new join', async (ctx, t) => {
    // No sweeps in this test: the bus acts on a run-out lease before anything else does.
    const a = await ctx.bus('a', { sweepIntervalMs: NO_SWEEP_MS });
    const b = await ctx.bus('b', { sweepIntervalMs: NO_SWEEP_MS });
    const onB = await ctx.record(b, ['room']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    await a.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    t.false(await b.heartbeat('c1'), 'only the bus that tracks a connection renews it');
    ctx.clock.set(TTL + 1_000); // a process paused for longer than the TTL
    t.deepEqual(members((await b.list(['room'])).get('room')), []);
    t.true(await a.heartbeat('c1'));
    await a.untrack('c2');
    t.deepEqual(members((await b.list(['room'])).get('room')), ['ada: c1@a']);
    await onB.heard('leave(expired) room bob/c2@a 0');
    t.deepEqual(onB.lines(), [
      'join room ada/c1@a 1',
      'join room bob/c2@a 1',
      'leave(expired) room ada/c1@a 0',
      'join room ada/c1@a 1',
      'leave(expired) room bob/c2@a 0', // untracked, but its lease had run out first
    ]);
  });

  it('each expiry is announced once, however many buses sweep at once', async (ctx, t) => {
    const opts = { sweepIntervalMs: NO_SWEEP_MS };
    const [a, b, c] = [await ctx.bus('a', opts), await ctx.bus('b', opts), await ctx.bus('c', opts)];
    const onC = await ctx.record(c, ['room', 'user:u0']);
    await a.track({ userId: 'u0', connectionId: 'c0' }, ['room', 'user:u0']);
    await b.track({ userId: 'u1', connectionId: 'c1' }, ['room']);
    t.deepEqual(await Promise.all([a.sweep(), b.sweep(), c.sweep()]), [0, 0, 0], 'nothing has run out yet');
    ctx.clock.set(TTL);
    const swept = await Promise.all([a.sweep(), b.sweep(), c.sweep(), a.sweep()]);
    t.is(
      swept.reduce((x, y) => x + y, 0),
      3,
      `three leases (c0 in two channels, c1) between them: ${swept}`,
    );
    t.deepEqual(await Promise.all([a.sweep(), b.sweep()]), [0, 0]);
    // A change made after the sweeps in each channel: once it is heard, so is everything before it there.
    await c.track({ userId: 'late', connectionId: 'probe' }, ['room', 'user:u0']);
    await onC.heard('join room late/probe@c 1');
    await onC.heard('join user:u0 late/probe@c 1');
    t.deepEqual(
      onC
        .lines()
        .filter((l) => l.startsWith('leave'))
        .sort(),
      ['leave(expired) room u0/c0@a 0', 'leave(expired) room u1/c1@b 0', 'leave(expired) user:u0 u0/c0@a 0'],
    );
  });

  it('a listener that throws is reported, and the others still hear every change', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    await b.subscribe(['room'], () => {
      throw new Error('a broken listener');
    });
    const onB = await ctx.record(b, ['room']);
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    await a.untrack('c1');
    await onB.heard('leave(untracked) room ada/c1@a 0');
    t.deepEqual(onB.lines(), ['join room ada/c1@a 1', 'leave(untracked) room ada/c1@a 0']);
    t.true(ctx.errors.length >= 2 && ctx.errors.every((e) => /listener/.test(e.context)));
  });

  it('connection claims: a user holds at most `limit` across buses; a release frees a slot at once', async (ctx, t) => {
    const [a, b] = [await ctx.bus('a'), await ctx.bus('b')];
    const claim = (bus: PresenceBus, connectionId: string, userId = 'ada') =>
      bus.claimConnection({ userId, connectionId }, 3);
    t.true(await claim(a, 'c1'));
    t.true(await claim(a, 'c2'));
    t.true(await claim(b, 'c3'), 'the third, on another bus');
    t.false(await claim(b, 'c4'), 'a fourth, on any bus, is refused');
    t.false(await claim(a, 'c5'));
    t.true(await claim(a, 'c1'), 'a connection that holds a slot claims it again');
    t.true(await claim(b, 'other', 'bob'), "another user's slots are their own");
    await a.releaseConnection('c1');
    await a.releaseConnection('c1'); // idempotent
    await a.releaseConnection('never-claimed');
    t.true(await claim(b, 'c4'), 'the released slot, taken on the other bus');
    t.false(await claim(a, 'c5'));
    t.is(await a.renewClaims(), 1, 'a released connection is not renewed: c2 is');
    await b.releaseConnection('c3');
    await b.releaseConnection('c4');
    await a.releaseConnection('c2');
    t.deepEqual(
      await Promise.all(['d1', 'd2', 'd3'].map((c) => claim(b, c))),
      [true, true, true],
      'every slot free again',
    );
    const renewal = b.renewClaims();
    await b.releaseConnection('d1');
    t.is(await renewal, 4, "d1 to d3, and bob's");
    t.true(await claim(a, 'd4'), 'a release made during a renewal is not undone by it');
  });

  it('many claims at once, from several buses, never pass the limit', async (ctx, t) => {
    const buses = [await ctx.bus('a'), await ctx.bus('b'), await ctx.bus('c')];
    const limit = 7;
    const claim = (bus: PresenceBus, connectionId: string) =>
      bus.claimConnection({ userId: 'ada', connectionId }, limit);
    const attempts = buses.flatMap((bus, i) =>
      Array.from({ length: 20 }, async (_, j) => ({
        bus,
        id: `c${i}-${j}`,
        won: await claim(bus, `c${i}-${j}`),
      })),
    );
    const winners = (await Promise.all(attempts)).filter((x) => x.won);
    t.is(winners.length, limit, `${winners.length} of 60 claims for ${limit} slots`);
    // Again, with a release racing the claims: the one slot it frees is taken at most once.
    const freed = winners[0]!;
    const again = await Promise.all([
      freed.bus.releaseConnection(freed.id).then(() => false),
      ...Array.from({ length: 30 }, (_, k) => claim(buses[k % 3]!, `n${k}`)),
    ]);
    const wonAgain = again.filter(Boolean).length;
    t.true(wonAgain <= 1, `${wonAgain} claims took the one freed slot`);
    t.is(await claim(buses[1]!, 'probe'), wonAgain === 0, 'the slot is free only if no claim took it');
  });

  it('claims renewed by their bus hold their slots; those of a bus that stops (killed) free theirs at their lease end', async (ctx, t) => {
    // No sweeps: a claim that ran out frees its slot at once, not when a sweep comes.
    const opts = { sweepIntervalMs: NO_SWEEP_MS };
    const [a, b] = [await ctx.bus('a', opts), await ctx.bus('b', opts)];
    const claim = (bus: PresenceBus, connectionId: string) =>
      bus.claimConnection({ userId: 'ada', connectionId }, 3);
    t.true(await claim(a, 'a1'));
    t.true(await claim(b, 'b1'));
    ctx.clock.set(1_000);
    t.true(await claim(b, 'b2'));
    ctx.clock.set(3_000);
    t.is(await b.renewClaims(), 2, "b renews both of its claims, and none of a's");
    ctx.clock.set(TTL - 1);
    t.false(await claim(b, 'new'), 'all three still held');
    ctx.clock.set(TTL);
    t.true(await claim(b, 'new'), "a's claim, never renewed, ran out: its slot is free");
    t.false(await claim(a, 'newer'));
    await b.close(); // as if killed: renewed no more
    ctx.clock.set(3_000 + TTL - 1);
    t.false(await claim(a, 'newer'), "b's renewed claims hold to the end of their lease");
    ctx.clock.set(3_000 + TTL);
    t.true(await claim(a, 'newer'), "then the stopped bus's claims ran out");
    t.true(await claim(a, 'newest'));
    t.false(await claim(a, 'one-too-many'), "'new', claimed at 4 s, still holds");
  });

  it('a claim that ran out is taken again by a renewal; one still being decided is not renewed; a sweep removes those that ran out', async (ctx, t) => {
    const opts = { sweepIntervalMs: NO_SWEEP_MS };
    const [a, b] = [await ctx.bus('a', opts), await ctx.bus('b', opts)];
    t.true(await a.claimConnection({ userId: 'ada', connectionId: 'c1' }, 1));
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    ctx.clock.set(TTL + 1_000); // a process paused for longer than the TTL
    t.is(await a.renewClaims(), 1);
    // A renewal while a claim is being decided leaves it out, so it cannot skip the limit.
    const deciding = b.claimConnection({ userId: 'ada', connectionId: 'c2' }, 1);
    t.is(await b.renewClaims(), 0);
    t.false(await deciding, 'c1 holds the one slot again');
    ctx.clock.set(2 * TTL + 1_000);
    t.is(await b.sweep(), 1, 'the presence; the claim is removed too, not counted');
    t.true(await b.claimConnection({ userId: 'ada', connectionId: 'c2' }, 1));
    await t.throwsAsync(a.claimConnection({ userId: 'bob', connectionId: 'c1' }, 1), {
      instanceOf: TypeError,
      message: /another user/,
    });
    for (const limit of [0, -1, 1.5, Number.NaN])
      await t.throwsAsync(a.claimConnection({ userId: 'ada', connectionId: 'c3' }, limit), {
        instanceOf: TypeError,
      });
    await t.throwsAsync(a.claimConnection({ userId: 'ada', connectionId: 'a b' }, 1), {
      instanceOf: TypeError,
    });
  });

  it('refuses bad names, a connection changing user, and a bad node id', async (ctx, t) => {
    const a = await ctx.bus('a');
    await a.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    await t.throwsAsync(a.track({ userId: 'bob', connectionId: 'c1' }, ['room']), {
      instanceOf: TypeError,
      message: /another user/,
    });
    for (const channel of ['', 'a room', 'room|x', 'ü', 'x'.repeat(201)])
      await t.throwsAsync(a.track({ userId: 'ada', connectionId: 'c2' }, [channel]), {
        instanceOf: TypeError,
      });
    await t.throwsAsync(a.track({ userId: 'ada ', connectionId: 'c2' }, ['room']), { instanceOf: TypeError });
    await t.throwsAsync(a.list(['bad channel']), { instanceOf: TypeError });
    await t.throwsAsync(
      a.subscribe(['bad channel'], () => {}),
      { instanceOf: TypeError },
    );
    await t.throwsAsync(ctx.bus('bad node'), { instanceOf: TypeError });
    await t.throwsAsync(ctx.bus('b', { ttlMs: 0 }), { instanceOf: TypeError });
    t.deepEqual(members((await a.list(['room'])).get('room')), ['ada: c1@a']);
    await t.notThrowsAsync(a.ping());
  });
};
