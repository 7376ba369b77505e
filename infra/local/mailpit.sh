#!/usr/bin/env bash
# A real SMTP server with an HTTP API to read what arrived (mailpit), for
# development and CI, on loopback only. Built from source with `go install`,
# once per machine and version, as MinIO is (no release binary can be
# downloaded on these machines).
#
#   infra/local/mailpit.sh start|stop|status|smtp-url|api-url|build
#
# Ports: LECTERN_MAILPIT_SMTP_PORT (19925) for SMTP and LECTERN_MAILPIT_HTTP_PORT
# (19825) for its API, not mailpit's defaults (1025, 8025), so a mailpit of the
# machine's own is never mistaken for ours.
# State (database, log, pid): LECTERN_MAILPIT_DIR ($LECTERN_ENGINES_DIR/mailpit).
# Binary: $LECTERN_CACHE_DIR/mailpit-<version>/mailpit, built once (niced).
# It never reaches for the internet: no version check, no remote images.
# `start` is idempotent: if something already answers on the API port it is
# taken to be our server, provided it answers mailpit's readiness probe.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The newest release the Go module proxy serves here (../shared/ENGINES.md).
readonly MAILPIT_VERSION=v1.33.1
readonly MAILPIT_MODULE=github.com/axllent/mailpit
# mailpit's go.mod asks for this much.
readonly GO_MIN_MINOR=24

HOST=127.0.0.1
SMTP_PORT="${LECTERN_MAILPIT_SMTP_PORT:-19925}"
HTTP_PORT="${LECTERN_MAILPIT_HTTP_PORT:-19825}"
M_DIR="${LECTERN_MAILPIT_DIR:-$LECTERN_ENGINES_DIR/mailpit}"
PIDFILE="$M_DIR/mailpit.pid"
LOG="$M_DIR/mailpit.log"
BIN_HOME="$LECTERN_CACHE_DIR/mailpit-$MAILPIT_VERSION"
BIN="$BIN_HOME/mailpit"

ready() { [[ $(http_status "$HOST" "$HTTP_PORT" /readyz) == 200 ]]; }
managed_pid() { live_pid_from "$PIDFILE" 'mailpit'; }
managed_ports() { cat "$M_DIR/ports" 2>/dev/null; }

cmd_start() {
  with_lock mailpit
  if port_open "$HOST" "$HTTP_PORT"; then
    if pid=$(managed_pid) && [[ $(managed_ports) == "$SMTP_PORT $HTTP_PORT" ]]; then
      log "already running on $HOST:$SMTP_PORT (SMTP) and $HOST:$HTTP_PORT (API) (pid $pid)"
    else
      log "something already answers on $HOST:$HTTP_PORT; using it as the mailpit server"
    fi
    ready || die "$HOST:$HTTP_PORT answers but not as a ready mailpit (/readyz)"
    return
  fi
  if pid=$(managed_pid); then
    die "server pid $pid is alive but $HOST:$HTTP_PORT does not answer; see $LOG, or '$0 stop' and retry"
  fi
  go_build_once mailpit "$MAILPIT_MODULE" "$MAILPIT_VERSION" "$GO_MIN_MINOR" "$BIN_HOME" mailpit
  mkdir -p "$M_DIR"
  echo "$SMTP_PORT $HTTP_PORT" >"$M_DIR/ports"
  log "starting mailpit $MAILPIT_VERSION on $HOST:$SMTP_PORT (SMTP) and $HOST:$HTTP_PORT (API), state in $M_DIR"
  # setsid and 9>&-: as in minio.sh (its own session; not holding our start lock).
  # --max 0: keep every message (tests count them; the default prunes at 500).
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  (cd "$M_DIR" && exec "${launcher[@]}" "$BIN" \
    --smtp "$HOST:$SMTP_PORT" --listen "$HOST:$HTTP_PORT" \
    --database "$M_DIR/mailpit.db" --max 0 \
    --disable-version-check --block-remote-css-and-fonts \
    </dev/null >>"$LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  wait_until_ok "$HOST" "$HTTP_PORT" /readyz "$pid" "$LOG" || die "mailpit did not start"
  log "mailpit ready: $(cmd_smtp_url), API $(cmd_api_url) (pid $pid)"
}

cmd_stop() { stop_managed mailpit "$PIDFILE" 'mailpit' "$HOST" "$HTTP_PORT" "$M_DIR"; }

cmd_status() {
  local pid
  if pid=$(managed_pid) && [[ $(managed_ports) == "$SMTP_PORT $HTTP_PORT" ]]; then
    echo "running on $HOST:$SMTP_PORT (SMTP) and $HOST:$HTTP_PORT (API) (pid $pid, state in $M_DIR)"
  elif port_open "$HOST" "$HTTP_PORT"; then
    echo "something answers on $HOST:$HTTP_PORT (not started from $M_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

# Where Lectern sends mail: plain SMTP on loopback, no credentials.
cmd_smtp_url() { echo "smtp://$HOST:$SMTP_PORT"; }
# Where tests read what arrived (mailpit's API, /api/v1/…).
cmd_api_url() { echo "http://$HOST:$HTTP_PORT"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  smtp-url) cmd_smtp_url ;;
  api-url) cmd_api_url ;;
  build)
    with_lock mailpit
    go_build_once mailpit "$MAILPIT_MODULE" "$MAILPIT_VERSION" "$GO_MIN_MINOR" "$BIN_HOME" mailpit
    echo "$BIN"
    ;;
  *)
    echo "usage: $0 start|stop|status|smtp-url|api-url|build" >&2
    exit 2
    ;;
esac
