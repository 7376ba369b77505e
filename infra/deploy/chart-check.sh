#!/usr/bin/env bash
# Checks the Helm chart offline (what `./dev chart-check` and .ci/run run):
#
#   1. helm lint, with the dev and the prod values;
#   2. helm template of both, for the oldest and the newest Kubernetes the
#      chart is checked against, through kubeconform -strict with the schemas
#      of the kubernetes-validate wheel (no network: every kind must have a
#      schema, and no field may be unknown);
#   3. the chart's own test (infra/deploy/test/chart.unit.test.ts, ava): the
#      properties Lectern relies on (security context, probes and stop
#      timings, the relay's single replica, HPAs, PDBs, secrets only by
#      reference).
#
# The tools are built once per machine (infra/deploy/tools.sh). Needs Node 24
# and the npm packages on PATH for step 3 (`./dev chart-check` sees to both).
set -euo pipefail
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"
deploy="$LECTERN_ROOT/infra/deploy"
chart="$deploy/helm/lectern"

"$deploy/tools.sh" ensure helm kubeconform schemas
helm=$("$deploy/tools.sh" path helm)
kubeconform=$("$deploy/tools.sh" path kubeconform)
schemas=$("$deploy/tools.sh" path schemas)
# helm keeps caches and repository lists under HOME by default; none are
# needed, and a check must not write into the user's configuration.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export HELM_CACHE_HOME="$scratch/cache" HELM_CONFIG_HOME="$scratch/config" HELM_DATA_HOME="$scratch/data"

failed=0
for values in values-dev.yaml values-prod.yaml; do
  log "helm lint --strict -f $values"
  "$helm" lint --strict "$chart" -f "$chart/$values" >&2 || failed=1
  for dir in "$schemas"/v*-standalone-strict; do
    kube=${dir##*/v}
    kube=${kube%-standalone-strict}
    log "helm template -f $values --kube-version $kube | kubeconform -strict"
    if ! "$helm" template lectern "$chart" -f "$chart/$values" --kube-version "$kube" >"$scratch/rendered.yaml"; then
      failed=1
      continue
    fi
    # -summary on stderr: stdout stays for callers, like every script here.
    "$kubeconform" -strict -summary -kubernetes-version "$kube" \
      -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$scratch/rendered.yaml" >&2 || failed=1
  done
done

log "the chart's test (ava)"
(cd "$LECTERN_ROOT" && HELM="$helm" npx ava infra/deploy/test/chart.unit.test.ts) >&2 || failed=1

((failed == 0)) || die "the chart check failed (see above)"
log "chart ok: helm $("$helm" version --short), kubeconform $("$kubeconform" -v)"
