# shellcheck shell=bash
# Shared helpers for infra/local/*.sh. Sourced, never executed: it only defines
# variables and functions, so the caller's `set -euo pipefail` applies.

# Downloads (Node, Kafka jars) are kept apart from engine state so that wiping
# the engines (data, logs, pids) never forces a slow re-download.
LECTERN_CACHE_DIR="${LECTERN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lectern}"
LECTERN_ENGINES_DIR="${LECTERN_ENGINES_DIR:-$HOME/.cache/lectern/engines}"
LECTERN_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
LECTERN_ROOT="$(cd "$LECTERN_LOCAL_DIR/../.." && pwd)"
# Absolute, because the PostgreSQL tools run from / (see postgres.sh).
[[ $LECTERN_CACHE_DIR == /* ]] || LECTERN_CACHE_DIR="$PWD/$LECTERN_CACHE_DIR"
[[ $LECTERN_ENGINES_DIR == /* ]] || LECTERN_ENGINES_DIR="$PWD/$LECTERN_ENGINES_DIR"
export LECTERN_CACHE_DIR LECTERN_ENGINES_DIR

# Logs go to stderr: stdout of these scripts is reserved for values callers
# capture (a PATH entry, a URL, `export` lines).
log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# True when something accepts TCP connections on host:port. Uses bash's
# /dev/tcp so no netcat is needed; `timeout` guards against a filtered port.
port_open() {
  # shellcheck disable=SC2016 # $0/$1 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS [PID] [LOGFILE]
# Polls until the port answers. When a PID is given, gives up as soon as that
# process dies (no point waiting out the timeout for a crashed engine), and
# shows the end of LOGFILE so the failure explains itself.
wait_for_port() {
  local host=$1 port=$2 timeout_s=$3 pid=${4:-} logfile=${5:-}
  local deadline=$((SECONDS + timeout_s))
  until port_open "$host" "$port"; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before $host:$port answered"
      show_log_tail "$logfile"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout_s}s waiting for $host:$port"
      show_log_tail "$logfile"
      return 1
    fi
    sleep 0.3
  done
}

show_log_tail() {
  [[ -n ${1:-} && -f $1 ]] || return 0
  log "last lines of $1:"
  tail -n 30 "$1" >&2
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# Installs Debian packages. `apt-get update` runs at most once per process: a
# fresh machine has no package lists, and refreshing them twice is wasted time.
_apt_updated=
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install these yourself: $*"
  log "installing $* (apt-get)"
  if [[ -z $_apt_updated ]]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# with_lock NAME: holds an exclusive lock for the rest of the calling script,
# so two concurrent `start`s (two terminals, parallel CI steps) cannot both
# run initdb or both launch a broker. Skipped where flock is missing (macOS).
# The lock lives on fd 9: anything started to outlive the script must be
# launched with `9>&-`, or it inherits the fd and keeps the lock forever.
with_lock() {
  command -v flock >/dev/null || return 0
  mkdir -p "$LECTERN_ENGINES_DIR"
  exec 9>"$LECTERN_ENGINES_DIR/$1.lock"
  flock -w 300 9 || die "could not take $LECTERN_ENGINES_DIR/$1.lock within 300s"
}

# Prints the bin directory of a Node >= 24 (installing it into the cache if
# needed); callers put it first on PATH.
node24_bin() {
  "$LECTERN_LOCAL_DIR/node.sh"
}

# The pid in a pid file, if that process is alive and its command line matches
# a pattern: a stale pid may have been reused by an unrelated process, which
# must never be taken for (or killed as) our engine.
live_pid_from() {
  local file=$1 pattern=$2 pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r /proc/$pid/cmdline ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$pattern" || return 1
  fi
  echo "$pid"
}
