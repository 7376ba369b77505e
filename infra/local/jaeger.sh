#!/usr/bin/env bash
# A real Jaeger v2 (traces over OTLP, kept in memory, read back through its
# HTTP API and UI) for development and CI, on loopback only. No release
# binary can be downloaded on these machines, so it is built from source,
# once per machine and version, as MinIO and mailpit are.
#
#   infra/local/jaeger.sh start|stop|status|otlp-url|api-url|build
#
# Ports: LECTERN_JAEGER_OTLP_PORT (19318) where processes send OTLP over HTTP,
# LECTERN_JAEGER_UI_PORT (19686) for the UI and /api/traces, and
# LECTERN_JAEGER_GRPC_PORT (19685, the query service's gRPC, unused by us but
# always opened by Jaeger), not Jaeger's defaults (4318, 16686, 16685), so a
# collector or Jaeger of the machine's own is never mistaken for ours. Every
# other port Jaeger would open by default (OTLP gRPC, its own metrics, the
# health check, zipkin) is left out of its configuration.
# State (config, log, pid): LECTERN_JAEGER_DIR ($LECTERN_ENGINES_DIR/jaeger).
# Traces live in memory only: a restart forgets them, which is what tests want.
# Binary: $LECTERN_CACHE_DIR/jaeger-<version>/jaeger, built once (niced).
# `start` is idempotent: if something already answers on the UI port it is
# taken to be our server, provided it answers the query API.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Jaeger v2.13's Go module is tagged v1.76.0 (v2 releases keep the v1 module
# path). Pinned, so every machine runs the same server and the cached binary
# stays valid.
readonly JAEGER_VERSION=v1.76.0
readonly JAEGER_MODULE=github.com/jaegertracing/jaeger
# Jaeger's go.mod asks for this much.
readonly GO_MIN_MINOR=24

HOST=127.0.0.1
OTLP_PORT="${LECTERN_JAEGER_OTLP_PORT:-19318}"
UI_PORT="${LECTERN_JAEGER_UI_PORT:-19686}"
GRPC_PORT="${LECTERN_JAEGER_GRPC_PORT:-19685}"
J_DIR="${LECTERN_JAEGER_DIR:-$LECTERN_ENGINES_DIR/jaeger}"
PIDFILE="$J_DIR/jaeger.pid"
LOG="$J_DIR/jaeger.log"
CONFIG="$J_DIR/config.yaml"
BIN_HOME="$LECTERN_CACHE_DIR/jaeger-$JAEGER_VERSION"
BIN="$BIN_HOME/jaeger"

ready() { [[ $(http_status "$HOST" "$UI_PORT" /api/services) == 200 ]]; }
managed_pid() { live_pid_from "$PIDFILE" 'jaeger'; }
managed_ports() { cat "$J_DIR/ports" 2>/dev/null; }

# `go install module@version` refuses a module whose go.mod has replace
# lines, and Jaeger's has one (an old sarama, which its Kafka storage needs to
# compile). So it is built from a small wrapper module of ours that requires
# Jaeger and copies that replace line; the rest follows go_build_once.
ensure_binary() {
  [[ -x $BIN ]] && return 0
  command -v go >/dev/null ||
    die "Go 1.$GO_MIN_MINOR or later is needed to build Jaeger; install it (https://go.dev/dl) and put it on PATH"
  local go_version minor
  go_version=$(go env GOVERSION)
  minor=$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$go_version")
  ((${minor:-0} >= GO_MIN_MINOR)) || die "Jaeger needs Go 1.$GO_MIN_MINOR or later; found $go_version"
  local src="$BIN_HOME/src" partial="$BIN_HOME/jaeger.partial" started=$SECONDS
  rm -rf "$src" "$partial"
  mkdir -p "$src"
  cat >"$src/go.mod" <<EOF
module lectern.local/jaeger-build

go 1.$GO_MIN_MINOR

// Copied from Jaeger's own go.mod (replace lines only apply in the main module).
replace github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0
EOF
  log "building Jaeger $JAEGER_VERSION with $go_version (once per machine; log: $BIN_HOME/build.log)"
  if ! (cd "$src" && export CGO_ENABLED=0 &&
    nice -n 10 go get "$JAEGER_MODULE/cmd/jaeger@$JAEGER_VERSION" &&
    nice -n 10 go build -trimpath -o "$partial" "$JAEGER_MODULE/cmd/jaeger") \
    </dev/null >"$BIN_HOME/build.log" 2>&1; then
    show_log_tail "$BIN_HOME/build.log"
    die "could not build Jaeger (full log: $BIN_HOME/build.log)"
  fi
  mv "$partial" "$BIN"
  log "built Jaeger in $((SECONDS - started))s: $BIN ($(du -h "$BIN" | cut -f1))"
}

# Jaeger v2 is an OpenTelemetry Collector: this configuration opens only the
# OTLP HTTP receiver and the query service, both on loopback, and keeps
# traces in memory.
write_config() {
  mkdir -p "$J_DIR"
  cat >"$CONFIG.tmp" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: $HOST:$UI_PORT
    grpc:
      endpoint: $HOST:$GRPC_PORT

receivers:
  otlp:
    protocols:
      http:
        endpoint: $HOST:$OTLP_PORT

processors:
  batch:
    # Short, so a test reads its trace a moment after the spans are sent.
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
  mv "$CONFIG.tmp" "$CONFIG"
}

cmd_start() {
  with_lock jaeger
  if port_open "$HOST" "$UI_PORT"; then
    if pid=$(managed_pid) && [[ $(managed_ports) == "$OTLP_PORT $UI_PORT" ]]; then
      log "already running on $HOST:$OTLP_PORT (OTLP) and $HOST:$UI_PORT (UI, API) (pid $pid)"
    else
      log "something already answers on $HOST:$UI_PORT; using it as the Jaeger server"
    fi
    ready || die "$HOST:$UI_PORT answers but not as Jaeger's query service (/api/services)"
    return
  fi
  if pid=$(managed_pid); then
    die "server pid $pid is alive but $HOST:$UI_PORT does not answer; see $LOG, or '$0 stop' and retry"
  fi
  ensure_binary
  write_config
  echo "$OTLP_PORT $UI_PORT" >"$J_DIR/ports"
  log "starting Jaeger $JAEGER_VERSION on $HOST:$OTLP_PORT (OTLP) and $HOST:$UI_PORT (UI, API), config $CONFIG"
  # setsid and 9>&-: as in minio.sh (its own session; not holding our start lock).
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  (cd "$J_DIR" && exec "${launcher[@]}" "$BIN" --config "file:$CONFIG" \
    </dev/null >>"$LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  wait_until_ok "$HOST" "$UI_PORT" /api/services "$pid" "$LOG" || die "Jaeger did not start"
  wait_for_port "$HOST" "$OTLP_PORT" 60 "$pid" "$LOG" || die "Jaeger's OTLP receiver did not open"
  log "Jaeger ready: OTLP $(cmd_otlp_url), UI and API $(cmd_api_url) (pid $pid)"
}

cmd_stop() { stop_managed Jaeger "$PIDFILE" 'jaeger' "$HOST" "$UI_PORT" "$J_DIR"; }

cmd_status() {
  local pid
  if pid=$(managed_pid) && [[ $(managed_ports) == "$OTLP_PORT $UI_PORT" ]]; then
    echo "running on $HOST:$OTLP_PORT (OTLP) and $HOST:$UI_PORT (UI, API) (pid $pid, state in $J_DIR)"
  elif port_open "$HOST" "$UI_PORT"; then
    echo "something answers on $HOST:$UI_PORT (not started from $J_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

# What OTEL_EXPORTER_OTLP_ENDPOINT is set to (the SDK appends /v1/traces).
cmd_otlp_url() { echo "http://$HOST:$OTLP_PORT"; }
# Where tests and people read traces (the UI, and /api/traces, /api/services).
cmd_api_url() { echo "http://$HOST:$UI_PORT"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  otlp-url) cmd_otlp_url ;;
  api-url) cmd_api_url ;;
  build)
    with_lock jaeger
    ensure_binary
    echo "$BIN"
    ;;
  *)
    echo "usage: $0 start|stop|status|otlp-url|api-url|build" >&2
    exit 2
    ;;
esac
