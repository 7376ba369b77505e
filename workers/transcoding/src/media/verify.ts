import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MediaError } from './errors.ts';
import { ffprobeJson, lastLine, type FfprobeDoc, type ToolOptions } from './probe.ts';

/** One `#EXT-X-STREAM-INF` of a master playlist, as declared. */
export type DeclaredVariant = Readonly<{
  uri: string;
  bandwidth: number | null;
  /** "1280x720", as written, or null when absent. */
  resolution: string | null;
  codecs: string | null;
}>;

/** A variant as declared and as ffprobe reads it back. */
export type CheckedVariant = DeclaredVariant &
  Readonly<{
    /** The variant's folder ("720p"), which is the rung's name. */
    name: string;
    width: number;
    height: number;
    durationSeconds: number;
    segmentSeconds: readonly number[];
  }>;

/** A segment may run over the target (4 s) until the next forced keyframe, but never past this. */
export const MAX_SEGMENT_SECONDS = 6;

/**
 * Reads back an HLS ladder written to local disk: parses the master
 * playlist, checks every media playlist's segment lengths, and has ffprobe
 * decode each variant's headers through its playlist, so what a player will
 * see is what was declared.
 *
 * Failures are transient (`bad_output`, `permanent: false`): the source
 * already passed `probe`, so output that does not hold up says the encode
 * or the disk went wrong (a truncated write, a full disk), not the upload;
 * a retry encodes afresh, and the worker's retry limit bounds a bug that
 * fails every time.
 *
 * @example const variants = await readLadder(join(outDir, 'master.m3u8'));
 */
export const readLadder = async (
  masterPath: string,
  opts: ToolOptions & { maxSegmentSeconds?: number } = {},
): Promise<CheckedVariant[]> => {
  const master = resolve(masterPath);
  const text = await readFile(master, 'utf8').catch((e: Error) => {
    throw badOutput(`cannot read ${master}: ${e.message}`);
  });
  const declared = parseMaster(text);
  if (declared.length === 0) throw badOutput(`${master} declares no variant`);
  const checked: CheckedVariant[] = [];
  for (const v of declared) checked.push(await checkVariant(dirname(master), v, opts));
  return checked;
};

const checkVariant = async (
  base: string,
  v: DeclaredVariant,
  opts: ToolOptions & { maxSegmentSeconds?: number },
): Promise<CheckedVariant> => {
  const playlist = resolve(base, v.uri);
  const name = v.uri.split('/').slice(0, -1).join('/') || v.uri;
  const media = await readFile(playlist, 'utf8').catch((e: Error) => {
    throw badOutput(`variant ${v.uri}: ${e.message}`);
  });
  const segmentSeconds = parseMediaPlaylist(media);
  const limit = opts.maxSegmentSeconds ?? MAX_SEGMENT_SECONDS;
  if (segmentSeconds.length === 0) throw badOutput(`variant ${v.uri} lists no segment`);
  // The last segment is whatever remains, so only the others are held to the limit.
  const long = segmentSeconds.slice(0, -1).findIndex((s) => s > limit);
  if (long >= 0) {
    throw badOutput(`variant ${v.uri}: segment ${long} lasts ${segmentSeconds[long]} s, over ${limit} s`);
  }
  // The hls demuxer opens the segments beside the playlist; `file` alone keeps it on this disk.
  const out = await ffprobeJson(
    ['-protocol_whitelist', 'file', '-show_format', '-show_streams', `file:${playlist}`],
    opts,
  );
  if (out.kind === 'failed') {
    throw badOutput(`variant ${v.uri} is unreadable: ${lastLine(out.stderr)}`, out.stderr);
  }
  const doc = out.json as FfprobeDoc;
  const video = doc.streams?.find((s) => s.codec_type === 'video');
  const width = Number(video?.width);
  const height = Number(video?.height);
  if (!video || !(width > 0 && height > 0)) throw badOutput(`variant ${v.uri} has no video stream`);
  if (v.resolution !== null && v.resolution !== `${width}x${height}`) {
    throw badOutput(`variant ${v.uri} declares ${v.resolution} but holds ${width}x${height}`);
  }
  const durationSeconds = Number(doc.format?.duration);
  return {
    ...v,
    name,
    width,
    height,
    durationSeconds: Number.isFinite(durationSeconds) ? durationSeconds : sum(segmentSeconds),
    segmentSeconds,
  };
};

/**
 * The variants a master playlist declares, in order. Attribute values may
 * be quoted and hold commas (`CODECS="avc1.4d401f,mp4a.40.2"`).
 *
 * @example parseMaster('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nlow/index.m3u8\n')
 */
export const parseMaster = (text: string): DeclaredVariant[] => {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const variants: DeclaredVariant[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) return;
    const attrs = attributesOf(line.slice('#EXT-X-STREAM-INF:'.length));
    const uri = lines.slice(i + 1).find((l) => l !== '' && !l.startsWith('#'));
    if (uri === undefined) return;
    const bandwidth = Number(attrs.get('BANDWIDTH'));
    variants.push({
      uri,
      bandwidth: Number.isInteger(bandwidth) && bandwidth > 0 ? bandwidth : null,
      resolution: attrs.get('RESOLUTION') ?? null,
      codecs: attrs.get('CODECS') ?? null,
    });
  });
  return variants;
};

/** The `#EXTINF` durations of a media playlist, in seconds, in order. */
export const parseMediaPlaylist = (text: string): number[] =>
  [...text.matchAll(/^#EXTINF:([0-9.]+)/gm)].map((m) => Number(m[1]));

const attributesOf = (list: string): Map<string, string> =>
  new Map(
    [...list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]),
  );

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

const badOutput = (message: string, detail?: string): MediaError =>
  new MediaError(
    'bad_output',
    message,
    detail === undefined ? { permanent: false } : { permanent: false, detail },
  );
