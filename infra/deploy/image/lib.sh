# shellcheck shell=bash
# Shared by infra/deploy/image/*.sh. Sourced, never executed: the caller's
# `set -euo pipefail` applies. Builds on infra/local/lib.sh (log, die,
# apt_install, with_lock, the cache folders).
# shellcheck source=../../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../local/lib.sh"

IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Images live in a container storage of our own under the cache, driver vfs:
# this machine's kernel gives unprivileged overlay mounts no help, and a
# storage of our own never meets another tool's choice of driver (containers'
# storage refuses to open a folder made with another). buildah and podman
# both read CONTAINERS_STORAGE_CONF, so every command below shares it.
CONTAINERS_HOME="$LECTERN_CACHE_DIR/containers"
export CONTAINERS_STORAGE_CONF="$CONTAINERS_HOME/storage.conf"

# ensure_container_tools: buildah and podman (with runc; crun fails on these
# machines' cgroups) from Debian, and the storage configuration.
ensure_container_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  if ((${#missing[@]})); then
    with_lock container-tools-install
    apt_install "${missing[@]}"
    # Let go of the lock (fd 9): the containers started later must not hold it.
    exec 9>&-
  fi
  mkdir -p "$CONTAINERS_HOME/storage" "$CONTAINERS_HOME/run"
  # Written every time, so that moving the cache moves the storage with it.
  cat >"$CONTAINERS_STORAGE_CONF.partial" <<EOF
[storage]
driver = "vfs"
graphroot = "$CONTAINERS_HOME/storage"
runroot = "$CONTAINERS_HOME/run"
EOF
  mv "$CONTAINERS_STORAGE_CONF.partial" "$CONTAINERS_STORAGE_CONF"
}

# The flags every buildah build needs here: no daemon, no user namespaces to
# lean on, so chroot isolation (ENGINES.md, "Containers and Kubernetes").
buildah_() { buildah --storage-driver vfs "$@"; }
podman_() { podman --storage-driver vfs --runtime runc "$@"; }
