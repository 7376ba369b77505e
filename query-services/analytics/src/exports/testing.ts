import { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { accessTokenIssuer } from '@lectern/infra/auth/tokens';
import type { KeyRing } from '@lectern/infra/auth/key-ring';
import { createHttpApp } from '@lectern/infra/http/app';
import { tokenVerifier } from '@lectern/infra/http/auth';
import type { AnalyticsStore } from '@lectern/infra/ports/analytics-store';
import { createLogger } from '@lectern/infra/runtime/logger';
import { createMetrics } from '@lectern/infra/runtime/metrics';
import { analyticsExportRoutes } from '../export-routes.ts';

/**
 * Reading exports back, for tests: an RFC 4180 parser written independently
 * of the writer (a state machine over characters, not the writer's rules
 * reversed), so that a mistake in one is not mirrored in the other.
 */

/** Records of a CSV text; every record ends in CRLF, as ours do. Throws on anything malformed. */
export const parseCsv = (text: string): string[][] => {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let state: 'start' | 'plain' | 'quoted' | 'quote' = 'start';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (state === 'quoted') {
      if (c === '"') state = 'quote';
      else field += c;
      continue;
    }
    if (state === 'quote' && c === '"') {
      field += '"';
      state = 'quoted';
      continue;
    }
    if (c === ',') {
      record.push(field);
      field = '';
      state = 'start';
    } else if (c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`a bare CR at ${i}`);
      i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      state = 'start';
    } else if (c === '"' && state === 'start') {
      state = 'quoted';
    } else if (c === '"' || c === '\n' || state === 'quote') {
      throw new Error(`unexpected ${JSON.stringify(c)} at ${i}`);
    } else {
      field += c;
      state = 'plain';
    }
  }
  if (state === 'quoted') throw new Error('an unterminated quoted field');
  if (field !== '' || record.length > 0) throw new Error('the last record does not end in CRLF');
  return records;
};

/* An HTTP server with the export routes only, for the e2e tests. */

export type LogLine = Readonly<{
  level: 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}>;

export type ExportServer = Readonly<{
  base: string;
  /** A valid access token for these roles. */
  token(...roles: string[]): Promise<string>;
  /** What the routes logged through `req.log`. */
  logs: LogLine[];
  close(): Promise<void>;
}>;

/**
 * The export routes behind the real HTTP kit and the real token verifier,
 * with an Ed25519 key made for the run: tokens are signed and checked
 * exactly as in production, only the key ring is held in memory.
 */
export const startExportServer = async (store: AnalyticsStore): Promise<ExportServer> => {
  const issuer = 'https://lectern.test/exports';
  const audience = 'lectern-test';
  const { publicKey, privateKey } = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as unknown as webcrypto.CryptoKeyPair;
  const kid = 'exports-test';
  const publicJwk = {
    ...(await webcrypto.subtle.exportKey('jwk', publicKey)),
    kid,
    alg: 'EdDSA',
    use: 'sig',
  };
  const ring: KeyRing = {
    active: async () => ({ kid, alg: 'EdDSA', privateKey, publicJwk }),
    jwks: async () => ({ keys: [publicJwk] }),
    rotate: async () => kid,
    getKey: async () => publicKey,
  };
  const tokens = accessTokenIssuer(ring, {
    issuer,
    audience,
    ttlSeconds: 600,
    clock: { now: () => new Date() },
  });
  const verify = tokenVerifier({ issuer, audience, jwks: { keys: [publicJwk] } });

  const logs: LogLine[] = [];
  const { app, finish } = createHttpApp({
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    readiness: [],
  });
  app.use((req, _res, next) => {
    const log = req.log;
    const capture =
      (level: LogLine['level']) =>
      (obj: Record<string, unknown>, msg: string): void => {
        logs.push({ level, obj, msg });
      };
    req.log = Object.assign(Object.create(log) as typeof log, {
      info: capture('info'),
      warn: capture('warn'),
      error: capture('error'),
    });
    next();
  });
  app.use(analyticsExportRoutes({ store, verify }));
  finish();
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: async (...roles) => (await tokens.sign({ sub: webcrypto.randomUUID(), roles })).token,
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
