/**
 * Progress of a long rebuild or diff on a terminal. The work runs in the
 * server, behind one long request; meanwhile the CLI polls the status of
 * the read models (`GET /api/admin/projections`), whose `work` says how far
 * it has got, and rewrites one line of stderr with it. Piped (stderr not a
 * terminal), nothing is shown.
 */

/** The `work` of a read model's status (`ProjectionWork` in the OpenAPI document). */
export type ProjectionWork = Readonly<{
  action: string;
  phase: string;
  eventsRead: number;
  position: number | null;
  headPosition: number | null;
  seconds: number;
  eventsPerSecond: number;
}>;

const duration = (seconds: number): string => {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
};

/**
 * One line for the work on model `name`: events read, events per second and,
 * while it replays, how much of the store it has read and about how long
 * the rest takes at that pace (read positions over the head's: the store's
 * positions grow with what it holds, so the share read is the share of the
 * work done). Pure: the status in, the text out.
 *
 * @example progressLine('profiles', work) // 'rebuild profiles: replaying, 120000 events read, 60000 events/s, 25%, about 6 s left'
 */
export const progressLine = (name: string, work: ProjectionWork): string => {
  const read = `${work.eventsRead} events read`;
  const head = `${work.action} ${name}`;
  switch (work.phase) {
    case 'load':
      return `${head}: loading in the database, ${duration(work.seconds)} in`;
    case 'replay': {
      const rate = `${Math.round(work.eventsPerSecond)} events/s`;
      const { position, headPosition, seconds } = work;
      // Nothing read yet, or a consumer that tells no progress (the analytics rebuild): only how long.
      if (position === null) return `${head}: replaying, ${duration(seconds)} in`;
      if (headPosition === null || headPosition === 0 || position === 0)
        return `${head}: replaying, ${read}, ${rate}`;
      const share = Math.min(1, position / headPosition);
      const left = share >= 1 ? 'finishing' : `about ${duration((seconds * (1 - share)) / share)} left`;
      return `${head}: replaying, ${read}, ${rate}, ${Math.floor(share * 100)}%, ${left}`;
    }
    case 'agree':
      return `${head}: replayed (${read}); waiting for the live model to reach it, ${duration(work.seconds)} in`;
    case 'compare':
      return `${head}: comparing with the live model (${read}), ${duration(work.seconds)} in`;
    case 'explain':
      return `${head}: replaying again for the events behind each differing row, ${duration(work.seconds)} in`;
    default:
      return `${head}: ${work.phase}, ${read}, ${duration(work.seconds)} in`;
  }
};

/**
 * Polls `status` every `intervalMs` until stopped, writing each answer's
 * line over the last (`\r`, then clearing the rest of the line); `stop`
 * clears it. A status that fails or has no work leaves the line as it is.
 */
export const showProgress = (opts: {
  name: string;
  status: () => Promise<ProjectionWork | null>;
  write: (text: string) => void;
  intervalMs?: number;
}): { stop: () => void } => {
  let shown = false;
  let stopped = false;
  const tick = async () => {
    const work = await opts.status().catch(() => null);
    if (stopped || work === null) return;
    opts.write(`\r${progressLine(opts.name, work)}\x1b[K`);
    shown = true;
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? 1000);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
      if (shown) opts.write('\r\x1b[K');
    },
  };
};
