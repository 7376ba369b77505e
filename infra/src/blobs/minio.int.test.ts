import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import { Client } from 'minio';
import { requireEngine } from '../testing/engines.ts';
import { blobStoreContract, type Refusal } from './contract.ts';
import { openMinioStore } from './minio-store.ts';

const endpoint = requireEngine(test, 'S3_ENDPOINT', 'blob store on MinIO');

/** The S3 error codes MinIO answers each refusal with. */
const expected: Readonly<Record<Refusal, readonly string[]>> = {
  // The signature covers Content-Length and Content-Type: any other value breaks it.
  too_large: ['SignatureDoesNotMatch'],
  too_small: ['SignatureDoesNotMatch'],
  // A signed header that is not sent at all is "unsigned headers" (AccessDenied).
  wrong_type: ['SignatureDoesNotMatch', 'AccessDenied'],
  expired: ['AccessDenied'],
  tampered: ['SignatureDoesNotMatch'],
  no_upload: ['NoSuchUpload'],
};

if (endpoint) {
  const accessKey = process.env.S3_ACCESS_KEY;
  const secretKeyFile = process.env.S3_SECRET_KEY_FILE;
  if (!accessKey || !secretKeyFile)
    throw new Error(
      'S3_ENDPOINT is set, so S3_ACCESS_KEY and S3_SECRET_KEY_FILE must be too (infra/local/up.sh)',
    );
  const secretKey = readFileSync(secretKeyFile, 'utf8').trim();
  const url = new URL(endpoint);
  const admin = new Client({
    endPoint: url.hostname,
    port: Number(url.port || 80),
    useSSL: url.protocol === 'https:',
    accessKey,
    secretKey,
    region: 'us-east-1',
    pathStyle: true,
  });

  // A bucket per test: tests run concurrently, and the sweeper sweeps a whole bucket.
  blobStoreContract(test, 'minio store', async (clock) => {
    const bucket = `contract-${randomBytes(6).toString('hex')}`;
    const store = await openMinioStore({ endpoint, accessKey, secretKey, bucket, clock });
    return {
      store,
      refusedByStorage(t, { res, body }, reason) {
        // The answer came from MinIO itself, at the address the URL names:
        // our process is not on the path of a presigned request.
        t.is(new URL(res.url).origin, url.origin);
        t.is(res.headers.get('server'), 'MinIO');
        const text = body.toString();
        const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
        t.true(code !== undefined && expected[reason].includes(code), `${reason}: ${text}`);
      },
      async cleanup() {
        await store.close();
        // MinIO's force delete takes the objects and the open uploads with the bucket.
        await admin.makeRequestAsync(
          { method: 'DELETE', bucketName: bucket, headers: { 'x-minio-force-delete': 'true' } },
          '',
          [204],
        );
      },
    };
  });

  test('minio store: opening creates the bucket, and ping checks it', async (t) => {
    const bucket = `contract-${randomBytes(6).toString('hex')}`;
    const store = await openMinioStore({ endpoint, accessKey, secretKey, bucket });
    t.teardown(async () => {
      await store.close();
      await admin.removeBucket(bucket).catch(() => {});
    });
    t.true(await admin.bucketExists(bucket));
    await t.notThrowsAsync(store.ping());
    await admin.removeBucket(bucket);
    await t.throwsAsync(store.ping(), { message: /does not exist/ });
  });

  test('minio store: a wrong secret is refused by MinIO', async (t) => {
    await t.throwsAsync(
      openMinioStore({ endpoint, accessKey, secretKey: `${secretKey}x`, bucket: 'never-made' }),
      { code: 'AccessDenied' },
    );
  });
}
