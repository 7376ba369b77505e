import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { IdempotencyStore, StoredAnswer } from '../ports/idempotency-store.ts';
import type { Clock } from '../runtime/ids.ts';
import type { VerifiedToken } from './auth.ts';

/** Methods that change state; a key on any other is ignored (reads are safe to repeat). */
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const KEY = /^[A-Za-z0-9._:-]{1,128}$/;
/** What a replay repeats besides status and body; request and trace ids stay the retry's own. */
const REPLAYED_HEADERS = ['content-type', 'etag', 'x-consistency-token', 'location', 'retry-after'] as const;

/** JSON with object keys sorted at every depth, so `{a,b}` and `{b,a}` are one request. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

/** The request as one string: method, path and query, the `If-Match` it was made under, the canonical body. */
const canonicalRequest = (req: Request): string =>
  canonicalJson([req.method, req.originalUrl, req.get('if-match') ?? null, req.body ?? null]);

const sha256 = (...parts: string[]): Buffer => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest();
};

/*
 * Stored answers are encrypted under a key derived from the request itself
 * (never stored): an answer may carry tokens (login, refresh), and whoever
 * reads the table must not be able to use them. Only the same request, which
 * holds the password or the spent refresh token, can open its answer.
 */
const answerKey = (scope: string, key: string, request: string): Buffer =>
  sha256('lectern-idempotency-answer', scope, key, request);

const seal = (secret: Buffer, plain: string): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64')))
    .join('.');
};

const open = (secret: Buffer, sealed: string): string => {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined)
    throw new Error('stored idempotent answer has an unknown format');
  const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
};

/**
 * Whose key it is: a token's subject, or (anonymous routes, and requests
 * whose token does not verify, which no authenticated route will serve) the
 * method and path plus the client's address. Two callers never meet on one
 * key, so a stranger cannot replay, block or steer someone else's request.
 */
const scopeOf = async (req: Request, verify: (token: string) => Promise<VerifiedToken>): Promise<string> => {
  const bearer = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
  if (bearer) {
    const subject = await verify(bearer).then(
      (v) => v.userId,
      () => null,
    );
    if (subject) return `sub:${subject}`;
  }
  return `anon:${req.method} ${req.path.toLowerCase()}:${req.ip ?? 'unknown'}`;
};

const problem = (res: Response, status: number, code: string, title: string): void => {
  res
    .status(status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `https://lectern.dev/problems/${code}`,
        title,
        status,
        code,
        instance: res.req.path,
      }),
    );
};

/**
 * `Idempotency-Key` on every write route (ARCHITECTURE rule 9):
 *
 * 1. No key: the request gets a fresh server-made command id and runs.
 * 2. A key is claimed in the caller's scope, bound to the request's
 *    fingerprint, in a store every process shares.
 * 3. Claimed: the request runs with the command id the claim gave (its
 *    events' ids derive from it), and its answer is stored before it is sent,
 *    so a retry that races the answer is replayed, never run again. Answers a
 *    retry may change (5xx, 429) or that identified no caller (401) free the
 *    key instead.
 * 4. The same request finished before: its answer is replayed (status, body,
 *    ETag, consistency token), marked `Idempotent-Replayed: true`, without
 *    deciding again: a guarded attempt (a phone code, a refresh token) was
 *    counted when it first ran, and a replay makes no new attempt.
 * 5. Another request under the key: 422 `idempotency_key_reused`; the same
 *    request still running: 409 `idempotency_key_in_flight`.
 */
export const idempotency = (opts: {
  store: IdempotencyStore;
  verify: (token: string) => Promise<VerifiedToken>;
  clock: Clock;
  onError?: (error: unknown, context: string) => void;
}): RequestHandler => {
  const report = opts.onError ?? (() => {});
  return async (req, res, next) => {
    const key = req.get('idempotency-key');
    if (!WRITES.has(req.method) || key === undefined) return next();
    if (!KEY.test(key))
      return problem(
        res,
        400,
        'invalid_idempotency_key',
        'Idempotency-Key must be 1–128 characters of A–Z, a–z, 0–9, ".", "_", ":" or "-".',
      );
    const scope = await scopeOf(req, opts.verify);
    const request = canonicalRequest(req);
    const fingerprint = sha256('lectern-idempotency-fingerprint', request).toString('hex');
    const secret = answerKey(scope, key, request);
    const claim = await opts.store.claim({ scope, key, fingerprint, now: opts.clock.now() });
    switch (claim.outcome) {
      case 'mismatch':
        return problem(
          res,
          422,
          'idempotency_key_reused',
          'This Idempotency-Key was used for another request; use a new key for a new request.',
        );
      case 'in_flight':
        res.setHeader('Retry-After', '1');
        return problem(
          res,
          409,
          'idempotency_key_in_flight',
          'A request with this Idempotency-Key is still running; retry shortly.',
        );
      case 'replay':
        return replay(res, { ...claim.answer, body: open(secret, claim.answer.body) });
      case 'started':
        break;
    }
    req.ctx = { ...req.ctx, commandId: claim.commandId };
    const release = { scope, key, owner: claim.owner };
    let streamed = false;
    const write = res.write.bind(res);
    res.write = ((...args: Parameters<Response['write']>) => {
      streamed = true;
      return write(...args);
    }) as Response['write'];
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    // 3. The answer is stored first, then sent; end is called once by express.
    res.end = ((...args: unknown[]) => {
      const chunk = typeof args[0] === 'function' ? undefined : args[0];
      const status = res.statusCode;
      // Not kept: 5xx and 429 (a retry may succeed), and 401 (the caller was
      // not identified, so the answer belongs to no one's key; a retry with
      // credentials must run, and one without is simply refused again, or
      // at login counted again: never fewer counts).
      const keep = !streamed && status < 500 && status !== 429 && status !== 401;
      const stored = keep
        ? opts.store.complete({ ...release, answer: answerOf(res, chunk, secret) })
        : opts.store.release(release);
      stored
        .catch((error: unknown) => report(error, 'storing an idempotent answer'))
        .finally(() => end(...args));
      return res;
    }) as Response['end'];
    next();
  };
};

const answerOf = (res: Response, chunk: unknown, secret: Buffer): StoredAnswer => {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = res.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  const body =
    chunk === undefined || chunk === null ? '' : Buffer.from(chunk as string | Uint8Array).toString();
  return { status: res.statusCode, headers, body: seal(secret, body) };
};

const replay = (res: Response, answer: StoredAnswer): void => {
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.setHeader('Idempotent-Replayed', 'true');
  res.status(answer.status);
  // end, not send: send would recompute the type and could add an ETag.
  res.end(answer.body);
};
