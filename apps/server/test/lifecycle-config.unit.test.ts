import test from 'ava';
import { ConfigError, loadConfig } from '../src/config.ts';

test('shutdown grace and Kafka session: 10 s by default, whole milliseconds in range otherwise', (t) => {
  const defaults = loadConfig({});
  t.is(defaults.shutdownGraceMs, 10_000);
  t.is(defaults.kafkaSessionTimeoutMs, 10_000);
  t.is(defaults.consistencyWaitMs, 3000);
  const set = loadConfig({
    LECTERN_SHUTDOWN_GRACE_MS: '0',
    LECTERN_KAFKA_SESSION_TIMEOUT_MS: '45000',
    LECTERN_CONSISTENCY_WAIT_MS: '60000',
  });
  t.is(set.shutdownGraceMs, 0);
  t.is(set.kafkaSessionTimeoutMs, 45_000);
  t.is(set.consistencyWaitMs, 60_000);
  const error = t.throws(
    () =>
      loadConfig({
        LECTERN_SHUTDOWN_GRACE_MS: '5s',
        LECTERN_KAFKA_SESSION_TIMEOUT_MS: '3000',
        LECTERN_CONSISTENCY_WAIT_MS: '-1',
      }),
    { instanceOf: ConfigError },
  );
  t.deepEqual(error?.problems, [
    "LECTERN_SHUTDOWN_GRACE_MS must be a whole number of milliseconds from 0 to 600000 (got '5s')",
    "LECTERN_KAFKA_SESSION_TIMEOUT_MS must be a whole number of milliseconds from 6000 to 1800000 (got '3000')",
    "LECTERN_CONSISTENCY_WAIT_MS must be a whole number of milliseconds from 0 to 600000 (got '-1')",
  ]);
});

test('connections per user on the gateway: 20 by default, a whole number from 1 otherwise', (t) => {
  t.is(loadConfig({}).realtimeMaxConnectionsPerUser, 20);
  t.is(loadConfig({ LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER: '2' }).realtimeMaxConnectionsPerUser, 2);
  for (const bad of ['0', '2.5', 'many', '10001'])
    t.deepEqual(
      t.throws(() => loadConfig({ LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER: bad }), {
        instanceOf: ConfigError,
      })?.problems,
      [`LECTERN_REALTIME_MAX_CONNECTIONS_PER_USER must be a whole number from 1 to 10000 (got '${bad}')`],
    );
});
