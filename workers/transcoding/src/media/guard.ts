import { spawn, type ChildProcess } from 'node:child_process';

/*
 * Why a guard: ffmpeg outlives a parent that dies without killing it. It
 * ignores SIGPIPE and the failed writes of `-progress` to a pipe nobody
 * reads any more, so a worker killed with SIGKILL mid-job (no handler of
 * ours runs then) left its encode running to the end, for nobody, beside
 * the worker that took the job over. Linux's PR_SET_PDEATHSIG is out of
 * Node's reach without a native module, and Linux's only; a pipe is
 * everywhere. The guard is a `sh` holding the read end of a pipe whose one
 * writer is this process, which never writes: the kernel closes it when
 * this process ends, however it ends, and the guard's `read` then sees end
 * of file and kills the tool.
 */
const GUARD = 'while read -r _; do :; done; kill -KILL "$1" 2>/dev/null';

/**
 * Has `child` killed (SIGKILL) when this process dies before it. Call it
 * right after `spawn`. When the child ends first, its guard is killed
 * instead, so a guard never signals a pid the system may have reused.
 *
 * Without a `sh` to run the guard, the child runs unguarded, as it would
 * have anyway.
 *
 * @example const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] }); guardChild(child);
 */
export const guardChild = (child: ChildProcess): void => {
  // No pid: the spawn failed, its 'error' follows and nothing runs.
  if (child.pid === undefined) return;
  const guard = spawn('sh', ['-c', GUARD, 'lectern-child-guard', String(child.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  guard.on('error', () => {});
  guard.stdin?.on('error', () => {});
  // 'exit' comes once the child is reaped: from then on its pid is free, and the guard must go.
  child.once('exit', () => guard.kill('SIGKILL'));
};
