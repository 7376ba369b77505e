import type { Request, Response } from 'express';
import * as schema from '@lectern/schemas/content/index';
import { uuid, type Result } from '@lectern/schemas/validation';
import type { EventStore } from '@lectern/infra/ports/event-store';
import type { BlobStore } from '@lectern/infra/ports/blob-store';
import type { MessageKeys } from '@lectern/infra/auth/message-secrets';
import type { VerifiedToken } from '@lectern/infra/http/auth';
import { ifMatchRevision, setCommandHeaders } from '@lectern/infra/http/headers';
import { handleCommand, type CommandOutcome } from '@lectern/infra/runtime/command-handler';
import { eventMetadata } from '@lectern/infra/runtime/context';
import { fold } from '@lectern/infra/runtime/decider';
import { validationProblem } from '@lectern/infra/runtime/errors';
import { deterministicUuid, type Clock } from '@lectern/infra/runtime/ids';
import { courseDecider, type AssetLookup, type Course, type CourseCommand } from '../domain/course.ts';
import { mediaAssetDecider, type MediaAsset, type MediaAssetCommand } from '../domain/media-asset.ts';

export type ContentCommandDeps = Readonly<{
  store: EventStore;
  verify: (token: string) => Promise<VerifiedToken>;
  /** Where media files are uploaded to, straight from the client. */
  blobs: BlobStore;
  clock: Clock;
  /** Signs playback URLs (`../playback.ts`). */
  messageKeys: MessageKeys;
}>;

export const validated = <T>(r: Result<T>): T => {
  if (!r.ok) throw validationProblem(r.issues);
  return r.value;
};

const id = uuid();
/** A path parameter that must be a UUID (400 with a pointer to it otherwise). */
export const idParam = (req: Request, name: string): string => validated(id(req.params[name], `/${name}`));

/** The caller as the deciders see it; routes run behind `authenticate`. */
export const actorOf = (req: Request) => ({ userId: req.ctx.actor!.userId!, roles: req.ctx.actor!.roles });

/** Ids of what a command adds derive from the command id, so a retried request adds the same thing. */
export const newId = (req: Request, what: string): string =>
  deterministicUuid(`${req.ctx.commandId}/${what}`);

const common = (deps: ContentCommandDeps, req: Request) => {
  const expectedRevision = ifMatchRevision(req);
  return {
    store: deps.store,
    catalogue: schema.contentEvents,
    commandId: req.ctx.commandId,
    occurredAt: deps.clock.now().toISOString(),
    metadata: eventMetadata(req.ctx),
    ...(expectedRevision === undefined ? {} : { expectedRevision }),
  };
};

/** Runs a command on a course, stating the revision read (or the one `If-Match` named). */
export const runCourse = (
  deps: ContentCommandDeps,
  req: Request,
  courseId: string,
  command: CourseCommand,
): Promise<CommandOutcome<Course, schema.CourseStreamEvent>> =>
  handleCommand({
    ...common(deps, req),
    streamId: schema.courseStreamId(courseId),
    decider: courseDecider,
    command,
  });

export const runMediaAsset = (
  deps: ContentCommandDeps,
  req: Request,
  assetId: string,
  command: MediaAssetCommand,
): Promise<CommandOutcome<MediaAsset, schema.MediaAssetStreamEvent>> =>
  handleCommand({
    ...common(deps, req),
    streamId: schema.mediaAssetStreamId(assetId),
    decider: mediaAssetDecider,
    command,
  });

/** The course as its stream holds it now: the lookups commands on other streams need. */
export const readCourse = async (store: EventStore, courseId: string): Promise<Course> =>
  fold(courseDecider, await store.readStream(schema.courseStreamId(courseId)));

export const readAsset = async (store: EventStore, assetId: string): Promise<MediaAsset> =>
  fold(mediaAssetDecider, await store.readStream(schema.mediaAssetStreamId(assetId)));

/** What the store holds about an asset a material names, for the course decider. */
export const assetLookup = async (
  store: EventStore,
  assetId: string | undefined,
): Promise<AssetLookup | null> => {
  if (assetId === undefined) return null;
  const a = await readAsset(store, assetId);
  return a.status === 'none' ? null : { courseId: a.courseId, kind: a.kind, status: a.status };
};

/** The status of each asset, read from the store (the source of truth), for the publish check. */
export const assetStatuses = async (
  store: EventStore,
  assetIds: readonly string[],
): Promise<Record<string, schema.MediaAssetStatus>> => {
  const found = await Promise.all(
    assetIds.map(async (assetId) => [assetId, await readAsset(store, assetId)] as const),
  );
  return Object.fromEntries(
    found.flatMap(([assetId, a]) => (a.status === 'none' ? [] : [[assetId, a.status]])),
  );
};

/** Answers a course command: `ETag`, consistency token, and the course's revision and status. */
export const answer = (
  res: Response,
  courseId: string,
  outcome: CommandOutcome<Course, schema.CourseStreamEvent>,
  extra: Readonly<Record<string, string>> = {},
  status = 200,
): void => {
  setCommandHeaders(res, outcome.revision, outcome.position);
  if (status === 201) res.location(`/api/courses/${courseId}`);
  res.status(status).json({ courseId, revision: outcome.revision, status: outcome.state.status, ...extra });
};
