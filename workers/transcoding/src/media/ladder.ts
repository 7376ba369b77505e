/** One rendition of the HLS ladder: its frame size and what the encoder may spend on it. */
export type Rung = Readonly<{
  /** "1080p", "720p", or the source's own "360p": also the folder and stream name in the output. */
  name: string;
  width: number;
  height: number;
  videoKbps: number;
  audioKbps: number;
  /** Peak rate the encoder may reach (VBV), a little above the average. */
  maxrateKbps: number;
  /** VBV buffer: how long a burst above the average may last. */
  bufsizeKbps: number;
}>;

/**
 * The full ladder, tallest first, by the frame's short side (its height for
 * landscape). Rates are the usual ones for lecture material at H.264 main:
 * screen content and a talking head rarely need more.
 */
const LADDER: ReadonlyArray<Readonly<{ short: number; videoKbps: number; audioKbps: number }>> = [
  { short: 1080, videoKbps: 5000, audioKbps: 128 },
  { short: 720, videoKbps: 2800, audioKbps: 128 },
];
/** A source below the smallest rung keeps its size, and a rate scaled down by area, but never below this. */
const MIN_VIDEO_KBPS = 300;
/** Peak over average: 7 % headroom, as Apple's authoring spec suggests for VBV-constrained VOD. */
const MAXRATE_RATIO = 1.07;
/** 1.5 × the average: enough slack for scene changes without starving a segment. */
const BUFSIZE_RATIO = 1.5;

/**
 * The HLS ladder for a source, smallest first, never upscaling: the rungs
 * whose short side fits in the source's, or, for a source smaller than every
 * rung, one rung at its own size. The short side rather than the height, so
 * a portrait phone recording (1080×1920) gets its 1080p as 1080×1920 instead
 * of a 608×1080 thumbnail; for landscape the two rules are the same.
 * Dimensions are even (4:2:0 chroma needs it) and keep the aspect ratio.
 *
 * @example planLadder({ width: 1920, height: 1080 }).map((r) => r.name) // ['720p', '1080p']
 */
export const planLadder = (source: Readonly<{ width: number; height: number }>): Rung[] => {
  const { width, height } = source;
  if (!(width >= 2 && height >= 2)) throw new RangeError(`no ladder for a ${width}x${height} source`);
  const short = Math.min(width, height);
  const fitting = LADDER.filter((r) => r.short <= short);
  if (fitting.length > 0)
    return fitting.map((r) => rung(source, r.short, r.videoKbps, r.audioKbps)).reverse();
  const own = evenBelow(short);
  const smallest = LADDER.at(-1)!;
  const area = (own / smallest.short) ** 2;
  return [rung(source, own, Math.max(MIN_VIDEO_KBPS, Math.round(smallest.videoKbps * area)), 96)];
};

const rung = (
  source: Readonly<{ width: number; height: number }>,
  short: number,
  videoKbps: number,
  audioKbps: number,
): Rung => {
  const landscape = source.width >= source.height;
  const [srcShort, srcLong] = [Math.min(source.width, source.height), Math.max(source.width, source.height)];
  // Rounded to the nearest even, but never past the source's own (odd) size.
  const long = Math.min(evenBelow(srcLong), even((short * srcLong) / srcShort));
  return {
    name: `${short}p`,
    width: landscape ? long : short,
    height: landscape ? short : long,
    videoKbps,
    audioKbps,
    maxrateKbps: Math.round(videoKbps * MAXRATE_RATIO),
    bufsizeKbps: Math.round(videoKbps * BUFSIZE_RATIO),
  };
};

/** The nearest even number (2 at least): odd sizes cannot hold 4:2:0 chroma. */
const even = (n: number): number => Math.max(2, 2 * Math.round(n / 2));
/** The even number at or below `n` (2 at least): a source's own odd size, without upscaling by a pixel. */
const evenBelow = (n: number): number => Math.max(2, 2 * Math.floor(n / 2));
