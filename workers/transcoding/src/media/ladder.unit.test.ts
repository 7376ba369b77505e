import test from 'ava';
import { planLadder } from './ladder.ts';

const sizes = (source: { width: number; height: number }) =>
  planLadder(source).map((r) => `${r.name} ${r.width}x${r.height}`);

test('a 1080p source gets 720p and 1080p, smallest first', (t) => {
  const ladder = planLadder({ width: 1920, height: 1080 });
  t.deepEqual(
    ladder.map((r) => [r.name, r.width, r.height, r.videoKbps]),
    [
      ['720p', 1280, 720, 2800],
      ['1080p', 1920, 1080, 5000],
    ],
  );
  for (const r of ladder) {
    t.true(
      r.maxrateKbps > r.videoKbps && r.bufsizeKbps > r.maxrateKbps,
      `${r.name}: peak and buffer above the average`,
    );
    t.true(r.audioKbps > 0);
  }
});

test('nothing is upscaled: a source above 1080p tops out at 1080p, one between gets 720p only', (t) => {
  t.deepEqual(sizes({ width: 3840, height: 2160 }), ['720p 1280x720', '1080p 1920x1080']);
  t.deepEqual(sizes({ width: 1600, height: 900 }), ['720p 1280x720']);
  t.deepEqual(sizes({ width: 1280, height: 720 }), ['720p 1280x720']);
});

test('a source below 720p gets one rung at its own size, at a rate scaled down by area', (t) => {
  const [only, ...more] = planLadder({ width: 640, height: 360 });
  t.deepEqual(more, []);
  t.like(only, { name: '360p', width: 640, height: 360 });
  t.true(only!.videoKbps < 2800 && only!.videoKbps >= 300);
});

test('odd sizes become even without growing, and the aspect ratio is kept', (t) => {
  t.deepEqual(sizes({ width: 641, height: 359 }), ['358p 640x358']);
  // 4:3 and 21:9 sources keep their shape.
  t.deepEqual(sizes({ width: 1440, height: 1080 }), ['720p 960x720', '1080p 1440x1080']);
  t.deepEqual(sizes({ width: 2560, height: 1080 }), ['720p 1706x720', '1080p 2560x1080']);
  for (const source of [
    { width: 1919, height: 1081 },
    { width: 853, height: 480 },
    { width: 3, height: 3 },
  ]) {
    for (const r of planLadder(source)) {
      t.true(r.width % 2 === 0 && r.height % 2 === 0, `${r.width}x${r.height} is even`);
      t.true(r.width <= source.width && r.height <= source.height, `${r.width}x${r.height} is no upscale`);
    }
  }
});

test('a portrait recording is laddered by its short side', (t) => {
  t.deepEqual(sizes({ width: 1080, height: 1920 }), ['720p 720x1280', '1080p 1080x1920']);
  t.deepEqual(sizes({ width: 360, height: 640 }), ['360p 360x640']);
});

test('a size that is no picture is refused', (t) => {
  t.throws(() => planLadder({ width: 0, height: 1080 }), { instanceOf: RangeError });
  t.throws(() => planLadder({ width: Number.NaN, height: 720 }), { instanceOf: RangeError });
});
