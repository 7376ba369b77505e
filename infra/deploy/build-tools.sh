#!/usr/bin/env bash
# Builds every tool the checks use that is not cached yet, one after another:
# helm, kubeconform and the Kubernetes schemas (tools.sh), promtool,
# actionlint, and etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (kube.sh). Each is made once per machine and
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
# helm first: the suite's chart test needs it (.ci/run waits for it before the tests).
"$deploy/tools.sh" ensure helm kubeconform schemas
"$deploy/observability/promtool.sh" path >/dev/null
"$deploy/actionlint.sh" --version >/dev/null
"$deploy/kube.sh" build
log "every tool is built ($((SECONDS - started))s)"
