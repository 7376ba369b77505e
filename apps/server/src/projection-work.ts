import type { RebuildProgress } from '@lectern/infra/runtime/projection-runner';

/** What `GET /api/admin/projections` shows of a rebuild, diff or audit in flight (`ProjectionWork`). */
export type ProjectionWork = Readonly<{
  action: 'rebuild' | 'diff' | 'audit';
  phase: RebuildProgress['phase'] | 'explain';
  eventsRead: number;
  position: number | null;
  headPosition: number | null;
  seconds: number;
  eventsPerSecond: number;
}>;

export type WorkBoard = Readonly<{
  /**
   * Runs `work` on the board under `name` until it settles, handing it the
   * callbacks that move its progress along.
   */
  track<T>(
    name: string,
    action: ProjectionWork['action'],
    work: (hooks: {
      onProgress: (p: RebuildProgress) => void;
      phase: (phase: ProjectionWork['phase']) => void;
    }) => Promise<T>,
  ): Promise<T>;
  /** The model's work in flight in this process, or null. */
  of(name: string): ProjectionWork | null;
}>;

/**
 * The long work on the read models this process is running, by model, so
 * that the CLI, which waits on one long request, can poll the status route
 * for how far it has got. It is this process's only: in a topology of
 * several processes the status shows it only where the work runs (the CLI
 * reaches one URL, which is where it asked for the work).
 *
 * @example
 *   const board = workBoard();
 *   await board.track('profiles', 'rebuild', ({ onProgress }) => runner.rebuild({ onProgress }));
 */
export const workBoard = (now: () => number = () => performance.now()): WorkBoard => {
  type Entry = {
    action: ProjectionWork['action'];
    started: number;
    progress: Omit<RebuildProgress, 'phase'> & { phase: ProjectionWork['phase'] };
  };
  // A model's runs in the order they began. Only one runs at a time (a second is refused at
  // once), so the board shows the oldest: a refused one never hides the run it was refused for.
  const entries = new Map<string, Entry[]>();
  return {
    async track(name, action, work) {
      const entry: Entry = {
        action,
        started: now(),
        progress: { phase: 'replay', eventsRead: 0, position: null, headPosition: null },
      };
      entries.set(name, [...(entries.get(name) ?? []), entry]);
      try {
        return await work({
          onProgress: (p) => (entry.progress = { ...p }),
          phase: (phase) => (entry.progress = { ...entry.progress, phase }),
        });
      } finally {
        const left = (entries.get(name) ?? []).filter((e) => e !== entry);
        if (left.length) entries.set(name, left);
        else entries.delete(name);
      }
    },
    of(name) {
      const entry = entries.get(name)?.[0];
      if (!entry) return null;
      const seconds = Math.max(0, (now() - entry.started) / 1000);
      return {
        action: entry.action,
        ...entry.progress,
        seconds,
        eventsPerSecond: seconds > 0 ? entry.progress.eventsRead / seconds : 0,
      };
    },
  };
};
