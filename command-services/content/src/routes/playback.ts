import { posix } from 'node:path';
import { Router, type Request, type Response } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { optionalAuth } from '@lectern/infra/http/auth';
import { Problem } from '@lectern/infra/runtime/errors';
import { assetIdsOf } from '../domain/course.ts';
import {
  PLAYBACK_SECONDS,
  openPlaybackToken,
  playbackToken,
  playerMaster,
  renditionKey,
  renditionsView,
  segmentsOf,
  type PlaybackClaim,
} from '../playback.ts';
import { idParam, readAsset, readCourse, type ContentCommandDeps } from './shared.ts';

/** A segment's presigned GET: long enough for a slow connection to start it, short enough to be of no use shared. */
const SEGMENT_URL_SECONDS = 120;
/** A media playlist of a ten-hour video at 4 s segments is about 300 KB. */
const PLAYLIST_MAX_BYTES = 4 * 1024 * 1024;
/** Ladders and playlists never change once recorded: kept per process, the oldest dropped past this many. */
const CACHE_ENTRIES = 500;
const HLS = 'application/vnd.apple.mpegurl';

type Ladder = Readonly<{
  courseId: string;
  prefix: string;
  master: string;
  renditions: readonly schema.Rendition[];
}>;

/** A map that forgets its oldest entry past `max`: for immutable things only. */
const boundedCache = <V>(max: number) => {
  const entries = new Map<string, Promise<V>>();
  return (key: string, load: () => Promise<V>): Promise<V> => {
    const hit = entries.get(key);
    if (hit) return hit;
    const loading = load();
    entries.set(key, loading);
    // A failure is not kept: the next request tries again.
    loading.catch(() => entries.delete(key));
    if (entries.size > max) entries.delete(entries.keys().next().value!);
    return loading;
  };
};

/**
 * Playback of a video's ladder (see `../playback.ts`): who may watch gets a
 * URL (`GET …/media-assets/:assetId/playback`), and under it the player
 * reads the playlists through this process and the segments straight from
 * the storage.
 */
export const playbackRoutes = (deps: ContentCommandDeps): Router => {
  const router = Router();
  const ladders = boundedCache<Ladder>(CACHE_ENTRIES);
  const masters = boundedCache<string>(CACHE_ENTRIES);
  const media = boundedCache<Readonly<{ text: string; segments: ReadonlySet<string> }>>(CACHE_ENTRIES);

  router.get(
    '/api/courses/:courseId/media-assets/:assetId/playback',
    optionalAuth(deps.verify),
    async (req, res) => {
      const courseId = idParam(req, 'courseId');
      const assetId = idParam(req, 'assetId');
      const course = await readCourse(deps.store, courseId);
      const actor = req.ctx.actor;
      const live = course.status !== 'none' && course.status !== 'removed' ? course : null;
      const mine = live !== null && actor?.userId != null && live.authorId === actor.userId;
      const admin = actor?.roles.includes('admin') ?? false;
      // Who can see the course in the catalogue sees its videos: anyone once it is published, its author and admins before.
      if (!live || (live.status !== 'published' && !mine && !admin))
        throw new Problem('not_found', 'course_not_found', 'No such course.');
      const asset = await readAsset(deps.store, assetId);
      const listed = live.status === 'published' && assetIdsOf(live).includes(assetId);
      if (asset.status === 'none' || asset.courseId !== courseId || (!listed && !mine && !admin))
        throw new Problem('not_found', 'media_asset_not_found', 'No such media asset of this course.');
      const ladder = 'ladder' in asset ? asset.ladder : null;
      if (!ladder)
        throw new Problem('conflict', 'media_not_playable', 'The asset has no ladder to play yet.', {
          extra: { status: asset.status, kind: asset.kind },
        });
      const expiresAt = new Date(deps.clock.now().getTime() + PLAYBACK_SECONDS * 1000);
      const token = playbackToken(deps.messageKeys, { assetId, jobId: ladder.jobId, expiresAt });
      res.setHeader('Cache-Control', 'private, no-store');
      res.json({
        assetId,
        courseId,
        jobId: ladder.jobId,
        url: `/api/playback/${token}/master.m3u8`,
        expiresAt: new Date(Math.floor(expiresAt.getTime() / 1000) * 1000).toISOString(),
        durationSeconds: ladder.durationSeconds,
        renditions: renditionsView(ladder.renditions),
      });
    },
  );

  const claimOf = (req: Request): PlaybackClaim => {
    const claim = openPlaybackToken(deps.messageKeys, String(req.params.token), deps.clock.now());
    if (claim === 'expired')
      throw new Problem('forbidden', 'playback_expired', 'This playback URL has expired; ask for a new one.');
    if (!claim) throw new Problem('not_found', 'playback_not_found', 'No such playback.');
    return claim;
  };

  /** The ladder a token names: recorded by its job on its asset (an earlier ladder stays playable). */
  const ladderOf = (claim: PlaybackClaim): Promise<Ladder> =>
    ladders(claim.jobId, async () => {
      const history = await deps.store.readStream(schema.mediaAssetStreamId(claim.assetId));
      const done = history.find(
        (e) =>
          e.type === 'content.MediaAssetTranscoded' &&
          (e.data as schema.MediaAssetTranscoded).jobId === claim.jobId,
      );
      if (!done) throw new Problem('not_found', 'playback_not_found', 'No such playback.');
      const { courseId, prefix, master, renditions } = done.data as schema.MediaAssetTranscoded;
      return { courseId, prefix, master, renditions };
    });

  const read = async (key: string) =>
    Buffer.from(await deps.blobs.read(key, PLAYLIST_MAX_BYTES)).toString('utf8');
  /** A rendition's playlist and its segments (only plain segment names go to a player). */
  const playlist = (key: string) =>
    media(key, async () => {
      const text = await read(key);
      return { text, segments: new Set(segmentsOf(text)) };
    });

  const renditionOf = (ladder: Ladder, req: Request) => {
    const rendition = ladder.renditions.find((r) => r.name === req.params.rendition);
    if (!rendition)
      throw new Problem('not_found', 'rendition_not_found', 'The ladder has no such rendition.');
    return renditionKey(ladder, rendition);
  };

  const sendPlaylist = (res: Response, text: string, claim: PlaybackClaim) => {
    // A player may keep it for as long as the token lasts; no shared cache may.
    const seconds = Math.max(0, Math.floor((claim.expiresAt.getTime() - deps.clock.now().getTime()) / 1000));
    res.setHeader('Cache-Control', `private, max-age=${seconds}`);
    res.type(HLS).send(text);
  };

  router.get('/api/playback/:token/master.m3u8', async (req, res) => {
    const claim = claimOf(req);
    const ladder = await ladderOf(claim);
    const text = await masters(ladder.master, async () =>
      playerMaster(await read(ladder.master), ladder.renditions),
    );
    sendPlaylist(res, text, claim);
  });

  router.get('/api/playback/:token/:rendition/index.m3u8', async (req, res) => {
    const claim = claimOf(req);
    const key = renditionOf(await ladderOf(claim), req);
    sendPlaylist(res, (await playlist(key)).text, claim);
  });

  router.get('/api/playback/:token/:rendition/:segment', async (req, res) => {
    const claim = claimOf(req);
    const key = renditionOf(await ladderOf(claim), req);
    const segment = String(req.params.segment);
    if (!(await playlist(key)).segments.has(segment))
      throw new Problem('not_found', 'segment_not_found', 'The rendition has no such segment.');
    const get = await deps.blobs.presignDownload(posix.join(posix.dirname(key), segment), {
      expiresInSeconds: SEGMENT_URL_SECONDS,
    });
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, get.url);
  });

  return router;
};
