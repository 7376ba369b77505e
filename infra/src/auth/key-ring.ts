import {
  calculateJwkThumbprint,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import type { Clock } from '../runtime/ids.ts';
import { migrate, sqlMigration, type Migration } from '../sql/migrate.ts';
import type { Sql } from '../sql/sql.ts';

/** A key new access tokens are signed with. `privateKey` never leaves the process. */
export type SigningKey = Readonly<{ kid: string; alg: 'EdDSA'; privateKey: CryptoKey; publicJwk: JWK }>;

/**
 * Identity's signing keys, shared by every identity process through the
 * database: all sign with the same active key and publish the same JWKS.
 *
 * @example
 *   const ring = await sqlKeyRing(sql, { clock: systemClock, overlapMs: accessTtlMs + 5 * 60_000 });
 *   const { kid, privateKey } = await ring.active();
 *   app.get('/.well-known/jwks.json', async (_req, res) => res.json(await ring.jwks()));
 *   const verify = tokenVerifier({ issuer, audience, keys: ring.getKey });
 */
export type KeyRing = Readonly<{
  /** The key new tokens are signed with. */
  active(): Promise<SigningKey>;
  /** The active key and keys retired less than `overlapMs` ago; public parts only. */
  jwks(): Promise<JSONWebKeySet>;
  /** Makes a new key active; the old one stays published for `overlapMs`. Resolves to the new kid. */
  rotate(): Promise<string>;
  /** For jose's jwtVerify: the public key of the token's kid (an unknown kid reloads, at most once a second). */
  getKey: JWTVerifyGetKey;
}>;

export type KeyRingOptions = {
  clock: Clock;
  /**
   * How long a retired key stays published and accepted. It must cover the
   * longest access-token life, plus `cacheMs` (another process may sign with
   * the old key that long after a rotation) and the verifiers' clock skew.
   */
  overlapMs: number;
  /** How long a process trusts what it read (default 5 s): a rotation elsewhere is seen within it. */
  cacheMs?: number;
  /** The shortest time between two reloads caused by tokens with unknown kids (default 1 s). */
  unknownKidReloadMs?: number;
  /** Whether to run the migration (default true). */
  migrate?: boolean;
};

/**
 * One row per key. At most one row is active (`retired_at is null`), which a
 * partial unique index enforces, so two processes creating the first key at
 * once cannot both succeed. A retired key keeps its public half only: it is
 * never used to sign again.
 */
export const keyRingMigrations: readonly Migration[] = [
  sqlMigration(
    '001_identity_signing_keys',
    `create table if not exists identity_signing_keys (
       kid text primary key,
       alg text not null,
       public_jwk jsonb not null,
       private_jwk jsonb,
       created_at timestamptz not null,
       retired_at timestamptz,
       constraint identity_signing_keys_private_while_active check (retired_at is not null or private_jwk is not null)
     );
     create unique index if not exists identity_signing_keys_one_active
       on identity_signing_keys ((true)) where retired_at is null;`,
    `drop table if exists identity_signing_keys;`,
  ),
];

type Row = {
  kid: string;
  public_jwk: JWK;
  private_jwk: JWK | null;
  retired_ms: number | null;
};

type Published = Readonly<{ kid: string; publicJwk: JWK; publicKey: CryptoKey; retiredMs: number | null }>;

type Snapshot = Readonly<{ loadedMs: number; active: SigningKey; published: readonly Published[] }>;

const ALG = 'EdDSA';

/** A new Ed25519 key; its kid is the RFC 7638 thumbprint, so it names this key and no other. */
const newKey = async (): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> => {
  const { privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
  const { d, ...bare } = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(bare, 'sha256');
  const publicJwk: JWK = { ...bare, kid, alg: ALG, use: 'sig' };
  return { kid, publicJwk, privateJwk: { ...publicJwk, d } };
};

const asCryptoKey = async (jwk: JWK): Promise<CryptoKey> => {
  const key = await importJWK(jwk, ALG);
  if (key instanceof Uint8Array) throw new Error('an Ed25519 JWK imported as raw bytes');
  return key;
};

/** The public members only, whatever else a stored JWK holds. */
const publicPart = (jwk: JWK): JWK => {
  const { kty, crv, x, kid, alg, use } = jwk;
  return { kty, crv, x, kid, alg, use };
};

/**
 * The KeyRing on PostgreSQL or PGlite (table `identity_signing_keys`).
 *
 * 1. The first start creates one key (`insert … on conflict do nothing`
 *    against the one-active index: of two processes starting together, one
 *    inserts and the other reads its key).
 * 2. Reads are cached for `cacheMs` by the clock; a token with a kid this
 *    process has not seen forces a reload, at most once per
 *    `unknownKidReloadMs`, so a flood of made-up kids costs one query a second.
 * 3. `rotate` locks the table, retires the active key (dropping its private
 *    half), deletes keys retired more than `overlapMs` ago and inserts the
 *    new key, in one transaction; concurrent rotations queue on the lock.
 */
export const sqlKeyRing = async (sql: Sql, opts: KeyRingOptions): Promise<KeyRing> => {
  if (opts.migrate ?? true) await migrate(sql, 'identity_signing_keys', keyRingMigrations);
  const { clock, overlapMs } = opts;
  const cacheMs = opts.cacheMs ?? 5_000;
  const unknownKidReloadMs = opts.unknownKidReloadMs ?? 1_000;
  if (!(overlapMs >= 0)) throw new TypeError('overlapMs must be ≥ 0');

  // CryptoKeys by kid: importing is not free, and a key's material never changes.
  const imported = new Map<string, Promise<CryptoKey>>();
  const importOnce = (kid: string, jwk: JWK): Promise<CryptoKey> => {
    let key = imported.get(kid);
    if (!key) {
      key = asCryptoKey(jwk);
      imported.set(kid, key);
      key.catch(() => imported.delete(kid));
    }
    return key;
  };

  const select = (nowMs: number) =>
    sql.query<Row>(
      `select kid, public_jwk, case when retired_at is null then private_jwk end as private_jwk,
              (extract(epoch from retired_at) * 1000)::float8 as retired_ms
       from identity_signing_keys
       where retired_at is null or retired_at > $1::timestamptz
       order by retired_at desc nulls first, created_at desc`,
      [new Date(nowMs - overlapMs)],
    );

  const load = async (): Promise<Snapshot> => {
    const nowMs = clock.now().getTime();
    let rows = await select(nowMs);
    if (!rows.some((r) => r.retired_ms === null)) {
      // No active key: the first start, or someone removed it by hand.
      const key = await newKey();
      await sql.query(
        `insert into identity_signing_keys (kid, alg, public_jwk, private_jwk, created_at)
         values ($1, $2, $3::jsonb, $4::jsonb, $5) on conflict do nothing`,
        [key.kid, ALG, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), new Date(nowMs)],
      );
      rows = await select(nowMs);
    }
    const activeRow = rows.find((r) => r.retired_ms === null);
    if (!activeRow?.private_jwk) throw new Error('identity_signing_keys has no active key');
    const published = await Promise.all(
      rows.map(async (r) => {
        const publicJwk = publicPart(r.public_jwk);
        return {
          kid: r.kid,
          publicJwk,
          publicKey: await importOnce(r.kid, publicJwk),
          retiredMs: r.retired_ms,
        };
      }),
    );
    const active: SigningKey = {
      kid: activeRow.kid,
      alg: ALG,
      // The private key is imported afresh for each snapshot and never cached beside the public ones.
      privateKey: await asCryptoKey(activeRow.private_jwk),
      publicJwk: publicPart(activeRow.public_jwk),
    };
    return { loadedMs: nowMs, active, published };
  };

  let snapshot: Promise<Snapshot> | null = null;
  let loading: Promise<Snapshot> | null = null;
  const reload = (): Promise<Snapshot> => {
    loading ??= load().finally(() => {
      loading = null;
    });
    const next = loading;
    snapshot = next;
    // A failed load is not kept: the next call tries again.
    next.catch(() => {
      if (snapshot === next) snapshot = null;
    });
    return next;
  };
  const current = async (): Promise<Snapshot> => {
    if (!snapshot) return reload();
    const s = await snapshot;
    return clock.now().getTime() - s.loadedMs >= cacheMs ? reload() : s;
  };
  const publishedAt = (s: Snapshot, nowMs: number): readonly Published[] =>
    s.published.filter((k) => k.retiredMs === null || k.retiredMs > nowMs - overlapMs);

  await current();

  return {
    async active() {
      return (await current()).active;
    },
    async jwks() {
      const s = await current();
      return { keys: publishedAt(s, clock.now().getTime()).map((k) => ({ ...k.publicJwk })) };
    },
    async rotate() {
      const key = await newKey();
      const now = clock.now();
      await sql.transaction(async (tx) => {
        await tx.query('lock table identity_signing_keys in share row exclusive mode');
        await tx.query(
          'update identity_signing_keys set retired_at = $1, private_jwk = null where retired_at is null',
          [now],
        );
        await tx.query('delete from identity_signing_keys where retired_at <= $1::timestamptz', [
          new Date(now.getTime() - overlapMs),
        ]);
        await tx.query(
          `insert into identity_signing_keys (kid, alg, public_jwk, private_jwk, created_at)
           values ($1, $2, $3::jsonb, $4::jsonb, $5)`,
          [key.kid, ALG, JSON.stringify(key.publicJwk), JSON.stringify(key.privateJwk), now],
        );
      });
      await reload();
      return key.kid;
    },
    async getKey(header) {
      if (header.alg !== ALG)
        throw new joseErrors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
      const kid = header.kid;
      if (typeof kid !== 'string' || kid.length === 0) throw new joseErrors.JWKSNoMatchingKey();
      let s = await current();
      const nowMs = clock.now().getTime();
      let found = publishedAt(s, nowMs).find((k) => k.kid === kid);
      if (!found && s.published.every((k) => k.kid !== kid) && nowMs - s.loadedMs >= unknownKidReloadMs) {
        s = await reload();
        found = publishedAt(s, clock.now().getTime()).find((k) => k.kid === kid);
      }
      if (!found) throw new joseErrors.JWKSNoMatchingKey();
      return found.publicKey;
    },
  };
};
