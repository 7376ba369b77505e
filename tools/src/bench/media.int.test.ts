import test from 'ava';
import { MIN_SPEED_FACTOR, mediaSection } from './media.ts';
import { targetsOf } from './targets.ts';

/*
 * The bench's transcoding figure is the speed factor of ffmpeg's convention
 * (media seconds per wall-clock second), the one the worker's metric and log
 * carry; and its target reads it that way round. With the real ffmpeg, on a
 * clip short enough for a loaded machine: nothing here depends on how fast
 * the encode is, only on how its figures relate.
 */

const transcodingTarget = (sections: Readonly<Record<string, unknown>>) =>
  targetsOf(sections).find((c) => c.name.startsWith('transcoding'))!;

test('the bench reports media seconds encoded per wall-clock second, not the inverse', async (t) => {
  const media = await mediaSection({ clipSeconds: 2, encodes: 1, pdfRuns: 1, pdfWarmup: 0 });
  const { clip, speedFactor, encodeSeconds, medianSpeedFactor } = media.transcoding;
  t.is(speedFactor.length, 1);
  t.is(medianSpeedFactor, speedFactor[0]!);
  // speed × wall time = media time (to the rounding of the figures), whatever the machine's speed.
  const encoded = speedFactor[0]! * encodeSeconds[0]!;
  t.true(Math.abs(encoded - clip.seconds) <= 0.02 * clip.seconds + 0.02, `${encoded} vs ${clip.seconds}`);
  t.is(media.transcoding.met, medianSpeedFactor >= MIN_SPEED_FACTOR);
  const target = transcodingTarget({ media });
  t.is(target.actual, medianSpeedFactor);
  t.is(target.met, medianSpeedFactor >= MIN_SPEED_FACTOR);
});

test('the target is met above two thirds of real time and missed below', (t) => {
  const at = (medianSpeedFactor: number) =>
    transcodingTarget({ media: { transcoding: { clip: { seconds: 30 }, medianSpeedFactor } } });
  t.is(MIN_SPEED_FACTOR, 0.667);
  t.like(at(2), { met: true, actual: 2 });
  t.like(at(0.7), { met: true });
  t.like(at(0.5), { met: false });
  t.like(transcodingTarget({}), { met: null, actual: null });
});
