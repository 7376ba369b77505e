#!/usr/bin/env bash
# A real MinIO server (S3-compatible object storage) for development and CI,
# on loopback only. No release binary can be downloaded on these machines, so
# it is built from source with `go install`, once per machine and version.
#
#   infra/local/minio.sh start|stop|status|url|access-key|secret-key-file|build
#
# Port: LECTERN_MINIO_PORT (19900), not MinIO's default 9000, so a MinIO of
# the machine's own is never mistaken for ours.
# State (data, log, pid): LECTERN_MINIO_DIR ($LECTERN_ENGINES_DIR/minio).
# Binary: $LECTERN_CACHE_DIR/minio-<version>/minio, built once (niced).
# Credentials: root user `lectern` (not a secret); its password is generated
# once into $LECTERN_ENGINES_DIR/minio-root.password (mode 0600) and reaches
# the server as a file path (MINIO_ROOT_PASSWORD_FILE), never as a value in
# an environment, a URL or a log. `secret-key-file` prints the path.
# `start` is idempotent: if something already answers on the port it is
# taken to be our server, provided it answers MinIO's readiness probe.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The open-source repository stopped being maintained in 2025; this is its
# last commit on the Go module proxy (2026-02-12). Pinned, so every machine
# runs the same server and the cached binary stays valid.
readonly MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
readonly MINIO_MODULE=github.com/minio/minio
# MinIO's go.mod asks for this much.
readonly GO_MIN_MINOR=24

HOST=127.0.0.1
PORT="${LECTERN_MINIO_PORT:-19900}"
M_DIR="${LECTERN_MINIO_DIR:-$LECTERN_ENGINES_DIR/minio}"
DATA="$M_DIR/data"
PIDFILE="$M_DIR/minio.pid"
LOG="$M_DIR/minio.log"
BIN_HOME="$LECTERN_CACHE_DIR/minio-$MINIO_VERSION"
BIN="$BIN_HOME/minio"
ACCESS_KEY=lectern
SECRET_FILE="$LECTERN_ENGINES_DIR/minio-root.password"

ensure_go() {
  command -v go >/dev/null ||
    die "Go 1.$GO_MIN_MINOR or later is needed to build MinIO; install it (https://go.dev/dl) and put it on PATH"
  local version minor
  version=$(go env GOVERSION)
  minor=$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$version")
  ((${minor:-0} >= GO_MIN_MINOR)) || die "MinIO needs Go 1.$GO_MIN_MINOR or later; found $version"
}

# Builds the binary into the cache, once. A scratch GOBIN renamed into place
# means an interrupted build never leaves a binary later runs would trust.
# CGO off: a static binary, and no C compiler needed on a fresh machine.
# Niced: it takes minutes of both cores, and tests may be running.
ensure_binary() {
  [[ -x $BIN ]] && return 0
  ensure_go
  mkdir -p "$BIN_HOME"
  local partial="$BIN_HOME/bin.partial" started=$SECONDS
  rm -rf "$partial"
  log "building MinIO $MINIO_VERSION with $(go env GOVERSION) (once per machine; minutes on 2 cores; log: $BIN_HOME/build.log)"
  if ! (cd "$BIN_HOME" && GOBIN="$partial" CGO_ENABLED=0 nice -n 10 \
    go install -trimpath "$MINIO_MODULE@$MINIO_VERSION" </dev/null >"$BIN_HOME/build.log" 2>&1); then
    show_log_tail "$BIN_HOME/build.log"
    die "could not build MinIO (full log: $BIN_HOME/build.log)"
  fi
  mv "$partial/minio" "$BIN"
  rm -rf "$partial"
  log "built MinIO in $((SECONDS - started))s: $BIN ($(du -h "$BIN" | cut -f1))"
}

# The root password: generated once, then reused, so that a restart (or a
# wiped data folder) keeps the credentials every client has.
ensure_secret() {
  if [[ ! -s $SECRET_FILE ]]; then
    mkdir -p "$(dirname "$SECRET_FILE")"
    (
      umask 077
      head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$SECRET_FILE.tmp"
    )
    mv "$SECRET_FILE.tmp" "$SECRET_FILE"
    log "generated MinIO's root password into $SECRET_FILE"
  fi
  chmod 600 "$SECRET_FILE"
}

# The status code of GET $1 on our port, or nothing when nothing answers.
# bash's /dev/tcp, so nothing but bash is needed; HTTP/1.0 closes after one answer.
http_status() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n" "$2" "$0" "$1" >&3
    head -n 1 <&3' "$HOST" "$PORT" "$1" 2>/dev/null | awk '{print $2}'
}

# MinIO's own probe: 200 once the server can serve reads and writes.
ready() { [[ $(http_status /minio/health/ready) == 200 ]]; }

wait_until_ready() {
  local pid=$1 deadline=$((SECONDS + 120))
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before MinIO was ready"
      show_log_tail "$LOG"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after 120s waiting for $HOST:$PORT/minio/health/ready"
      show_log_tail "$LOG"
      return 1
    fi
    sleep 0.3
  done
}

# The pid of our MinIO, if it runs (see live_pid_from).
managed_pid() { live_pid_from "$PIDFILE" 'minio server'; }

# The port our server was started with (it differs from $PORT if that was
# started with another LECTERN_MINIO_PORT).
managed_port() { cat "$M_DIR/port" 2>/dev/null; }

cmd_start() {
  with_lock minio
  if port_open "$HOST" "$PORT"; then
    if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
      log "already running on $HOST:$PORT (pid $pid)"
    else
      log "something already answers on $HOST:$PORT; using it as the MinIO server"
    fi
    ready || die "$HOST:$PORT answers but not as a ready MinIO (/minio/health/ready)"
    return
  fi
  if pid=$(managed_pid); then
    die "server pid $pid is alive but $HOST:$PORT does not answer; see $LOG, or '$0 stop' and retry"
  fi
  ensure_binary
  ensure_secret
  mkdir -p "$DATA"
  echo "$PORT" >"$M_DIR/port"
  log "starting MinIO $MINIO_VERSION on $HOST:$PORT (state in $M_DIR)"
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it and it never holds the caller's stdout (see kafka.sh).
  # 9>&-: do not inherit the fd of our start lock (see with_lock).
  # MINIO_BROWSER=off: no web console (and no second port); MINIO_UPDATE=off:
  # it never tries to update itself.
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  (cd "$M_DIR" && exec env MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD_FILE="$SECRET_FILE" \
    MINIO_BROWSER=off MINIO_UPDATE=off \
    "${launcher[@]}" "$BIN" server --quiet --anonymous --address "$HOST:$PORT" "$DATA" \
    </dev/null >>"$LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  wait_until_ready "$pid" || die "MinIO did not start"
  log "MinIO ready: $(cmd_url) (pid $pid)"
}

cmd_stop() {
  local pid
  if pid=$(managed_pid); then
    log "stopping MinIO (pid $pid)"
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
    rm -f "$PIDFILE"
  elif port_open "$HOST" "$PORT"; then
    log "$HOST:$PORT is served by a MinIO not started from $M_DIR; leaving it alone"
  else
    rm -f "$PIDFILE"
    log "not running"
  fi
}

cmd_status() {
  local pid
  if pid=$(managed_pid); then
    echo "running on $HOST:$(managed_port) (pid $pid, state in $M_DIR)"
  fi
  if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
    return 0
  elif port_open "$HOST" "$PORT"; then
    echo "something answers on $HOST:$PORT (not started from $M_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

# The S3 endpoint Lectern and the tests use; credentials are not in it.
cmd_url() {
  echo "http://$HOST:$PORT"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  access-key) echo "$ACCESS_KEY" ;;
  secret-key-file) echo "$SECRET_FILE" ;;
  build)
    with_lock minio
    ensure_binary
    echo "$BIN"
    ;;
  *)
    echo "usage: $0 start|stop|status|url|access-key|secret-key-file|build" >&2
    exit 2
    ;;
esac
