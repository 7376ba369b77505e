import test from 'ava';
import { ingestKeyDigest } from '@lectern/analytics-commands';
import { ConfigError, loadConfig } from '../src/config.ts';

const problems = (env: Record<string, string>): readonly string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

test('CLICKHOUSE_URL: unset means chDB; an http(s) URL names the server', (t) => {
  t.is(loadConfig({}).clickhouseUrl, null);
  t.is(loadConfig({ CLICKHOUSE_URL: '  ' }).clickhouseUrl, null);
  const url = 'http://default@127.0.0.1:18123/lectern';
  t.is(loadConfig({ CLICKHOUSE_URL: url }).clickhouseUrl, url);
  t.is(
    loadConfig({ CLICKHOUSE_URL: 'https://u:p@ch.example.org:8443/db' }).clickhouseUrl,
    'https://u:p@ch.example.org:8443/db',
  );
  t.deepEqual(problems({ CLICKHOUSE_URL: 'tcp://127.0.0.1:9000' }), [
    'CLICKHOUSE_URL must be a http: or https: URL',
  ]);
  t.deepEqual(problems({ CLICKHOUSE_URL: 'not a url' }), ['CLICKHOUSE_URL is not a URL']);
});

test('ANALYTICS_INGEST_KEYS: digests only, comma-separated, read in lower case', (t) => {
  const a = ingestKeyDigest('ik_first');
  const b = ingestKeyDigest('ik_second');
  t.deepEqual(loadConfig({}).analyticsIngestKeys, []);
  t.deepEqual(loadConfig({ ANALYTICS_INGEST_KEYS: ` ${a} , ${b.toUpperCase()},` }).analyticsIngestKeys, [
    a,
    b,
  ]);
});

test('ANALYTICS_INGEST_KEYS: a key where its digest belongs is refused without repeating it', (t) => {
  const key = 'ik_this-is-the-secret-itself';
  const found = problems({ ANALYTICS_INGEST_KEYS: `${ingestKeyDigest('ok')},${key}` });
  t.is(found.length, 1);
  t.regex(found[0]!, /entry 2 is not a SHA-256 digest/);
  t.regex(found[0]!, /sha256sum/);
  t.false(found[0]!.includes(key), 'the problem does not print the value');
});
