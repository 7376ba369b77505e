import test from 'ava';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  type CompactJWSHeaderParameters,
  type FlattenedJWSInput,
} from 'jose';
import type { Clock } from '../runtime/ids.ts';
import { migrate, migrateDown } from '../sql/migrate.ts';
import { pgliteSql } from '../sql/pglite.ts';
import { postgresSql } from '../sql/postgres.ts';
import type { Sql } from '../sql/sql.ts';
import { freshDatabase, requireEngine } from '../testing/engines.ts';
import { keyRingMigrations, sqlKeyRing, type KeyRing } from './key-ring.ts';
import { accessTokenIssuer } from './tokens.ts';

/** Two handles on one database, standing for two identity processes. */
type Opened = Readonly<{ a: Sql; b: Sql; dispose(): Promise<void> }>;

const manualClock = () => {
  let ms = Date.now();
  const clock: Clock = { now: () => new Date(ms) };
  return { clock, advance: (by: number) => (ms += by) };
};

/** Counts the queries an Sql runs, to see when a ring goes to the database. */
const counting = (sql: Sql) => {
  let queries = 0;
  const wrapped: Sql = { ...sql, query: (text, params) => (queries++, sql.query(text, params)) };
  return { sql: wrapped, count: () => queries };
};

const activeRows = async (sql: Sql) =>
  (await sql.query<{ kid: string }>('select kid from identity_signing_keys where retired_at is null')).map(
    (r) => r.kid,
  );

const lookup = async (ring: KeyRing, kid: string | undefined, alg = 'EdDSA') =>
  ring.getKey({ alg, ...(kid ? { kid } : {}) } as CompactJWSHeaderParameters, {} as FlattenedJWSInput);

const suite = (
  label: string,
  open: () => Promise<Opened>,
  register: typeof test | typeof test.serial = test,
) => {
  register(
    `${label}: two processes starting together end with one active key, the same for both`,
    async (t) => {
      const { a, b, dispose } = await open();
      try {
        const { clock } = manualClock();
        // Migrated beforehand: knex's migration lock would otherwise space the starts out.
        await migrate(a, 'identity_signing_keys', keyRingMigrations);
        for (let round = 0; round < 5; round++) {
          await a.query('delete from identity_signing_keys');
          const opts = { clock, overlapMs: 60_000, migrate: false };
          const rings = await Promise.all([a, b, a, b].map((sql) => sqlKeyRing(sql, opts)));
          const kids = await Promise.all(rings.map(async (r) => (await r.active()).kid));
          t.is(new Set(kids).size, 1, `round ${round}: ${kids.join(' ')}`);
          t.deepEqual(await activeRows(a), [kids[0]], `round ${round}`);
          for (const r of rings)
            t.deepEqual(
              (await r.jwks()).keys.map((k) => k.kid),
              [kids[0]],
              `round ${round}`,
            );
        }
      } finally {
        await dispose();
      }
    },
  );

  register(`${label}: the published key is public only, named by its thumbprint`, async (t) => {
    const { a, dispose } = await open();
    try {
      const ring = await sqlKeyRing(a, { clock: manualClock().clock, overlapMs: 60_000 });
      const { keys } = await ring.jwks();
      t.is(keys.length, 1);
      const jwk = keys[0]!;
      t.deepEqual(Object.keys(jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      t.like(jwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      t.is(jwk.kid, await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) }, 'sha256'));
      const active = await ring.active();
      t.is(active.kid, String(jwk.kid));
      t.is(active.alg, 'EdDSA');
      t.false('d' in active.publicJwk);
      t.is(active.privateKey.type, 'private');
      t.false(active.privateKey.extractable);
    } finally {
      await dispose();
    }
  });

  register(
    `${label}: a rotation elsewhere is seen once the cache expires, and at once for an unknown kid`,
    async (t) => {
      const { a, b, dispose } = await open();
      try {
        const time = manualClock();
        const counted = counting(a);
        const mine = await sqlKeyRing(counted.sql, {
          clock: time.clock,
          overlapMs: 3_600_000,
          cacheMs: 5_000,
        });
        const theirs = await sqlKeyRing(b, { clock: time.clock, overlapMs: 3_600_000, cacheMs: 5_000 });
        const first = (await mine.active()).kid;
        const second = await theirs.rotate();
        t.not(second, first);
        t.is((await mine.active()).kid, first, 'still cached');

        // A token signed by the other process with its new key: this process reloads to find it.
        const issued = await accessTokenIssuer(theirs, {
          issuer: 'i',
          audience: 'a',
          ttlSeconds: 60,
          clock: time.clock,
        }).sign({ sub: 'u', roles: [] });
        t.is(decodeProtectedHeader(issued.token).kid, second);
        time.advance(1_000);
        const before = counted.count();
        t.truthy(await lookup(mine, second));
        t.true(counted.count() > before, 'reloaded for the unknown kid');
        t.is((await mine.active()).kid, second, 'and now signs with the new key too');

        // Past the cache lifetime everything is re-read even without a token asking.
        const third = await theirs.rotate();
        time.advance(5_000);
        t.is((await mine.active()).kid, third);
        t.deepEqual(
          (await mine.jwks()).keys.map((k) => k.kid),
          [third, second, first],
        );
      } finally {
        await dispose();
      }
    },
  );

  register(`${label}: made-up kids cost at most one reload per second`, async (t) => {
    const { a, dispose } = await open();
    try {
      const time = manualClock();
      const counted = counting(a);
      const ring = await sqlKeyRing(counted.sql, { clock: time.clock, overlapMs: 60_000, cacheMs: 60_000 });
      time.advance(2_000);
      const before = counted.count();
      for (let i = 0; i < 50; i++)
        await t.throwsAsync(() => lookup(ring, `made-up-${i}`), { name: 'JWKSNoMatchingKey' });
      t.is(counted.count() - before, 1, 'one reload for fifty unknown kids within a second');
      time.advance(1_000);
      await t.throwsAsync(() => lookup(ring, 'made-up-again'));
      t.is(counted.count() - before, 2, 'another after a second');
    } finally {
      await dispose();
    }
  });

  register(`${label}: getKey refuses a token without kid or with another algorithm`, async (t) => {
    const { a, dispose } = await open();
    try {
      const ring = await sqlKeyRing(a, { clock: manualClock().clock, overlapMs: 60_000 });
      const { kid } = await ring.active();
      t.truthy(await lookup(ring, kid));
      await t.throwsAsync(() => lookup(ring, undefined), { name: 'JWKSNoMatchingKey' });
      await t.throwsAsync(() => lookup(ring, ''), { name: 'JWKSNoMatchingKey' });
      await t.throwsAsync(() => lookup(ring, kid, 'HS256'), { name: 'JOSEAlgNotAllowed' });
      await t.throwsAsync(() => lookup(ring, kid, 'ES256'), { name: 'JOSEAlgNotAllowed' });
    } finally {
      await dispose();
    }
  });

  register(`${label}: concurrent rotations from two processes leave one active key`, async (t) => {
    const { a, b, dispose } = await open();
    try {
      const { clock } = manualClock();
      const ra = await sqlKeyRing(a, { clock, overlapMs: 3_600_000 });
      const rb = await sqlKeyRing(b, { clock, overlapMs: 3_600_000 });
      const kids = await Promise.all([ra.rotate(), rb.rotate(), ra.rotate(), rb.rotate()]);
      const active = await activeRows(a);
      t.is(active.length, 1);
      t.true(kids.includes(active[0]!), 'the active key is one of the rotations');
      const rows = await a.query<{ n: number; with_private: number }>(
        'select count(*)::int as n, count(private_jwk)::int as with_private from identity_signing_keys',
      );
      t.deepEqual(rows, [{ n: 5, with_private: 1 }], 'retired keys keep no private half');
    } finally {
      await dispose();
    }
  });

  register(`${label}: keys retired longer than the overlap are deleted at the next rotation`, async (t) => {
    const { a, dispose } = await open();
    try {
      const time = manualClock();
      const ring = await sqlKeyRing(a, { clock: time.clock, overlapMs: 60_000 });
      const first = (await ring.active()).kid;
      time.advance(1_000);
      const second = await ring.rotate();
      time.advance(30_000);
      const third = await ring.rotate();
      const kids = async () =>
        (await a.query<{ kid: string }>('select kid from identity_signing_keys order by created_at')).map(
          (r) => r.kid,
        );
      t.deepEqual(await kids(), [first, second, third]);
      time.advance(31_000); // `first` retired 61 s ago, `second` 31 s ago
      t.deepEqual(
        (await ring.jwks()).keys.map((k) => k.kid),
        [third, second],
      );
      const fourth = await ring.rotate();
      t.deepEqual(await kids(), [second, third, fourth]);
    } finally {
      await dispose();
    }
  });

  register(`${label}: a missing active key is made again rather than failing`, async (t) => {
    const { a, dispose } = await open();
    try {
      const time = manualClock();
      const ring = await sqlKeyRing(a, { clock: time.clock, overlapMs: 60_000, cacheMs: 1_000 });
      const first = (await ring.active()).kid;
      await a.query('delete from identity_signing_keys');
      time.advance(1_000);
      const next = (await ring.active()).kid;
      t.not(next, first);
      t.deepEqual(await activeRows(a), [next]);
    } finally {
      await dispose();
    }
  });

  register(`${label}: migrations roll down and up again`, async (t) => {
    const { a, dispose } = await open();
    try {
      const tables = async () =>
        (
          await a.query<{ name: string }>(
            `select table_name as name from information_schema.tables where table_name = 'identity_signing_keys'`,
          )
        ).map((r) => r.name);
      await migrate(a, 'identity_signing_keys', keyRingMigrations);
      t.deepEqual(await tables(), ['identity_signing_keys']);
      await migrateDown(a, 'identity_signing_keys', keyRingMigrations);
      t.deepEqual(await tables(), []);
      const ring = await sqlKeyRing(a, { clock: manualClock().clock, overlapMs: 60_000 });
      t.is((await ring.jwks()).keys.length, 1);
    } finally {
      await dispose();
    }
  });
};

// PGlite is one session in one process: both handles are the same database. One
// instance serves every test (opening one takes seconds), so they run one at a time,
// each on an emptied table.
let pglite: ReturnType<typeof pgliteSql> | undefined;
test.after.always(async () => {
  if (pglite) await (await pglite).close();
});
suite(
  'key ring on PGlite',
  async () => {
    const sql = await (pglite ??= pgliteSql(null));
    await sql.exec(
      'drop table if exists identity_signing_keys; drop table if exists knex_migrations_identity_signing_keys; drop table if exists knex_migrations_identity_signing_keys_lock;',
    );
    return { a: sql, b: sql, dispose: async () => {} };
  },
  test.serial,
);

const url = requireEngine(test, 'DATABASE_URL', 'key ring on PostgreSQL');
if (url)
  suite('key ring on PostgreSQL', async () => {
    const db = await freshDatabase(url);
    const a = postgresSql(db.url, { max: 4, applicationName: 'identity-a' });
    const b = postgresSql(db.url, { max: 4, applicationName: 'identity-b' });
    return {
      a,
      b,
      dispose: async () => {
        await a.close();
        await b.close();
        await db.drop();
      },
    };
  });
