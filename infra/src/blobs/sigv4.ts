import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 for presigned URLs (query-string authentication),
 * as S3 and MinIO verify it. The `minio` client presigns too, but it never
 * signs `Content-Type` or `Content-Length`, and signing them is what makes
 * the storage refuse a body of another type or size; so we sign here.
 *
 * Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
export type PresignInput = Readonly<{
  method: string;
  /** Scheme, host and port the client will use (no path): the Host header is signed. */
  endpoint: URL;
  /** Path-style: `/<bucket>/<key>`, not yet encoded. */
  path: string;
  query?: Readonly<Record<string, string>>;
  /** Headers the client must send with exactly these values; `host` is always signed. */
  headers?: Readonly<Record<string, string>>;
  accessKey: string;
  secretKey: string;
  region: string;
  date: Date;
  expiresInSeconds: number;
}>;

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ is %XX. */
const encode = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string): Buffer =>
  createHmac('sha256', key).update(s, 'utf8').digest();

/** `20130524T000000Z` */
const amzDate = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** The full presigned URL. */
export const presignV4 = (input: PresignInput): string => {
  const date = amzDate(input.date);
  const day = date.slice(0, 8);
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const headers: Record<string, string> = { host: input.endpoint.host };
  for (const [name, value] of Object.entries(input.headers ?? {}))
    headers[name.toLowerCase()] = value.trim().replace(/\s+/g, ' ');
  const names = Object.keys(headers).sort();
  const signedHeaders = names.join(';');

  const query: Record<string, string> = {
    ...input.query,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${input.accessKey}/${scope}`,
    'X-Amz-Date': date,
    'X-Amz-Expires': String(input.expiresInSeconds),
    'X-Amz-SignedHeaders': signedHeaders,
  };
  const canonicalQuery = Object.keys(query)
    .sort()
    .map((k) => `${encode(k)}=${encode(query[k]!)}`)
    .join('&');
  const canonicalPath = input.path.split('/').map(encode).join('/');
  const canonicalRequest = [
    input.method,
    canonicalPath,
    canonicalQuery,
    names.map((n) => `${n}:${headers[n]!}\n`).join(''),
    signedHeaders,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${input.secretKey}`, day), input.region), 's3'),
    'aws4_request',
  );
  const signature = hmac(signingKey, stringToSign).toString('hex');
  return `${input.endpoint.origin}${canonicalPath}?${canonicalQuery}&X-Amz-Signature=${signature}`;
};
