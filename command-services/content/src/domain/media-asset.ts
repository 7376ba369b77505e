import type * as schema from '@lectern/schemas/content/index';
import { Problem } from '@lectern/infra/runtime/errors';
import { unknownEvent, type Decider } from '@lectern/infra/runtime/decider';

type Actor = Readonly<{ userId: string; roles: readonly string[] }>;
type Asset = Readonly<{ assetId: string; courseId: string; kind: schema.MediaKind; title: string }>;

/**
 * A media asset of a course: registered `pending`, then `ready` once its
 * upload has been processed (the upload and transcoding flows, still to
 * come, issue `MarkReady` and `MarkFailed`), or `failed` with the reason.
 */
export type MediaAsset =
  | Readonly<{ status: 'none' }>
  | (Readonly<{ status: 'pending' }> & Asset)
  | (Readonly<{ status: 'ready' }> & Asset)
  | (Readonly<{ status: 'failed'; reason: string }> & Asset);

/** What a route found about the course an asset is registered for (a lookup in the event store). */
export type CourseLookup = Readonly<{ authorId: string }>;

export type MediaAssetCommand =
  | Readonly<{
      type: 'RegisterMediaAsset';
      assetId: string;
      courseId: string;
      kind: schema.MediaKind;
      title: string;
      /** The course, or null when it does not exist (or was removed). */
      course: CourseLookup | null;
      actor: Actor;
      at: string;
    }>
  | Readonly<{ type: 'MarkMediaAssetReady'; at: string }>
  | Readonly<{ type: 'MarkMediaAssetFailed'; reason: string; at: string }>;

export const initialState = (): MediaAsset => ({ status: 'none' });

const notFound = (): Problem => new Problem('not_found', 'media_asset_not_found', 'No such media asset.');

export const decide = (cmd: MediaAssetCommand, s: MediaAsset): schema.MediaAssetStreamEvent[] => {
  switch (cmd.type) {
    case 'RegisterMediaAsset': {
      if (!cmd.course) throw new Problem('not_found', 'course_not_found', 'No such course.');
      if (cmd.course.authorId !== cmd.actor.userId && !cmd.actor.roles.includes('admin'))
        throw new Problem(
          'forbidden',
          'not_course_author',
          'Only the author of the course or an admin may do this.',
        );
      if (s.status !== 'none')
        throw new Problem('conflict', 'media_asset_exists', 'This media asset already exists.');
      const data: schema.MediaAssetRegistered = {
        assetId: cmd.assetId,
        courseId: cmd.courseId,
        kind: cmd.kind,
        title: cmd.title,
        registeredAt: cmd.at,
      };
      return [{ type: 'content.MediaAssetRegistered', data }];
    }
    case 'MarkMediaAssetReady': {
      if (s.status === 'none') throw notFound();
      if (s.status === 'ready') return [];
      return [
        {
          type: 'content.MediaAssetReady',
          data: { assetId: s.assetId, courseId: s.courseId, readyAt: cmd.at },
        },
      ];
    }
    case 'MarkMediaAssetFailed': {
      if (s.status === 'none') throw notFound();
      // A good asset stays good: a failed re-processing must not take it from a published course.
      if (s.status === 'ready')
        throw new Problem('conflict', 'media_asset_ready', 'The asset is ready; a failure cannot undo that.');
      if (s.status === 'failed' && s.reason === cmd.reason) return [];
      const data = { assetId: s.assetId, courseId: s.courseId, reason: cmd.reason, failedAt: cmd.at };
      return [{ type: 'content.MediaAssetFailed', data }];
    }
    default: {
      const unhandled: never = cmd;
      throw new Error(`unknown command ${String(unhandled)}`);
    }
  }
};

export const evolve = (s: MediaAsset, e: schema.MediaAssetStreamEvent): MediaAsset => {
  switch (e.type) {
    case 'content.MediaAssetRegistered': {
      const d = e.data;
      return { status: 'pending', assetId: d.assetId, courseId: d.courseId, kind: d.kind, title: d.title };
    }
    case 'content.MediaAssetReady':
      return s.status === 'none'
        ? s
        : { assetId: s.assetId, courseId: s.courseId, kind: s.kind, title: s.title, status: 'ready' };
    case 'content.MediaAssetFailed':
      return s.status === 'none'
        ? s
        : {
            assetId: s.assetId,
            courseId: s.courseId,
            kind: s.kind,
            title: s.title,
            status: 'failed',
            reason: e.data.reason,
          };
    default:
      return unknownEvent(e, s);
  }
};

export const mediaAssetDecider: Decider<MediaAsset, MediaAssetCommand, schema.MediaAssetStreamEvent> = {
  initialState,
  decide,
  evolve,
};
