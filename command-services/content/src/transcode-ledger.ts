import * as schema from '@lectern/schemas/content/index';
import type { RecordedEvent } from '@lectern/schemas';
import type { EventStore } from '@lectern/infra/ports/event-store';
import { handleCommand } from '@lectern/infra/runtime/command-handler';
import { causedBy } from '@lectern/infra/runtime/context';
import type { Clock } from '@lectern/infra/runtime/ids';
import { mediaAssetDecider, type MediaAssetCommand } from './domain/media-asset.ts';
import { readAsset } from './routes/shared.ts';

/**
 * The media asset's side of the transcoding worker: its progress, ladder and
 * failure recorded as commands on the asset's stream, caused by the
 * transcode request. Command ids derive from the job, so a record repeated
 * after a crash decides nothing new.
 *
 * @example
 *   const ledger = transcodeLedger({ store, clock });
 *   await ledger.transcoded(request, assetId, { jobId, prefix, master, renditions, durationSeconds });
 */
export const transcodeLedger = (deps: { store: EventStore; clock: Clock }) => {
  const run = (cause: RecordedEvent, assetId: string, commandId: string, command: MediaAssetCommand) =>
    handleCommand({
      store: deps.store,
      streamId: schema.mediaAssetStreamId(assetId),
      decider: mediaAssetDecider,
      catalogue: schema.contentEvents,
      command,
      commandId,
      occurredAt: deps.clock.now().toISOString(),
      metadata: causedBy(cause),
    });
  const at = () => deps.clock.now().toISOString();
  return {
    async asset(assetId: string) {
      const s = await readAsset(deps.store, assetId);
      return {
        status: s.status,
        ladderJobId: 'ladder' in s ? (s.ladder?.jobId ?? null) : null,
        failedJobId: s.status === 'failed' ? s.failedJobId : null,
        requeued: s.status === 'none' ? [] : s.requeued,
        ladder: 'ladder' in s ? s.ladder : null,
      };
    },
    async requeue(
      cause: RecordedEvent,
      assetId: string,
      r: { jobId: string; renditions: readonly string[] | null },
    ) {
      await run(cause, assetId, `transcode/${r.jobId}/requeue`, {
        type: 'RequeueFailedTranscode',
        ...r,
        at: at(),
      });
    },
    async progress(
      cause: RecordedEvent,
      assetId: string,
      p: { jobId: string; report: string; percent: number; etaSeconds: number | null },
    ) {
      await run(cause, assetId, `transcode/${p.jobId}/progress/${p.report}`, {
        type: 'RecordTranscodeProgress',
        jobId: p.jobId,
        percent: p.percent,
        etaSeconds: p.etaSeconds,
        at: at(),
      });
    },
    async transcoded(
      cause: RecordedEvent,
      assetId: string,
      ladder: {
        jobId: string;
        prefix: string;
        master: string;
        renditions: readonly schema.Rendition[];
        durationSeconds: number;
      },
    ) {
      await run(cause, assetId, `transcode/${ladder.jobId}/done`, {
        type: 'RecordTranscode',
        ...ladder,
        at: at(),
      });
    },
    async failed(
      cause: RecordedEvent,
      assetId: string,
      f: { jobId: string; reason: string; attempts: number; permanent: boolean; redriven: string | null },
    ) {
      const { redriven, ...failure } = f;
      // Each run of the job (the first, each redrive of its dead letter) records its own failure.
      const suffix = redriven === null ? '' : `/${redriven}`;
      await run(cause, assetId, `transcode/${f.jobId}/failed${suffix}`, {
        type: 'RecordTranscodeFailure',
        ...failure,
        at: at(),
      });
    },
  };
};
