import { createPublicKey } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWTVerifyGetKey,
} from 'jose';
import { tokenVerifier, type VerifiedToken } from '../http/auth.ts';
import { Problem, statusOf } from '../runtime/errors.ts';
import type { Clock } from '../runtime/ids.ts';
import { pgliteSql } from '../sql/pglite.ts';
import { sqlKeyRing, type KeyRing } from './key-ring.ts';
import { accessTokenIssuer } from './tokens.ts';

const ISSUER = 'https://identity.lectern.test';
const AUDIENCE = 'lectern-api';
const TTL = 600;

type Verify = (token: string) => Promise<VerifiedToken>;

/** A clock the test moves. */
const manualClock = (startMs = Date.now()) => {
  let ms = startMs;
  const clock: Clock = { now: () => new Date(ms) };
  return { clock, advance: (by: number) => (ms += by), set: (to: number) => (ms = to), get: () => ms };
};

/** Both key sources the verifier takes from a ring: its lookup, and its JWKS document as published now. */
const verifiers = async (ring: KeyRing, clock: Clock): Promise<ReadonlyArray<readonly [string, Verify]>> => [
  ['keys: ring.getKey', tokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys: ring.getKey, clock })],
  [
    'jwks: ring.jwks()',
    tokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: await ring.jwks(), clock }),
  ],
];

const rejects = async (t: ExecutionContext, verify: Verify, token: string, label: string, code?: string) => {
  const error = await t.throwsAsync(() => verify(token), { instanceOf: Problem }, label);
  if (!(error instanceof Problem)) return;
  t.is(error.kind, 'unauthenticated', label);
  t.is(statusOf[error.kind], 401, label);
  if (code) t.is(error.code, code, label);
};

const encodeJson = (value: unknown) => base64url.encode(JSON.stringify(value));

// One ring that is never rotated, for the negative tests, on its own embedded database.
const fixed = manualClock();
let fixedRing: Promise<KeyRing> | undefined;
const ring = () =>
  (fixedRing ??= pgliteSql(null).then((sql) =>
    sqlKeyRing(sql, { clock: fixed.clock, overlapMs: 3_600_000 }),
  ));

const issue = async (
  claims: { sub?: string; roles?: string[] } = {},
  opts: { issuer?: string; audience?: string; clock?: Clock; ttlSeconds?: number } = {},
) =>
  accessTokenIssuer(await ring(), {
    issuer: opts.issuer ?? ISSUER,
    audience: opts.audience ?? AUDIENCE,
    ttlSeconds: opts.ttlSeconds ?? TTL,
    clock: opts.clock ?? fixed.clock,
  }).sign({ sub: claims.sub ?? 'user-1', roles: claims.roles ?? ['learner'] });

/** Signs with the ring's own private key, with whatever header and claims a test needs. */
const signRaw = async (header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> => {
  const key = await (await ring()).active();
  const now = Math.floor(fixed.get() / 1000);
  return new SignJWT({
    sub: 'user-1',
    roles: ['learner'],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    exp: now + TTL,
    ...claims,
  })
    .setProtectedHeader({ alg: 'EdDSA', ...header })
    .sign(key.privateKey);
};

test('an issued token has the header and claims identity promises', async (t) => {
  const { token, expiresAt } = await issue({ sub: 'user-42', roles: ['author', 'learner'] });
  const header = decodeProtectedHeader(token);
  const payload = decodeJwt(token);
  const active = await (await ring()).active();
  t.deepEqual(header, { alg: 'EdDSA', typ: 'at+jwt', kid: active.kid });
  const now = Math.floor(fixed.get() / 1000);
  t.like(payload, {
    sub: 'user-42',
    roles: ['author', 'learner'],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    nbf: now,
    exp: now + TTL,
  });
  t.regex(String(payload.jti), /^[0-9a-f-]{36}$/);
  t.not(decodeJwt((await issue()).token).jti, payload.jti, 'a fresh jti each time');
  t.is(expiresAt, new Date((now + TTL) * 1000).toISOString());
});

test('a valid token verifies through the ring lookup and through the published JWKS', async (t) => {
  const { token } = await issue({ sub: 'user-7', roles: ['admin', 'not-a-role'] });
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    t.deepEqual(await verify(token), { userId: 'user-7', roles: ['admin'] }, source);
});

test('the skew is 30 s: just inside it passes, just beyond it fails, for exp and nbf', async (t) => {
  const now = fixed.get();
  // exp = now - 29 s and nbf = now + 29 s: inside the skew.
  const justExpired = await issue({}, { clock: { now: () => new Date(now - (TTL + 29) * 1000) } });
  const justFuture = await issue({}, { clock: { now: () => new Date(now + 29_000) } });
  // exp = now - 31 s and nbf = now + 31 s: beyond it.
  const expired = await issue({}, { clock: { now: () => new Date(now - (TTL + 31) * 1000) } });
  const future = await issue({}, { clock: { now: () => new Date(now + 31_000) } });
  for (const [source, verify] of await verifiers(await ring(), fixed.clock)) {
    t.is((await verify(justExpired.token)).userId, 'user-1', `${source}: expired 29 s ago`);
    t.is((await verify(justFuture.token)).userId, 'user-1', `${source}: valid in 29 s`);
    await rejects(t, verify, expired.token, `${source}: expired 31 s ago`, 'token_expired');
    await rejects(t, verify, future.token, `${source}: not valid for 31 s`, 'token_invalid');
  }
});

test('alg none is rejected', async (t) => {
  const { token } = await issue();
  const [, payload] = token.split('.');
  const { kid } = decodeProtectedHeader(token);
  const unsigned = [
    `${encodeJson({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.`,
    `${encodeJson({ alg: 'none', typ: 'at+jwt', kid })}.${payload}.${token.split('.')[2]}`,
    `${encodeJson({ alg: 'None', typ: 'at+jwt', kid })}.${payload}.`,
  ];
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    for (const [i, forged] of unsigned.entries()) await rejects(t, verify, forged, `${source}: variant ${i}`);
});

test('HS256 signed with the public key as the HMAC secret is rejected', async (t) => {
  const active = await (await ring()).active();
  const publicJwk = active.publicJwk;
  const pem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const secrets: ReadonlyArray<readonly [string, Uint8Array]> = [
    ['the PEM', new TextEncoder().encode(pem)],
    ['the JWK JSON', new TextEncoder().encode(JSON.stringify(publicJwk))],
    ['the raw public key', base64url.decode(publicJwk.x!)],
    ['the JWKS JSON', new TextEncoder().encode(JSON.stringify(await (await ring()).jwks()))],
  ];
  const now = Math.floor(fixed.get() / 1000);
  for (const [what, secret] of secrets) {
    const forged = await new SignJWT({ sub: 'attacker', roles: ['admin'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: active.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + TTL)
      .sign(secret);
    for (const [source, verify] of await verifiers(await ring(), fixed.clock))
      await rejects(t, verify, forged, `${source}: HMAC keyed with ${what}`);
  }
});

test('a wrong audience or issuer is rejected', async (t) => {
  const wrongAud = await issue({}, { audience: 'some-other-api' });
  const wrongIss = await issue({}, { issuer: 'https://evil.example' });
  const noAud = await signRaw(
    { typ: 'at+jwt', kid: (await (await ring()).active()).kid },
    { aud: undefined },
  );
  for (const [source, verify] of await verifiers(await ring(), fixed.clock)) {
    await rejects(t, verify, wrongAud.token, `${source}: aud`, 'token_invalid');
    await rejects(t, verify, wrongIss.token, `${source}: iss`, 'token_invalid');
    await rejects(t, verify, noAud, `${source}: no aud`, 'token_invalid');
  }
});

test('a wrong or missing typ is rejected', async (t) => {
  const { kid } = await (await ring()).active();
  const typs = ['JWT', 'id_token+jwt', 'at+jwt2', undefined];
  for (const typ of typs) {
    const token = await signRaw({ kid, ...(typ ? { typ } : {}) }, {});
    for (const [source, verify] of await verifiers(await ring(), fixed.clock))
      await rejects(t, verify, token, `${source}: typ ${typ}`, 'token_invalid');
  }
  // The control: the same signing path with the right typ passes.
  const good = await signRaw({ kid, typ: 'at+jwt' }, {});
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    t.is((await verify(good)).userId, 'user-1', source);
});

test('a token without exp or sub is rejected', async (t) => {
  const { kid } = await (await ring()).active();
  const noExp = await signRaw({ kid, typ: 'at+jwt' }, { exp: undefined });
  const noSub = await signRaw({ kid, typ: 'at+jwt' }, { sub: undefined });
  for (const [source, verify] of await verifiers(await ring(), fixed.clock)) {
    await rejects(t, verify, noExp, `${source}: no exp`);
    await rejects(t, verify, noSub, `${source}: no sub`);
  }
});

test('an unknown kid is rejected, and so is a known kid on a signature by another key', async (t) => {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const now = Math.floor(fixed.get() / 1000);
  const signWith = (key: CryptoKey, kid: string) =>
    new SignJWT({ sub: 'attacker', roles: ['admin'] })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(now + TTL)
      .sign(key);
  const unknown = await signWith(privateKey, 'no-such-kid');
  const impostor = await signWith(privateKey, (await (await ring()).active()).kid);
  for (const [source, verify] of await verifiers(await ring(), fixed.clock)) {
    await rejects(t, verify, unknown, `${source}: unknown kid`, 'token_unknown_key');
    await rejects(t, verify, impostor, `${source}: another key under a known kid`, 'token_invalid');
  }
});

test('a tampered payload is rejected (roles changed, signature kept)', async (t) => {
  const { token } = await issue({ roles: ['learner'] });
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
  const escalated = `${header}.${encodeJson({ ...claims, roles: ['admin'] })}.${signature}`;
  const otherUser = `${header}.${encodeJson({ ...claims, sub: 'user-2' })}.${signature}`;
  const headerSwapped = `${encodeJson({ ...decodeProtectedHeader(token), typ: 'at+jwt', extra: 1 })}.${payload}.${signature}`;
  for (const [source, verify] of await verifiers(await ring(), fixed.clock)) {
    t.deepEqual((await verify(token)).roles, ['learner'], `${source}: the original passes`);
    await rejects(t, verify, escalated, `${source}: roles`, 'token_invalid');
    await rejects(t, verify, otherUser, `${source}: sub`, 'token_invalid');
    await rejects(t, verify, headerSwapped, `${source}: header`, 'token_invalid');
  }
});

test('a token without kid is rejected, even when the JWKS has only one key', async (t) => {
  const active = await (await ring()).active();
  t.is((await (await ring()).jwks()).keys.length, 1, 'the case where jose would pick the only key');
  const token = await signRaw({ typ: 'at+jwt' }, {});
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    await rejects(t, verify, token, `${source}: no kid`, 'token_unknown_key');
  const withKid = await signRaw({ typ: 'at+jwt', kid: active.kid }, {});
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    t.is((await verify(withKid)).userId, 'user-1', source);
});

test('malformed tokens are rejected', async (t) => {
  for (const [source, verify] of await verifiers(await ring(), fixed.clock))
    for (const junk of ['', 'abc', 'a.b.c', 'a.b', `${encodeJson({ alg: 'EdDSA' })}..`])
      await rejects(t, verify, junk, `${source}: ${JSON.stringify(junk)}`);
});

test('rotation: old tokens verify through the overlap, new ones carry the new kid, then the old kid is gone', async (t) => {
  const sql = await pgliteSql(null);
  try {
    const time = manualClock();
    const overlapMs = 2 * 3_600_000;
    const rotating = await sqlKeyRing(sql, { clock: time.clock, overlapMs });
    const issuerOf = (ttlSeconds: number) =>
      accessTokenIssuer(rotating, { issuer: ISSUER, audience: AUDIENCE, ttlSeconds, clock: time.clock });
    const hourly = issuerOf(3600);
    // Longer-lived than the overlap (a misconfiguration), to show that the key's removal alone rejects it.
    const outlives = issuerOf(4 * 3600);

    const before = await hourly.sign({ sub: 'u', roles: ['learner'] });
    const beforeLong = await outlives.sign({ sub: 'u', roles: ['learner'] });
    const oldKid = decodeProtectedHeader(before.token).kid!;

    time.advance(10 * 60_000);
    const rotatedAt = time.get();
    const newKid = await rotating.rotate();
    t.not(newKid, oldKid);
    const after = await hourly.sign({ sub: 'u', roles: ['learner'] });
    t.is(decodeProtectedHeader(after.token).kid, newKid, 'new tokens carry the new kid');
    t.is((await rotating.active()).kid, newKid);
    t.deepEqual(
      (await rotating.jwks()).keys.map((k) => k.kid),
      [newKid, oldKid],
      'both published, newest first',
    );

    for (const [source, verify] of await verifiers(rotating, time.clock)) {
      t.is((await verify(before.token)).userId, 'u', `${source}: a token from before the rotation`);
      t.is((await verify(after.token)).userId, 'u', `${source}: a token from after it`);
    }

    // Until its expiry (50 min after the rotation) the old token stays good.
    time.advance(49 * 60_000);
    for (const [source, verify] of await verifiers(rotating, time.clock))
      t.is((await verify(before.token)).userId, 'u', `${source}: 59 min after issue`);

    // Past the overlap: the old kid is no longer published or accepted.
    time.set(rotatedAt + overlapMs - 1_000);
    t.deepEqual(
      (await rotating.jwks()).keys.map((k) => k.kid),
      [newKid, oldKid],
      'a second before the end of the overlap',
    );
    time.set(rotatedAt + overlapMs + 1_000);
    t.deepEqual(
      (await rotating.jwks()).keys.map((k) => k.kid),
      [newKid],
    );
    const lateVerifiers = await verifiers(rotating, time.clock);
    for (const [source, verify] of lateVerifiers)
      await rejects(t, verify, beforeLong.token, `${source}: old kid`, 'token_unknown_key');
    // The same instant, a live token of the new key still passes: only the old key went.
    const fresh = await hourly.sign({ sub: 'u', roles: ['learner'] });
    for (const [source, verify] of lateVerifiers)
      t.is((await verify(fresh.token)).userId, 'u', `${source}: new key`);
  } finally {
    await sql.close();
  }
});

test('a verifier needs a key source', (t) => {
  t.throws(() => tokenVerifier({ issuer: ISSUER, audience: AUDIENCE }), { message: /keys, jwksUrl or jwks/ });
  const keys: JWTVerifyGetKey = async () => {
    throw new Error('never called');
  };
  t.notThrows(() => tokenVerifier({ issuer: ISSUER, audience: AUDIENCE, keys }));
});

test('the issuer refuses a nonsense lifetime', async (t) => {
  t.throws(
    () =>
      accessTokenIssuer({} as KeyRing, {
        issuer: ISSUER,
        audience: AUDIENCE,
        ttlSeconds: 0,
        clock: fixed.clock,
      }),
    {
      instanceOf: TypeError,
    },
  );
});

// Keep the ring's exported key material honest: nothing private in what is published.
test('what the ring publishes has no private member', async (t) => {
  const published = await (await ring()).jwks();
  const active = await (await ring()).active();
  t.false(published.keys.some((k) => 'd' in k));
  t.false('d' in active.publicJwk);
  t.false(active.privateKey.extractable, 'the private key cannot be exported from the process');
  await t.throwsAsync(() => exportJWK(active.privateKey));
});
