#!/usr/bin/env bash
# promtool, Prometheus' own checker for rule files and their unit tests, built
# from source with `go install` once per machine and version (no release
# binary can be downloaded on these machines; see infra/local/minio.sh).
#
#   infra/deploy/observability/promtool.sh path   # builds if needed, prints the binary's path
#   infra/deploy/observability/promtool.sh ARGS…  # runs promtool ARGS…
#
# Binary: $LECTERN_CACHE_DIR/tools/promtool-<version>/promtool, built niced
# (a cold build takes several minutes of both cores). Build log beside it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../local/lib.sh"

# Prometheus tags its Go module v0.3XX.Y for its release v3.XX.Y; this is
# v3.16.0, the newest on the Go module proxy when this was written. Pinned, so
# every machine checks rules with the same promtool as the cached binary.
readonly PROMTOOL_VERSION=v0.316.0
readonly PROMTOOL_MODULE=github.com/prometheus/prometheus/cmd/promtool
# Prometheus' go.mod asks for this much.
readonly GO_MIN_MINOR=24

BIN_HOME="$LECTERN_CACHE_DIR/tools/promtool-$PROMTOOL_VERSION"
BIN="$BIN_HOME/promtool"

ensure_binary() {
  [[ -x $BIN ]] && return 0
  with_lock promtool-build "$BUILD_LOCK_SECONDS"
  go_build_once promtool "$PROMTOOL_MODULE" "$PROMTOOL_VERSION" "$GO_MIN_MINOR" "$BIN_HOME" promtool
}

case "${1:-}" in
  path)
    ensure_binary
    echo "$BIN"
    ;;
  '' | -h | --help)
    echo "usage: $0 path | $0 PROMTOOL-ARGS…" >&2
    exit 2
    ;;
  *)
    ensure_binary
    exec "$BIN" "$@"
    ;;
esac
