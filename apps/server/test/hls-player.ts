import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseMaster, parseMediaPlaylist } from '@lectern/transcoding-worker/media/verify';

const run = promisify(execFile);

/** HTTP only (and what it rides on): a playlist cannot make ffmpeg open a local file. */
const NETWORK = ['-protocol_whitelist', 'http,https,tcp,tls,crypto'];

export type PlayedVariant = Readonly<{
  uri: string;
  resolution: string | null;
  width: number;
  height: number;
  durationSeconds: number;
  segments: number;
}>;

/**
 * Plays an HLS ladder over HTTP from its master playlist's URL and nothing
 * else, as a player given that URL would: the master fetched, then each
 * variant opened by ffprobe (its resolution and duration) and decoded to
 * the end by ffmpeg, every playlist and segment reached by resolving the
 * URIs against the URL they came from and following redirects. No
 * Authorization header, no storage credentials.
 *
 * @example const variants = await playHls(`${server}/api/playback/${token}/master.m3u8`);
 */
export const playHls = async (masterUrl: string): Promise<PlayedVariant[]> => {
  const master = await fetch(masterUrl);
  if (master.status !== 200) throw new Error(`GET master: ${master.status} ${await master.text()}`);
  const type = master.headers.get('content-type') ?? '';
  if (!type.startsWith('application/vnd.apple.mpegurl')) throw new Error(`the master playlist is ${type}`);
  const variants = parseMaster(await master.text());
  const played: PlayedVariant[] = [];
  for (const v of variants) {
    const url = new URL(v.uri, masterUrl).href;
    const playlist = await fetch(url);
    if (playlist.status !== 200) throw new Error(`GET ${v.uri}: ${playlist.status}`);
    const segments = parseMediaPlaylist(await playlist.text()).length;
    const { stdout } = await run('ffprobe', [
      ...['-v', 'error', ...NETWORK, '-print_format', 'json', '-show_format', '-show_streams', url],
    ]);
    const doc = JSON.parse(stdout) as {
      streams: { codec_type: string; width?: number; height?: number }[];
      format: { duration?: string };
    };
    const video = doc.streams.find((s) => s.codec_type === 'video');
    if (!video?.width || !video.height) throw new Error(`${v.uri}: no video stream read`);
    // Every segment decoded: `-xerror` makes any broken frame a failure.
    await run('ffmpeg', ['-v', 'error', '-xerror', ...NETWORK, '-i', url, '-map', '0', '-f', 'null', '-'], {
      maxBuffer: 1024 * 1024,
    });
    played.push({
      uri: v.uri,
      resolution: v.resolution,
      width: video.width,
      height: video.height,
      durationSeconds: Number(doc.format.duration),
      segments,
    });
  }
  return played;
};
