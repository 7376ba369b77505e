import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStat, MultipartUpload, UploadedPart } from '../ports/blob-store.ts';

/**
 * The folder store's files. Every write goes to `tmp/` first and appears by
 * a rename, so a half-written object or part is never visible:
 *
 *   objects/<h[0..2]>/<h>/meta.json   h = SHA-256 of the key: no key can name a path
 *   objects/<h[0..2]>/<h>/data-<rand> the bytes meta.json points at
 *   uploads/<id>/plan.json            a multipart upload's plan
 *   uploads/<id>/part-<n>-<md5>       its parts (the name carries the ETag)
 *   tmp/                              writes in progress, claimed uploads
 *
 * An object is replaced by writing a new data file and then renaming a new
 * meta.json over the old one, so readers see the old object or the new one.
 */

type Meta = Readonly<{
  key: string;
  size: number;
  contentType: string;
  etag: string;
  lastModified: string;
  data: string;
}>;
type Plan = Readonly<Omit<MultipartUpload, 'startedAt'> & { startedAt: string }>;

export type Received = Readonly<{ path: string; size: number; md5: Buffer }>;
export type ReceiveOutcome = Received | 'too_large' | 'short' | 'aborted';

const PART = /^part-(\d{1,5})-([0-9a-f]{32})$/;
const UPLOAD_ID = /^[0-9a-f]{32}$/;
const rand = () => randomBytes(8).toString('hex');
const isMissing = (e: unknown) => (e as { code?: string } | null)?.code === 'ENOENT';
const orNull = async <T>(p: Promise<T>): Promise<T | null> => {
  try {
    return await p;
  } catch (e) {
    if (isMissing(e)) return null;
    throw e;
  }
};

export type FolderFiles = ReturnType<typeof folderFiles>;

export const folderFiles = (root: string) => {
  const objects = join(root, 'objects');
  const uploads = join(root, 'uploads');
  const tmp = join(root, 'tmp');
  const objectDir = (key: string) => {
    const h = createHash('sha256').update(key).digest('hex');
    return join(objects, h.slice(0, 2), h);
  };
  /** Our own ids only: anything else (`..` included) is an unknown upload, never a path. */
  const uploadDir = (uploadId: string) => (UPLOAD_ID.test(uploadId) ? join(uploads, uploadId) : null);

  const writeJson = async (path: string, value: unknown) => {
    const t = join(tmp, `json-${rand()}`);
    await writeFile(t, JSON.stringify(value), { flag: 'wx' });
    await rename(t, path);
  };

  const readMeta = async (key: string): Promise<Meta | null> => {
    const meta = await orNull(readFile(join(objectDir(key), 'meta.json'), 'utf8'));
    if (meta === null) return null;
    const parsed = JSON.parse(meta) as Meta;
    return parsed.key === key ? parsed : null;
  };

  const statOf = (m: Meta): BlobStat => ({
    key: m.key,
    size: m.size,
    contentType: m.contentType,
    etag: m.etag,
    lastModified: new Date(m.lastModified),
  });

  /** Opens the object's bytes, or null; retried once if a replacement removed them meanwhile. */
  const openObject = async (key: string): Promise<{ stat: BlobStat; path: string } | null> => {
    for (let attempt = 0; ; attempt++) {
      const meta = await readMeta(key);
      if (!meta) return null;
      const path = join(objectDir(key), meta.data);
      if ((await orNull(stat(path))) || attempt > 0) return { stat: statOf(meta), path };
    }
  };

  const listPartsIn = async (dir: string): Promise<UploadedPart[]> => {
    const byNumber = new Map<number, UploadedPart & { mtime: number; file: string }>();
    for (const name of await readdir(dir)) {
      const m = PART.exec(name);
      if (!m) continue;
      const s = await orNull(stat(join(dir, name)));
      if (!s) continue;
      const part = { partNumber: Number(m[1]), size: s.size, etag: m[2]!, mtime: s.mtimeMs, file: name };
      const seen = byNumber.get(part.partNumber);
      if (!seen || seen.mtime <= part.mtime) byNumber.set(part.partNumber, part);
    }
    return [...byNumber.values()]
      .sort((a, b) => a.partNumber - b.partNumber)
      .map(({ partNumber, size, etag }) => ({ partNumber, size, etag }));
  };

  const planFrom = (p: Plan): MultipartUpload => ({ ...p, startedAt: new Date(p.startedAt) });

  return {
    root,
    async init() {
      await Promise.all([objects, uploads, tmp].map((d) => mkdir(d, { recursive: true })));
    },

    readMeta,
    statOf,
    openObject,

    /**
     * Reads exactly `size` bytes of `source` into a temporary file. More
     * bytes stop the reading at once (`too_large`, the source paused and the
     * rest unread), fewer are `short`, and a source that goes away is
     * `aborted`; the temporary file is then gone.
     */
    async receive(source: Readable, size: number): Promise<ReceiveOutcome> {
      const path = join(tmp, `put-${rand()}`);
      const file = createWriteStream(path, { flags: 'wx' });
      const hash = createHash('md5');
      let received = 0;
      const outcome = await new Promise<'ok' | 'too_large' | 'short' | 'aborted' | Error>((resolve) => {
        let done = false;
        const finish = (o: 'ok' | 'too_large' | 'short' | 'aborted' | Error) => {
          if (done) return;
          done = true;
          source.off('data', onData);
          source.off('end', onEnd);
          source.off('close', onClose);
          resolve(o);
        };
        const onData = (chunk: Buffer) => {
          received += chunk.length;
          if (received > size) {
            source.pause();
            return finish('too_large');
          }
          hash.update(chunk);
          if (!file.write(chunk)) {
            source.pause();
            file.once('drain', () => {
              if (!done) source.resume();
            });
          }
        };
        const onEnd = () => finish(received < size ? 'short' : 'ok');
        // 'close' before 'end': the client went away mid-body.
        const onClose = () => finish('aborted');
        file.once('error', (e) => {
          source.pause();
          finish(e);
        });
        source.on('data', onData);
        source.once('end', onEnd);
        source.once('close', onClose);
      });
      if (outcome === 'ok') {
        file.end();
        await once(file, 'close');
        return { path, size, md5: hash.digest() };
      }
      file.destroy();
      await once(file, 'close').catch(() => {});
      await rm(path, { force: true });
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },

    /** Makes a received file the object `key`; returns its stat. */
    async commitObject(key: string, received: Received, contentType: string, etag: string, now: Date) {
      const dir = objectDir(key);
      await mkdir(dir, { recursive: true });
      const previous = await readMeta(key);
      const data = `data-${rand()}`;
      await rename(received.path, join(dir, data));
      const meta: Meta = {
        key,
        size: received.size,
        contentType,
        etag,
        lastModified: now.toISOString(),
        data,
      };
      await writeJson(join(dir, 'meta.json'), meta);
      if (previous && previous.data !== data) await rm(join(dir, previous.data), { force: true });
      return statOf(meta);
    },

    async deleteObject(key: string) {
      const meta = await readMeta(key);
      if (!meta) return;
      await rm(join(objectDir(key), 'meta.json'), { force: true });
      await rm(join(objectDir(key), meta.data), { force: true });
    },

    async readHead(path: string, bytes: number): Promise<Uint8Array> {
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.alloc(bytes);
        const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },

    newUploadId: () => randomBytes(16).toString('hex'),

    /** Creates the upload's folder with its plan in one rename. */
    async createUpload(upload: MultipartUpload) {
      const staging = join(tmp, `upload-${upload.uploadId}`);
      await mkdir(staging);
      await writeFile(
        join(staging, 'plan.json'),
        JSON.stringify({ ...upload, startedAt: upload.startedAt.toISOString() }),
      );
      await rename(staging, join(uploads, upload.uploadId));
    },

    async readPlan(uploadId: string): Promise<MultipartUpload | null> {
      const dir = uploadDir(uploadId);
      const plan = dir === null ? null : await orNull(readFile(join(dir, 'plan.json'), 'utf8'));
      return plan ? planFrom(JSON.parse(plan) as Plan) : null;
    },

    async listParts(uploadId: string): Promise<UploadedPart[] | null> {
      const dir = uploadDir(uploadId);
      return dir === null ? null : orNull(listPartsIn(dir));
    },

    /** Makes a received file part `n`, replacing an earlier one; false if the upload is gone. */
    async commitPart(uploadId: string, partNumber: number, received: Received): Promise<boolean> {
      const dir = uploadDir(uploadId);
      const name = `part-${partNumber}-${received.md5.toString('hex')}`;
      try {
        if (!dir) throw Object.assign(new Error('no upload'), { code: 'ENOENT' });
        await rename(received.path, join(dir, name));
      } catch (e) {
        await rm(received.path, { force: true });
        if (isMissing(e)) return false;
        throw e;
      }
      for (const other of (await orNull(readdir(dir))) ?? [])
        if (other !== name && other.startsWith(`part-${partNumber}-`))
          await rm(join(dir, other), { force: true });
      return true;
    },

    /**
     * Takes the upload out of `uploads/` (so no second completion or abort
     * can act on it) and gives its folder in `tmp/`; null if it is gone.
     */
    async claimUpload(uploadId: string): Promise<string | null> {
      const dir = uploadDir(uploadId);
      if (!dir) return null;
      const claimed = join(tmp, `claimed-${uploadId}-${rand()}`);
      try {
        await rename(dir, claimed);
      } catch (e) {
        if (isMissing(e)) return null;
        throw e;
      }
      // The sweeper judges tmp/ by age: a claim is fresh.
      const now = new Date();
      await utimes(claimed, now, now);
      return claimed;
    },

    async unclaimUpload(claimed: string, uploadId: string) {
      await rename(claimed, join(uploads, uploadId));
    },

    listPartsIn,

    /** Joins the parts of a claimed upload, in order, into one received file. */
    async joinParts(claimed: string, parts: readonly UploadedPart[]): Promise<Received> {
      const path = join(tmp, `join-${rand()}`);
      const out = createWriteStream(path, { flags: 'wx' });
      let size = 0;
      try {
        for (const p of parts) {
          await pipeline(createReadStream(join(claimed, `part-${p.partNumber}-${p.etag}`)), out, {
            end: false,
          });
          size += p.size;
        }
        out.end();
        await once(out, 'close');
      } catch (e) {
        out.destroy();
        await rm(path, { force: true });
        throw e;
      }
      return { path, size, md5: Buffer.alloc(0) };
    },

    removeDir: (dir: string) => rm(dir, { recursive: true, force: true }),

    async uploadIds(): Promise<string[]> {
      return (await readdir(uploads)).filter((n) => UPLOAD_ID.test(n));
    },

    /** Entries of `tmp/` last changed before `cutoff`: writes a crash or a lost client left. */
    async staleTemporaries(cutoff: number): Promise<string[]> {
      const stale: string[] = [];
      for (const name of await readdir(tmp)) {
        const s = await orNull(stat(join(tmp, name)));
        if (s && s.mtimeMs < cutoff) stale.push(join(tmp, name));
      }
      return stale;
    },
  };
};
