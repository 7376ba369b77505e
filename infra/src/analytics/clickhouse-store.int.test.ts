import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { requireEngine } from '../testing/engines.ts';
import { clickhouseStore } from './clickhouse-store.ts';
import { analyticsStoreContract } from './contract.ts';
import { ch, ident } from './sql.ts';

const unique = () => `lectern_test_${randomBytes(6).toString('hex')}`;

const url = requireEngine(test, 'CLICKHOUSE_URL', 'ClickHouse');
if (url) {
  // A database per test, dropped afterwards: tests run concurrently on one server.
  analyticsStoreContract(test, 'clickhouse', async (opts) => {
    const database = unique();
    const store = clickhouseStore({ url, database, ...opts });
    return {
      store,
      cleanup: async () => {
        await store.exec(ch`DROP DATABASE IF EXISTS ${ident(database)}`);
        await store.close();
      },
    };
  });

  const passwordFile = requireEngine(test, 'CLICKHOUSE_ANALYST_PASSWORD_FILE', 'ClickHouse analyst user');
  if (passwordFile) {
    test('clickhouse: the analyst user reads the lectern database and can change nothing', async (t) => {
      const server = new URL(url);
      // The database infra/local grants the analyst: the one CLICKHOUSE_URL names.
      const lectern = server.pathname.slice(1) || 'lectern';
      const password = (await readFile(passwordFile, 'utf8')).trim();
      // POST, so a refusal comes from the user's profile, not from HTTP GET being read-only.
      const as = async (user: string, secret: string, query: string) => {
        const res = await fetch(`${server.origin}/`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` },
          body: query,
        });
        const body = await res.text();
        return { status: res.status, body, code: Number(/\bCode: (\d+)/.exec(body)?.[1] ?? 0) };
      };
      const admin = (query: string) => as(decodeURIComponent(server.username) || 'default', '', query);

      const probe = `analyst_probe_${randomBytes(4).toString('hex')}`;
      const other = unique();
      const probeTable = ident(lectern, probe).text;
      const otherTable = ident(other, 'secret').text;
      try {
        for (const q of [
          `CREATE TABLE ${probeTable} (x String) ENGINE = MergeTree ORDER BY x`,
          `INSERT INTO ${probeTable} VALUES ('visible')`,
          `CREATE DATABASE ${ident(other).text}`,
          `CREATE TABLE ${otherTable} (x String) ENGINE = MergeTree ORDER BY x`,
        ]) {
          const r = await admin(q);
          t.is(r.status, 200, `${q}: ${r.body}`);
        }

        const read = await as('analyst', password, `SELECT x FROM ${probeTable}`);
        t.deepEqual([read.status, read.body], [200, 'visible\n'], 'reads its database');
        const profile = await as(
          'analyst',
          password,
          `SELECT value FROM system.settings WHERE name = 'readonly'`,
        );
        t.is(profile.body, '1\n', 'readonly=1');

        // 164 READONLY: every kind of change is refused by the profile.
        for (const q of [
          `INSERT INTO ${probeTable} VALUES ('written')`,
          `CREATE TABLE ${ident(lectern, `${probe}_2`).text} (x String) ENGINE = Memory`,
          `ALTER TABLE ${probeTable} DELETE WHERE 1`,
          `DROP TABLE ${probeTable}`,
          `SELECT * FROM file('x.tsv', TSV, 'x String')`,
        ]) {
          const r = await as('analyst', password, q);
          t.not(r.status, 200, q);
          t.is(r.code, 164, `${q}: ${r.body}`);
        }
        const settings = await fetch(
          `${server.origin}/?user=analyst&password=${encodeURIComponent(password)}&readonly=0`,
          { method: 'POST', body: `INSERT INTO ${probeTable} VALUES ('written')` },
        );
        t.regex(await settings.text(), /Code: 164\b/, 'cannot lift readonly from a request');

        const elsewhere = await as('analyst', password, `SELECT x FROM ${otherTable}`);
        t.is(elsewhere.code, 291, `other databases are out of reach: ${elsewhere.body}`);
        const wrong = await as('analyst', `${password}x`, 'SELECT 1');
        t.is(wrong.code, 193, 'a wrong password is refused');

        const after = await admin(`SELECT count() FROM ${probeTable}`);
        t.is(after.body, '1\n', 'nothing was written');
      } finally {
        await admin(`DROP TABLE IF EXISTS ${probeTable}`);
        await admin(`DROP DATABASE IF EXISTS ${ident(other).text}`);
      }
    });
  }
}
