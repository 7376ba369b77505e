import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`: 100 on Linux for x86 and arm). */
const TICKS_PER_SECOND = 100;

/** The fields of a /proc/<pid>/stat line after the process's name (which may hold spaces). */
const statFields = (stat: string): string[] => stat.slice(stat.lastIndexOf(')') + 2).split(' ');

/** The name a /proc/<pid>/stat line gives its process. */
const statName = (stat: string): string => stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));

/**
 * utime + stime of a stat line, in milliseconds; with `children`, also the
 * cutime + cstime of the children it has waited for.
 */
const cpuMsOfStat = (stat: string, children = false): number => {
  // After the name, state is field 3; utime, stime, cutime and cstime are 14 to 17 (1-based over the whole line).
  const f = statFields(stat);
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return (ticks * 1000) / TICKS_PER_SECOND;
};

/** utime + stime of a process, in milliseconds, from /proc (Linux). */
export const cpuMsOf = async (pid: number): Promise<number> =>
  cpuMsOfStat(await readFile(`/proc/${pid}/stat`, 'utf8'));

/**
 * CPU of the PostgreSQL server on this machine, in milliseconds: every
 * process named `postgres` (its backends, their parallel workers,
 * autovacuum), and the children they have reaped (parallel workers that
 * have exited are counted in the postmaster's). Null when no such process
 * is visible (a server elsewhere, or not Linux). The whole server's: the
 * figure is only a run's own on a machine where nothing else uses it.
 */
export const localPostgresCpuMs = async (): Promise<number | null> => {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  let ms = 0;
  let found = false;
  for (const pid of pids) {
    // A process may end between the listing and the read.
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
    if (stat === null || statName(stat) !== 'postgres') continue;
    found = true;
    ms += cpuMsOfStat(stat, true);
  }
  return found ? ms : null;
};
