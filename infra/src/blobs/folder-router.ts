import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import express, { type Request, type Response, type Router } from 'express';
import { sendProblem } from '../http/app.ts';
import { checkBlobKey, partSizeOf } from '../ports/blob-store.ts';
import type { Clock } from '../runtime/ids.ts';
import type { FolderFiles } from './folder-files.ts';

/** What a URL is signed for. Every field is in the URL; the signature makes them unchangeable. */
export type Signed = Readonly<{
  method: 'PUT' | 'GET';
  key: string;
  /** Epoch milliseconds after which the URL is refused. */
  expires: number;
  contentType?: string;
  size?: number;
  uploadId?: string;
  partNumber?: number;
}>;

/**
 * Signs and checks the folder store's URLs: HMAC-SHA256 over the method, the
 * key, the limits and the expiry, compared in constant time.
 */
export const urlSigner = (signingKey: Uint8Array | string, baseUrl: string) => {
  const keyBytes = typeof signingKey === 'string' ? Buffer.from(signingKey) : Buffer.from(signingKey);
  if (keyBytes.length < 32) throw new Error('the folder store’s signing key must be at least 32 bytes');
  const base = new URL(baseUrl);
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`baseUrl is not http(s): ${baseUrl}`);
  const prefix = base.toString().replace(/\/+$/, '');

  const mac = (s: Signed) =>
    createHmac('sha256', keyBytes)
      .update(
        [
          'lectern-blob-v1',
          s.method,
          s.key,
          s.uploadId ?? '',
          s.partNumber ?? '',
          s.contentType ?? '',
          s.size ?? '',
          s.expires,
        ].join('\n'),
      )
      .digest();

  return {
    url(s: Signed): string {
      const q = new URLSearchParams({ expires: String(s.expires) });
      if (s.contentType !== undefined) q.set('type', s.contentType);
      if (s.size !== undefined) q.set('size', String(s.size));
      if (s.uploadId !== undefined) q.set('uploadId', s.uploadId);
      if (s.partNumber !== undefined) q.set('partNumber', String(s.partNumber));
      q.set('signature', mac(s).toString('base64url'));
      return `${prefix}/o/${s.key}?${q.toString()}`;
    },
    verify(s: Signed, signature: string): boolean {
      const expected = mac(s);
      const given = Buffer.from(signature, 'base64url');
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
};

export type UrlSigner = ReturnType<typeof urlSigner>;

/** Bytes a refused upload may still send before its connection is cut: enough to let the client read our answer. */
const LINGER_BYTES = 1024 * 1024;

const single = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const integer = (v: string | undefined): number | undefined =>
  v !== undefined && /^\d{1,16}$/.test(v) ? Number(v) : undefined;

/**
 * The folder store's HTTP side, for presigned URLs: `PUT /o/<key>` (a whole
 * object, or a part with `uploadId` and `partNumber`) and `GET /o/<key>`.
 * Mount it where `baseUrl` points, before any body parser: it reads the raw
 * request body itself.
 */
export const folderRouter = (files: FolderFiles, signer: UrlSigner, clock: Clock): Router => {
  const router = express.Router();

  const problem = (req: Request, res: Response, status: number, code: string, title: string) =>
    sendProblem(res, status, code, title, req.baseUrl + req.path);

  /** Answers a refused upload, then lets at most LINGER_BYTES more arrive so the client can read it. */
  const refuseUpload = (req: Request, res: Response, status: number, code: string, title: string) => {
    let drained = 0;
    res.once('finish', () => {
      req.on('data', (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > LINGER_BYTES) req.socket.destroy();
      });
    });
    problem(req, res, status, code, title);
  };

  /** The key and the signed fields of a request, or an answer already sent. */
  const authorize = (req: Request, res: Response, method: 'PUT' | 'GET'): Signed | null => {
    const segments = (req.params as { key?: string[] }).key ?? [];
    const key = segments.join('/');
    try {
      checkBlobKey(key);
    } catch {
      problem(req, res, 400, 'invalid_blob_key', 'The URL names no valid key.');
      return null;
    }
    const q = req.query as Record<string, unknown>;
    const signed: Signed = {
      method,
      key,
      expires: integer(single(q.expires)) ?? -1,
      ...(single(q.type) !== undefined ? { contentType: single(q.type) } : {}),
      ...(integer(single(q.size)) !== undefined ? { size: integer(single(q.size)) } : {}),
      ...(single(q.uploadId) !== undefined ? { uploadId: single(q.uploadId) } : {}),
      ...(integer(single(q.partNumber)) !== undefined ? { partNumber: integer(single(q.partNumber)) } : {}),
    };
    const signature = single(q.signature);
    if (!signature || !signer.verify(signed, signature)) {
      problem(req, res, 403, 'signature_invalid', 'The URL’s signature does not match it.');
      return null;
    }
    if (clock.now().getTime() > signed.expires) {
      problem(req, res, 403, 'signature_expired', 'The URL has expired.');
      return null;
    }
    return signed;
  };

  router.put('/o/*key', async (req, res, next) => {
    try {
      const signed = authorize(req, res, 'PUT');
      if (!signed) return;
      const size = signed.size;
      if (size === undefined) return problem(req, res, 403, 'signature_invalid', 'The URL allows no upload.');
      // express.json or another parser got here first: the bytes are gone.
      if (req.readableEnded || req.body !== undefined)
        throw new Error('the folder store’s router must be mounted before any body parser');
      const part = signed.uploadId !== undefined && signed.partNumber !== undefined;
      if (!part && req.get('content-type') !== signed.contentType)
        return refuseUpload(
          req,
          res,
          415,
          'unsupported_media_type',
          `Send the body as ${signed.contentType}.`,
        );
      const declared = req.get('content-length');
      if (declared !== undefined && Number(declared) > size)
        return refuseUpload(req, res, 413, 'payload_too_large', `The body may be ${size} bytes, no more.`);
      if (declared !== undefined && Number(declared) < size)
        return refuseUpload(req, res, 400, 'upload_size_mismatch', `The body must be ${size} bytes.`);
      const plan = part ? await files.readPlan(signed.uploadId!) : null;
      if (part && (!plan || plan.key !== signed.key || partSizeOf(plan, signed.partNumber!) !== size))
        return refuseUpload(req, res, 404, 'upload_not_found', 'There is no such upload.');

      const received = await files.receive(req, size);
      if (received === 'aborted') return;
      if (received === 'too_large')
        return refuseUpload(req, res, 413, 'payload_too_large', `The body may be ${size} bytes, no more.`);
      if (received === 'short')
        return problem(req, res, 400, 'upload_size_mismatch', `The body must be ${size} bytes.`);
      const etag = received.md5.toString('hex');
      if (part) {
        if (!(await files.commitPart(signed.uploadId!, signed.partNumber!, received)))
          return problem(req, res, 404, 'upload_not_found', 'There is no such upload.');
      } else {
        await files.commitObject(signed.key, received, signed.contentType!, etag, clock.now());
      }
      res.setHeader('ETag', `"${etag}"`);
      res.status(200).end();
    } catch (e) {
      next(e);
    }
  });

  router.get('/o/*key', async (req, res, next) => {
    try {
      const signed = authorize(req, res, 'GET');
      if (!signed) return;
      const object = await files.openObject(signed.key);
      if (!object) return problem(req, res, 404, 'blob_not_found', 'There is no such object.');
      const { stat, path } = object;
      res.setHeader('Content-Type', stat.contentType);
      res.setHeader('Content-Length', String(stat.size));
      res.setHeader('ETag', `"${stat.etag}"`);
      res.setHeader('Last-Modified', stat.lastModified.toUTCString());
      res.setHeader('Cache-Control', 'private, no-cache');
      // Uploaded bytes are not ours: never sniffed, never run as a page of this origin.
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
      if (req.method === 'HEAD') return void res.end();
      await pipeline(createReadStream(path), res);
    } catch (e) {
      if (res.headersSent) res.destroy();
      else next(e);
    }
  });

  return router;
};

/** MD5 of the parts' MD5s and `-<count>`, as S3 names a multipart object. */
export const multipartEtag = (partEtags: readonly string[]): string =>
  `${createHash('md5')
    .update(Buffer.concat(partEtags.map((e) => Buffer.from(e, 'hex'))))
    .digest('hex')}-${partEtags.length}`;
