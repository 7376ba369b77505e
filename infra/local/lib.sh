# shellcheck shell=bash
# Shared helpers for infra/local/*.sh. Sourced, never executed: it only defines
# variables and functions, so the caller's `set -euo pipefail` applies.

# Downloads (Node, Kafka jars) are kept apart from engine state so that wiping
# the engines (data, logs, pids) never forces a slow re-download.
LECTERN_CACHE_DIR="${LECTERN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lectern}"
LECTERN_ENGINES_DIR="${LECTERN_ENGINES_DIR:-$HOME/.cache/lectern/engines}"
LECTERN_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# How long a started engine may take to answer. The wait ends the moment it
# answers (or dies), so a quiet machine never waits it out; a busy one (a JVM
# starting beside ten CPU hogs) can need minutes.
# shellcheck disable=SC2034 # used by the scripts that source this file
ENGINE_READY_SECONDS="${LECTERN_ENGINE_READY_SECONDS:-300}"
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
  # One apt at a time among our scripts: another may be installing at the same
  # moment (.ci/run's engines and its background build), and `apt-get update`
  # fails at once on a lists lock it does not hold (DPkg::Lock::Timeout covers
  # dpkg's lock only, which other programs may still hold: hence it too).
  mkdir -p "$LECTERN_ENGINES_DIR"
  (
    if command -v flock >/dev/null; then
      flock -w 1200 8 || die "could not take $LECTERN_ENGINES_DIR/apt.lock within 1200s"
    fi
    if [[ -z $_apt_updated ]]; then
      as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
      install -y -qq --no-install-recommends "$@" >&2
  ) 8>"$LECTERN_ENGINES_DIR/apt.lock"
  _apt_updated=1
}

# debian_tool_main PACKAGE CHECK [ACTION]: the command line of a script that
# installs a tool from a Debian package (ffmpeg.sh, poppler.sh). The script
# defines `present` (every command is on PATH) and `versions`; CHECK is a
# function that dies where the installed build lacks what we need.
#   ensure (the default)  install where missing, run CHECK, log the versions
#   status                the versions, or "missing" (exit 3)
debian_tool_main() {
  local package=$1 check=$2 action=${3:-ensure}
  case "$action" in
    ensure)
      if ! present; then
        # Two `ensure`s at once (parallel CI steps) would fight over dpkg's lock.
        with_lock "$package-install"
        present || apt_install "$package"
        present || die "still missing after installing Debian's $package package"
      fi
      "$check"
      log "$(versions)"
      ;;
    status)
      if present; then
        versions
      else
        echo "missing"
        return 3
      fi
      ;;
    *)
      echo "usage: $0 [ensure]|status" >&2
      exit 2
      ;;
  esac
}

# with_lock NAME [SECONDS]: holds an exclusive lock for the rest of the
# calling script, so two concurrent `start`s (two terminals, parallel CI
# steps) cannot both run initdb or both launch a broker. Skipped where flock
# is missing (macOS). The lock lives on fd 9: anything started to outlive the
# script must be launched with `9>&-`, or it inherits the fd and keeps the
# lock forever. A start waits 300 s at most; a build passes
# $BUILD_LOCK_SECONDS, since the holder may be .ci/run's background build
# (infra/deploy/build-tools.sh) partway through a build of many minutes.
readonly BUILD_LOCK_SECONDS=3600
with_lock() {
  command -v flock >/dev/null || return 0
  local wait=${2:-300}
  mkdir -p "$LECTERN_ENGINES_DIR"
  exec 9>"$LECTERN_ENGINES_DIR/$1.lock"
  flock -w "$wait" 9 || die "could not take $LECTERN_ENGINES_DIR/$1.lock within ${wait}s"
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

# go_build_once NAME MODULE VERSION GO_MIN_MINOR BIN_HOME BINARY [LDFLAGS]
# Builds MODULE@VERSION with `go install` into BIN_HOME/BINARY, once per
# machine and version: engines that ship no binary these machines can fetch
# come from the Go module proxy instead. A scratch GOBIN renamed into place
# means an interrupted build never leaves a binary later runs would trust.
# CGO off: a static binary, and no C compiler needed on a fresh machine.
# Niced: it takes minutes of both cores, and tests may be running. LDFLAGS
# set what a project's own Makefile would (`-X` of its version variables);
# `-s -w` (no symbol table, no DWARF) always, as helm's and Kubernetes' own
# release builds do: the link, a large part of a fresh machine's builds, is
# shorter, and the binaries smaller.
go_build_once() {
  local name=$1 module=$2 version=$3 min_minor=$4 bin_home=$5 binary=$6 ldflags=${7:-}
  [[ -x $bin_home/$binary ]] && return 0
  command -v go >/dev/null ||
    die "Go 1.$min_minor or later is needed to build $name; install it (https://go.dev/dl) and put it on PATH"
  local go_version minor
  go_version=$(go env GOVERSION)
  minor=$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$go_version")
  ((${minor:-0} >= min_minor)) || die "$name needs Go 1.$min_minor or later; found $go_version"
  mkdir -p "$bin_home"
  local partial="$bin_home/bin.partial" started=$SECONDS
  rm -rf "$partial"
  log "building $name $version with $go_version (once per machine; log: $bin_home/build.log)"
  if ! (cd "$bin_home" && GOBIN="$partial" CGO_ENABLED=0 nice -n 10 \
    go install -trimpath -ldflags "-s -w $ldflags" "$module@$version" </dev/null >"$bin_home/build.log" 2>&1); then
    show_log_tail "$bin_home/build.log"
    die "could not build $name (full log: $bin_home/build.log)"
  fi
  mv "$partial/$binary" "$bin_home/$binary"
  rm -rf "$partial"
  log "built $name in $((SECONDS - started))s: $bin_home/$binary ($(du -h "$bin_home/$binary" | cut -f1))"
}

# http_status HOST PORT PATH: the status code of GET PATH, or nothing when
# nothing answers. bash's /dev/tcp, so nothing but bash is needed; HTTP/1.0
# closes after one answer.
http_status() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$2" "$0" "$1" >&3
    head -n 1 <&3' "$1" "$2" "$3" 2>/dev/null | awk '{print $2}'
}

# wait_until_ok HOST PORT PATH PID LOGFILE: polls GET PATH until it answers
# 200 (ENGINE_READY_SECONDS at most); gives up at once when PID dies, showing LOGFILE's end.
wait_until_ok() {
  local host=$1 port=$2 path=$3 pid=$4 logfile=$5 deadline=$((SECONDS + ENGINE_READY_SECONDS))
  until [[ $(http_status "$host" "$port" "$path") == 200 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before $host:$port$path answered"
      show_log_tail "$logfile"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${ENGINE_READY_SECONDS}s waiting for $host:$port$path"
      show_log_tail "$logfile"
      return 1
    fi
    sleep 0.3
  done
}

# stop_managed NAME PIDFILE PATTERN HOST PORT DIR: TERM (then KILL after
# 60 s) the engine whose pid file names a live process matching PATTERN. A
# clean shutdown lets an engine close its files (Kafka's log segments, no
# index recovery on the next start), so it gets a while before the KILL. An
# engine answering on the port that was not started from DIR is left alone.
stop_managed() {
  local name=$1 pidfile=$2 pattern=$3 host=$4 port=$5 dir=$6 pid
  if pid=$(live_pid_from "$pidfile" "$pattern"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      if ((SECONDS >= deadline)); then
        log "still running after 60s; killing"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.3
    done
    rm -f "$pidfile"
  elif port_open "$host" "$port"; then
    log "$host:$port is served by a $name not started from $dir; leaving it alone"
  else
    rm -f "$pidfile"
    log "not running"
  fi
}
