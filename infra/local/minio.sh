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

ensure_binary() {
  go_build_once MinIO "$MINIO_MODULE" "$MINIO_VERSION" "$GO_MIN_MINOR" "$BIN_HOME" minio
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

# MinIO's own probe: 200 once the server can serve reads and writes.
ready() { [[ $(http_status "$HOST" "$PORT" /minio/health/ready) == 200 ]]; }

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
  wait_until_ok "$HOST" "$PORT" /minio/health/ready "$pid" "$LOG" || die "MinIO did not start"
  log "MinIO ready: $(cmd_url) (pid $pid)"
}

cmd_stop() { stop_managed MinIO "$PIDFILE" 'minio server' "$HOST" "$PORT" "$M_DIR"; }

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
