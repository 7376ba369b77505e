import test from 'ava';
import { presignSignatureV4 } from 'minio/dist/esm/signing.mjs';
import { presignV4 } from './sigv4.ts';

const credentials = {
  accessKey: 'AKIAIOSFODNN7EXAMPLE',
  secretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
};

test('signs the example of the SigV4 query-string documentation', (t) => {
  // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
  // (virtual-hosted style: the bucket is in the host, so the path is the key).
  const url = presignV4({
    ...credentials,
    method: 'GET',
    endpoint: new URL('https://examplebucket.s3.amazonaws.com'),
    path: '/test.txt',
    date: new Date('2013-05-24T00:00:00Z'),
    expiresInSeconds: 86400,
  });
  t.is(
    new URL(url).searchParams.get('X-Amz-Signature'),
    'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
  );
});

test('agrees with the minio client where both can sign (host only)', (t) => {
  const date = new Date('2026-02-20T10:11:12.345Z');
  const ours = presignV4({
    ...credentials,
    method: 'PUT',
    endpoint: new URL('http://127.0.0.1:19900'),
    path: '/bucket/media/a_b-1.2/original',
    query: { partNumber: '3', uploadId: 'abc-DEF_123' },
    date,
    expiresInSeconds: 900,
  });
  const theirs = presignSignatureV4(
    {
      method: 'PUT',
      protocol: 'http:',
      path: '/bucket/media/a_b-1.2/original?partNumber=3&uploadId=abc-DEF_123',
      headers: { host: '127.0.0.1:19900' },
    },
    credentials.accessKey,
    credentials.secretKey,
    undefined,
    credentials.region,
    date,
    900,
  );
  const signature = (u: string) => new URL(u).searchParams.get('X-Amz-Signature');
  t.truthy(signature(ours));
  t.is(signature(ours), signature(theirs));
});

test('signing Content-Type and Content-Length names them and changes the signature', (t) => {
  const base = {
    ...credentials,
    method: 'PUT',
    endpoint: new URL('http://127.0.0.1:19900'),
    path: '/bucket/k',
    date: new Date('2026-02-20T10:11:12Z'),
    expiresInSeconds: 60,
  };
  const plain = new URL(presignV4(base));
  const typed = new URL(
    presignV4({ ...base, headers: { 'Content-Type': 'image/png', 'Content-Length': '10' } }),
  );
  const longer = new URL(
    presignV4({ ...base, headers: { 'Content-Type': 'image/png', 'Content-Length': '11' } }),
  );
  t.is(typed.searchParams.get('X-Amz-SignedHeaders'), 'content-length;content-type;host');
  t.not(typed.searchParams.get('X-Amz-Signature'), plain.searchParams.get('X-Amz-Signature'));
  t.not(typed.searchParams.get('X-Amz-Signature'), longer.searchParams.get('X-Amz-Signature'));
});
