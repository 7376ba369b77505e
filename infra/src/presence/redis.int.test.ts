import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { createClient } from 'redis';
import { requireEngine } from '../testing/engines.ts';
import { presenceBusContract } from './contract.ts';
import { openRedisPresenceBus, redisTarget } from './redis.ts';

const url = requireEngine(test, 'REDIS_URL', 'presence bus on Redis');

if (url) {
  const passwordFile = process.env.REDIS_PASSWORD_FILE;
  if (!passwordFile)
    throw new Error('REDIS_URL is set, so REDIS_PASSWORD_FILE must be too (infra/local/up.sh)');
  const password = readFileSync(passwordFile, 'utf8').trim();

  /** Another Redis client, to look at what the buses left and to act as an operator would. */
  const inspect = async () => createClient(redisTarget(url, password)).connect();
  const keysUnder = async (prefix: string) => {
    const redis = await inspect();
    try {
      const keys: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) keys.push(...batch);
      return keys.sort();
    } finally {
      redis.destroy();
    }
  };
  const removeUnder = async (prefix: string) => {
    const keys = await keysUnder(prefix);
    if (keys.length === 0) return;
    const redis = await inspect();
    try {
      await redis.del(keys);
    } finally {
      redis.destroy();
    }
  };
  const freshPrefix = () => `lectern-test:presence:${randomBytes(6).toString('hex')}:`;
  /** A bus of node 'a' under a prefix of its own, closed and its keys removed when the test ends. */
  const testBus = async (
    t: ExecutionContext,
    options: Partial<Parameters<typeof openRedisPresenceBus>[0]> = {},
  ) => {
    const keyPrefix = freshPrefix();
    const bus = await openRedisPresenceBus({ url, password, keyPrefix, nodeId: 'a', ...options });
    t.teardown(async () => {
      await bus.close();
      await removeUnder(keyPrefix);
    });
    return { bus, keyPrefix };
  };

  // A key prefix per test: its buses see each other and no other test's.
  presenceBusContract(test, 'redis presence', async () => {
    const keyPrefix = freshPrefix();
    return {
      bus: (options) => openRedisPresenceBus({ ...options, url, password, keyPrefix }),
      cleanup: () => removeUnder(keyPrefix),
    };
  });

  test('redis presence: nothing is left in Redis once every connection has left', async (t) => {
    const { bus, keyPrefix } = await testBus(t, { sweepIntervalMs: 3_600_000 });
    await bus.track({ userId: 'ada', connectionId: 'c1' }, ['room', 'user:ada']);
    await bus.track({ userId: 'bob', connectionId: 'c2' }, ['room']);
    t.deepEqual(await keysUnder(keyPrefix), [
      `${keyPrefix}expiry`,
      `${keyPrefix}m|room`,
      `${keyPrefix}m|user:ada`,
      `${keyPrefix}u|room`,
      `${keyPrefix}u|user:ada`,
      `${keyPrefix}z|room`,
      `${keyPrefix}z|user:ada`,
    ]);
    await bus.untrack('c1');
    await bus.untrack('c2');
    t.deepEqual(await keysUnder(keyPrefix), []);
  });

  test('redis presence: connection claims leave nothing in Redis once released, or once run out and swept', async (t) => {
    let now = Date.UTC(2030, 0, 1);
    const { bus, keyPrefix } = await testBus(t, {
      sweepIntervalMs: 3_600_000,
      ttlMs: 4_000,
      clock: { now: () => new Date(now) },
    });
    t.true(await bus.claimConnection({ userId: 'ada', connectionId: 'c1' }, 2));
    t.true(await bus.claimConnection({ userId: 'bob', connectionId: 'c2' }, 2));
    t.deepEqual(await keysUnder(keyPrefix), [`${keyPrefix}claims`, `${keyPrefix}c|ada`, `${keyPrefix}c|bob`]);
    await bus.releaseConnection('c1');
    t.deepEqual(await keysUnder(keyPrefix), [`${keyPrefix}claims`, `${keyPrefix}c|bob`]);
    now += 4_000; // c2's claim has run out; nobody claims for bob again
    t.is(await bus.sweep(), 0, 'no presence to announce');
    t.deepEqual(await keysUnder(keyPrefix), []);
  });

  test('redis presence: a room of thousands of connections lists in one call', async (t) => {
    // A clock that stands still: on a slow machine, tracking 2,500 connections may outlast a lease,
    // and this test is about how many one call lists, not about expiry (the contract tests that).
    const now = new Date();
    const { bus } = await testBus(t, { clock: { now: () => now } });
    const n = 2_500; // more than one slice of the list script's HMGET
    for (let from = 0; from < n; from += 250)
      await Promise.all(
        Array.from({ length: 250 }, (_, i) =>
          bus.track({ userId: `u${(from + i) % 1_000}`, connectionId: `c${from + i}` }, ['big']),
        ),
      );
    const members = (await bus.list(['big'])).get('big') ?? [];
    t.is(members.length, 1_000);
    t.is(
      members.reduce((sum, m) => sum + m.connections.length, 0),
      n,
    );
  });

  test('redis presence: a Redis that lost its scripts (a restart) is given them again', async (t) => {
    const { bus } = await testBus(t);
    await bus.track({ userId: 'ada', connectionId: 'c1' }, ['room']);
    const redis = await inspect();
    try {
      await redis.scriptFlush();
    } finally {
      redis.destroy();
    }
    t.true(await bus.heartbeat('c1'));
    t.is((await bus.list(['room'])).get('room')?.length, 1);
  });

  test('redis presence: opening fails at once with a wrong password or no server', async (t) => {
    await t.throwsAsync(openRedisPresenceBus({ url, password: `${password}x`, nodeId: 'a' }), {
      message: /WRONGPASS|invalid username-password/i,
    });
    // A port nothing listens on (the discard port, closed on loopback).
    const nowhere = new URL(url);
    nowhere.port = '9';
    await t.throwsAsync(openRedisPresenceBus({ url: nowhere.toString(), password, nodeId: 'a' }), {
      message: /ECONNREFUSED/,
    });
  });
}
