import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JSONWebKeySet } from 'jose';

export const DEV_ISSUER = 'https://lectern.local/dev';
export const DEV_AUDIENCE = 'lectern';

/**
 * Development-only signing keys, so the embedded profile runs with no
 * identity service: an Ed25519 key pair kept in the data directory (never in
 * code), created on first use. Production refuses to start without real
 * JWKS configuration.
 */
export const devKeys = async (dataDir: string): Promise<{ jwks: JSONWebKeySet; privateJwk: JWK }> => {
  const file = join(dataDir, 'dev-jwt-key.json');
  let privateJwk: JWK;
  try {
    privateJwk = JSON.parse(await readFile(file, 'utf8')) as JWK;
  } catch {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), kid: `dev-${randomUUID()}`, alg: 'EdDSA', use: 'sig' };
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const { d: _secret, ...publicJwk } = privateJwk;
  return { jwks: { keys: [publicJwk] }, privateJwk };
};

/**
 * Signs an access token the way identity will: `typ: at+jwt`, EdDSA, a `kid`.
 *
 * @example await signAccessToken(privateJwk, { sub: userId, roles: ['admin'] })
 */
export const signAccessToken = async (
  privateJwk: JWK,
  claims: { sub: string; roles: readonly string[]; expiresIn?: string },
  opts: { issuer?: string; audience?: string } = {},
): Promise<string> => {
  const key = await importJWK(privateJwk, 'EdDSA');
  return new SignJWT({ roles: [...claims.roles] })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: privateJwk.kid! })
    .setSubject(claims.sub)
    .setIssuer(opts.issuer ?? DEV_ISSUER)
    .setAudience(opts.audience ?? DEV_AUDIENCE)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(claims.expiresIn ?? '1h')
    .sign(key);
};
