import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { MediaAssetTranscoded } from '@lectern/schemas/content/index';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { jsonClient } from './http-client.ts';

type Call = ReturnType<typeof jsonClient>;
export type AssetView = Record<string, any>;

/** How long a test waits for the transcoding worker: it acts after the answer, and ffmpeg is slow on a busy machine. */
const PATIENCE_MS = 5 * 60_000;

/**
 * Media assets as tests drive them over HTTP: a file uploaded with one
 * presigned PUT straight to the storage, and the asset read back once a
 * condition holds (bounded).
 */
export const mediaAssets = (call: Call) => ({
  /** The asset as its author reads it, once `done` holds. */
  async when(
    as: string,
    courseId: string,
    assetId: string,
    done: (a: AssetView) => boolean,
  ): Promise<AssetView> {
    for (const deadline = Date.now() + PATIENCE_MS; ;) {
      const r = await call('GET', `/api/courses/${courseId}/media-assets/${assetId}`, { token: as });
      if (r.status !== 200) throw new Error(`GET media asset: ${r.status} ${JSON.stringify(r.body)}`);
      if (done(r.body!)) return r.body!;
      if (Date.now() > deadline) throw new Error(`the asset is still ${JSON.stringify(r.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  },

  /** Registers a video of the course, uploads `file` with one PUT, and finalizes it; the answer of the finalize. */
  async uploadVideo(
    as: string,
    courseId: string,
    file: Buffer,
  ): Promise<{ assetId: string; status: string }> {
    const asset = await call('POST', `/api/courses/${courseId}/media-assets`, {
      token: as,
      body: { kind: 'video', title: 'Lecture' },
    });
    if (asset.status !== 201) throw new Error(`register: ${asset.status} ${JSON.stringify(asset.body)}`);
    const assetId = asset.body!.assetId as string;
    const upload = `/api/courses/${courseId}/media-assets/${assetId}/upload`;
    const presign = await call('POST', `${upload}/presign`, {
      token: as,
      body: { contentType: 'video/mp4', size: file.length, fileName: 'lecture.mp4' },
    });
    if (presign.status !== 200) throw new Error(`presign: ${presign.status} ${JSON.stringify(presign.body)}`);
    const [part] = presign.body!.upload.parts as {
      method: string;
      url: string;
      headers: Record<string, string>;
    }[];
    const put = await fetch(part!.url, { method: part!.method, headers: part!.headers, body: file });
    if (!put.ok) throw new Error(`PUT: ${put.status} ${await put.text()}`);
    const done = await call('POST', upload, { token: as });
    if (done.status !== 200) throw new Error(`finalize: ${done.status} ${JSON.stringify(done.body)}`);
    return { assetId, status: done.body!.status as string };
  },
});

/**
 * Every file of a stored ladder, fetched with presigned GETs as a player
 * would, into a folder mirroring the asset's hls folder (a kept rendition
 * lives under an earlier job's prefix); the local master playlist's path,
 * for `readLadder` to read back with ffprobe.
 *
 * @example const variants = await readLadder(await fetchLadder(blobs, transcoded, dir));
 */
export const fetchLadder = async (
  blobs: BlobStore,
  ladder: MediaAssetTranscoded,
  into: string,
): Promise<string> => {
  const root = posix.dirname(ladder.prefix);
  const fetchTo = async (key: string): Promise<string> => {
    const url = await blobs.presignDownload(key);
    const res = await fetch(url.url, { headers: url.headers });
    if (!res.ok) throw new Error(`GET ${key}: ${res.status}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const path = join(into, posix.relative(root, key));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
    return bytes.toString('utf8');
  };
  await fetchTo(ladder.master);
  for (const r of ladder.renditions) {
    const key = posix.normalize(`${ladder.prefix}/${r.playlist}`);
    for (const line of (await fetchTo(key)).split('\n'))
      if (line && !line.startsWith('#')) await fetchTo(posix.join(posix.dirname(key), line));
  }
  return join(into, posix.relative(root, ladder.master));
};

/** The ladder's rungs as [name, width, height], lowest first as the asset lists them. */
export const rungsOf = (asset: AssetView) =>
  (asset.ladder.renditions as { name: string; width: number; height: number }[]).map((r) => [
    r.name,
    r.width,
    r.height,
  ]);
