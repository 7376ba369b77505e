#!/usr/bin/env bash
# Builds every tool the checks use that is not cached yet, one after another:
# helm, kubeconform and the Kubernetes schemas (tools.sh), promtool,
# actionlint, and etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (kube.sh); beside them, the image check's base
# image and hadolint. Each is made once per machine and
# version under $LECTERN_CACHE_DIR/tools/, by the script that uses it, under
# that script's build lock; on a warm machine this returns in a second.
#
#   infra/deploy/build-tools.sh
#
# .ci/run starts it in the background, niced, as soon as the npm packages are
# in: on a fresh machine these builds take about half an hour of both cores,
# which would otherwise come one after another in front of the checks that
# need them. Meanwhile the engines start and the tests run, mostly waiting on
# I/O; a check that needs a tool still being built waits on its lock.
set -euo pipefail
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

deploy="$LECTERN_ROOT/infra/deploy"
started=$SECONDS
# What the image check needs first on a fresh machine (buildah and podman
# from apt, the debootstrapped base image, the hadolint virtualenv): mostly
# downloads, so made beside the Go builds instead of in front of the check.
("$deploy/image/base.sh" >/dev/null && "$deploy/image/hadolint.sh" >/dev/null) &
image_prereqs=$!
# helm first: the suite's chart test needs it (.ci/run waits for it before the tests).
"$deploy/tools.sh" ensure helm kubeconform schemas
"$deploy/observability/promtool.sh" path >/dev/null
"$deploy/actionlint.sh" --version >/dev/null
"$deploy/kube.sh" build
wait "$image_prereqs" || die "could not make the image check's base image or install hadolint"
log "every tool is built ($((SECONDS - started))s)"
