import { posix } from 'node:path';
import type * as schema from '@lectern/schemas/content/index';
import type { MessageKeys } from '@lectern/infra/auth/message-secrets';
import { openSignedToken, signedToken } from '@lectern/infra/auth/signed-token';

/*
 * Playing a ladder from a private bucket. The stored playlists name their
 * files relatively (a rendition kept from an earlier job as
 * `../<job>/1080p/index.m3u8`), and the bucket answers nothing unsigned, so
 * a player cannot be handed the master playlist's presigned URL alone: every
 * file it then asks for would need a signature of its own.
 *
 * A player is handed `/api/playback/<token>/master.m3u8` instead. The token
 * names the asset, the ladder (its job) and when it stops working, signed
 * with the message keys, so it is a capability that needs no sign-in (a
 * player sends no Authorization header) and cannot be made for another
 * asset or stretched. Under it the server answers the master playlist with
 * each variant renamed `<rendition>/index.m3u8`, each rendition's playlist
 * as stored (its segments are plain names, so they resolve under the same
 * path), and each segment with a redirect to a presigned GET of a minute or
 * two: the bytes come from the storage, never through this process.
 *
 * A token pins the ladder it was issued for, so a player mid-stream goes on
 * when a new ladder is switched in (earlier ladders are kept).
 */

/** How long a playback URL works: a long lecture and then some; the page asks for a new one after. */
export const PLAYBACK_SECONDS = 4 * 3600;

export type PlaybackClaim = Readonly<{ assetId: string; jobId: string; expiresAt: Date }>;

/**
 * The token for one ladder of one asset until `expiresAt` (whole seconds).
 *
 * @example playbackToken(keys, { assetId, jobId, expiresAt: new Date(Date.now() + PLAYBACK_SECONDS * 1000) })
 */
export const playbackToken = (keys: MessageKeys, claim: PlaybackClaim): string =>
  signedToken(keys, 'playback', [
    claim.assetId,
    claim.jobId,
    String(Math.floor(claim.expiresAt.getTime() / 1000)),
  ]);

const EPOCH_SECONDS = /^[1-9][0-9]{0,11}$/;

/**
 * What a token of ours names, `expired` when its time has passed (checked
 * after the signature, so a forged expiry is never reported as one), or
 * null for anything that is not a token of ours.
 */
export const openPlaybackToken = (
  keys: MessageKeys,
  token: string,
  now: Date,
): PlaybackClaim | 'expired' | null => {
  const parts = openSignedToken(keys, 'playback', token, 3);
  if (!parts || !EPOCH_SECONDS.test(parts[2]!)) return null;
  const expiresAt = new Date(Number(parts[2]) * 1000);
  if (expiresAt.getTime() <= now.getTime()) return 'expired';
  return { assetId: parts[0]!, jobId: parts[1]!, expiresAt };
};

/** A ladder's renditions as answers show them: where each is stored is not a client's business. */
export const renditionsView = (renditions: readonly schema.Rendition[]) =>
  renditions.map(({ name, width, height, bandwidth }) => ({ name, width, height, bandwidth }));

/** The name a player asks a rendition's playlist by, under the token's path. */
export const renditionPath = (name: string): string => `${name}/index.m3u8`;

/** The URI lines of a playlist (what is not a tag, a comment or blank), in order. */
const uriLines = (text: string): string[] =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * The master playlist a player gets: the stored one with each variant's
 * URI replaced by `<rendition>/index.m3u8`. Throws when it names a
 * playlist the ladder does not hold (the stored files and the event
 * disagree: nothing to hand a player).
 */
export const playerMaster = (stored: string, renditions: readonly schema.Rendition[]): string => {
  const byPlaylist = new Map(renditions.map((r) => [r.playlist, r.name]));
  const lines = stored.split(/\r?\n/);
  let variants = 0;
  const out = lines.map((line) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return line;
    const name = byPlaylist.get(trimmed);
    if (name === undefined)
      throw new Error(`the master playlist names ${trimmed}, which the ladder does not hold`);
    variants++;
    return renditionPath(name);
  });
  if (variants !== renditions.length)
    throw new Error(`the master playlist lists ${variants} variants; the ladder has ${renditions.length}`);
  return out.join('\n');
};

/** A segment as the worker names them (`seg_00001.ts`): a plain name in the rendition's folder. */
const SEGMENT = /^[A-Za-z0-9_-]{1,100}\.(ts|m4s|mp4|aac)$/;

/**
 * The segment names a rendition's playlist lists. Throws when one is not a
 * plain file name: the playlist would send a player elsewhere.
 */
export const segmentsOf = (playlist: string): readonly string[] => {
  const names = uriLines(playlist);
  for (const name of names)
    if (!SEGMENT.test(name))
      throw new Error(`the playlist names ${JSON.stringify(name)}, not a segment file`);
  return names;
};

/**
 * Where a rendition's playlist is stored: under the job's prefix, or under
 * an earlier job's when it was kept, but always in the asset's own `hls`
 * folder.
 */
export const renditionKey = (ladder: Readonly<{ prefix: string }>, rendition: schema.Rendition): string => {
  const key = posix.normalize(`${ladder.prefix}/${rendition.playlist}`);
  const hls = `${posix.dirname(ladder.prefix)}/`;
  if (!key.startsWith(hls) || key.includes('/../'))
    throw new Error(`rendition ${rendition.name} is stored outside ${hls}`);
  return key;
};
