import { SNIFF_BYTES, sniffFileType, type SniffedType } from '@lectern/schemas';
import { BlobError, type BlobStat, type BlobStore } from '../ports/blob-store.ts';

/** What an upload left in the storage, as a finalize checks it. */
export type SniffedObject = Readonly<{
  size: number;
  /** The type it was uploaded as (the presigned PUT held the upload to it). */
  contentType: string;
  /** What its first bytes are (`sniffFileType`), whatever it was uploaded as; null when none we know. */
  sniffed: SniffedType | null;
}>;

/** The object's stat, or null when there is none. */
export const statOrNull = async (blobs: BlobStore, key: string): Promise<BlobStat | null> => {
  try {
    return await blobs.stat(key);
  } catch (error) {
    if (error instanceof BlobError && error.code === 'blob_not_found') return null;
    throw error;
  }
};

/**
 * What the storage holds under `key`, with its first bytes sniffed; null
 * when nothing is there. Every finalize of an upload (avatars, course media,
 * chat attachments) checks the size and the type with it.
 *
 * @example
 *   const stored = await sniffedObject(blobs, key);
 *   if (!stored || stored.sniffed !== declared) await blobs.delete(key);
 */
export const sniffedObject = async (blobs: BlobStore, key: string): Promise<SniffedObject | null> => {
  const there = await statOrNull(blobs, key);
  if (!there) return null;
  return {
    size: there.size,
    contentType: there.contentType,
    sniffed: sniffFileType(await blobs.readHead(key, SNIFF_BYTES)),
  };
};
