import type { RecordedEvent } from '@lectern/schemas';
import type { Rendition } from '@lectern/schemas/content/index';

/** What the worker needs to know of an asset before it starts a job. */
export type AssetForJob = Readonly<{
  status: 'none' | 'pending' | 'processing' | 'ready' | 'failed';
  /** The job whose ladder the asset plays from now, if any. */
  ladderJobId: string | null;
  /** The job that failed it, when it is failed by a transcode. */
  failedJobId: string | null;
  /** Failed jobs asked for again by a redrive of their dead letter (each is, once). */
  requeued: readonly string[];
  /** The ladder it plays from now: a job that makes one rendition again keeps the others from it. */
  ladder: LadderRecord | null;
}>;

export type LadderRecord = Readonly<{
  jobId: string;
  prefix: string;
  master: string;
  renditions: readonly Rendition[];
  durationSeconds: number;
}>;

/**
 * How the transcoding worker records what it did: as events of the media
 * asset, through the content context's own decider (ARCHITECTURE rule 5).
 * The worker imports no command service; the content module hands it this.
 * Each record is idempotent by the job: a retry after a crash records nothing twice.
 */
export type AssetLedger = Readonly<{
  asset(assetId: string): Promise<AssetForJob>;
  /**
   * `report` names the report within the job (its try and its place in
   * that try's order): a try again, or the same percent a second time, is a
   * new report, not a replay of one with other figures.
   */
  progress(
    cause: RecordedEvent,
    assetId: string,
    p: Readonly<{ jobId: string; report: string; percent: number; etaSeconds: number | null }>,
  ): Promise<void>;
  transcoded(cause: RecordedEvent, assetId: string, ladder: LadderRecord): Promise<void>;
  /** Asks for a failed job again (a new request, so a new job), once: its dead letter was redriven. */
  requeue(
    cause: RecordedEvent,
    assetId: string,
    r: Readonly<{ jobId: string; renditions: readonly string[] | null }>,
  ): Promise<void>;
  /**
   * `redriven`: the dead letter a redrive brought the job back from, or
   * null. A redriven job is tried afresh, so its failure is a record of its
   * own (a ready asset's failed re-transcode can be redriven and fail again).
   */
  failed(
    cause: RecordedEvent,
    assetId: string,
    f: Readonly<{
      jobId: string;
      reason: string;
      attempts: number;
      permanent: boolean;
      redriven: string | null;
    }>,
  ): Promise<void>;
}>;
