import test from 'ava';
import { spec } from '@lectern/infra/testing/decider-spec';
import type * as schema from '@lectern/schemas/content/index';
import { mediaAssetDecider } from './media-asset.ts';

const assetId = '3b4c5d6e-7f80-4192-8b3c-4d5e6f708192';
const courseId = '7d0a6f1e-3c2b-4a59-8e1f-0b2c3d4e5f60';
const at = '2026-03-01T10:00:00.000Z';
const register = {
  type: 'RegisterMediaAsset',
  assetId,
  courseId,
  kind: 'video',
  title: 'Lecture',
  course: { authorId: 'ada' },
  actor: { userId: 'ada', roles: ['author'] },
  at,
} as const;
const registered: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetRegistered',
  data: { assetId, courseId, kind: 'video', title: 'Lecture', registeredAt: at },
};
const ready: schema.MediaAssetStreamEvent = {
  type: 'content.MediaAssetReady',
  data: { assetId, courseId, readyAt: at },
};

test("the course's author registers an asset; others and missing courses are refused", (t) => {
  spec(mediaAssetDecider).given([]).when(register).then(t, [registered]);
  spec(mediaAssetDecider)
    .given([])
    .when({ ...register, course: null })
    .thenFails(t, 'course_not_found');
  spec(mediaAssetDecider)
    .given([])
    .when({ ...register, actor: { userId: 'bob', roles: ['author'] } })
    .thenFails(t, 'not_course_author');
});

test('an asset becomes ready once, and a failure never undoes ready', (t) => {
  spec(mediaAssetDecider).given([registered]).when({ type: 'MarkMediaAssetReady', at }).then(t, [ready]);
  spec(mediaAssetDecider).given([registered, ready]).when({ type: 'MarkMediaAssetReady', at }).then(t, []);
  spec(mediaAssetDecider)
    .given([registered, ready])
    .when({ type: 'MarkMediaAssetFailed', reason: 'x', at })
    .thenFails(t, 'media_asset_ready');
  spec(mediaAssetDecider)
    .given([registered])
    .when({ type: 'MarkMediaAssetFailed', reason: 'bad input', at })
    .then(t, [
      { type: 'content.MediaAssetFailed', data: { assetId, courseId, reason: 'bad input', failedAt: at } },
    ]);
  spec(mediaAssetDecider)
    .given([])
    .when({ type: 'MarkMediaAssetReady', at })
    .thenFails(t, 'media_asset_not_found');
});
