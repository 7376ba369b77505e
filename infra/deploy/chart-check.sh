#!/usr/bin/env bash
# Checks the Helm chart (what `./dev chart-check` and .ci/run run):
#
#   1. helm lint, with the dev and the prod values;
#   2. helm template of both, for the oldest and the newest Kubernetes the
#      chart is checked against, through kubeconform -strict with the schemas
#      of the kubernetes-validate wheel (no network: every kind must have a
#      schema, and no field may be unknown);
#   3. the chart's own test (infra/deploy/test/chart.unit.test.ts, ava): the
#      properties Lectern relies on (security context, probes and stop
#      timings, the relay's single replica, HPAs, PDBs, secrets only by
#      reference);
#   4. helm install of both into a real control plane (infra/deploy/kube.sh:
#      etcd, kube-apiserver, controllers, scheduler, kwok's fake nodes;
#      started fresh and stopped after), each in a namespace enforcing Pod
#      Security "restricted": every object accepted and stored as sent, the
#      Deployments with their replicas and their pods ready
#      (infra/deploy/verify-install.ts), and an invalid object refused.
#
#   infra/deploy/chart-check.sh [--offline]    --offline: steps 1 to 3 only
#
# The tools are built once per machine (infra/deploy/tools.sh, kube.sh).
# Needs Node 24 and the npm packages on PATH (`./dev chart-check` sees to both).
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

if [[ ${1:-} != --offline ]]; then
  # 4. A real API server, fresh, stopped however this ends.
  kube="$deploy/kube.sh"
  trap '"$kube" stop >&2 || true; rm -rf "$scratch"' EXIT
  kube_env=$("$kube" start) || die "the control plane did not start (see above)"
  eval "$kube_env"
  kube_dir=$(dirname "$KUBECONFIG")
  export KUBE_SERVER="https://127.0.0.1:${LECTERN_KUBE_APISERVER_PORT:-26443}" \
    KUBE_CA="$kube_dir/pki/apiserver.crt" KUBE_TOKEN_FILE="$kube_dir/token" HELM="$helm"
  for values in values-dev.yaml values-prod.yaml; do
    namespace="lectern-${values#values-}"
    namespace=${namespace%.yaml}
    log "helm install -f $values into namespace $namespace (Pod Security: restricted)"
    "$kube" restricted-namespace "$namespace"
    if "$helm" install lectern "$chart" -n "$namespace" -f "$chart/$values" >&2; then
      (cd "$LECTERN_ROOT" && node infra/deploy/verify-install.ts "$namespace" lectern) || failed=1
    else
      failed=1
    fi
  done
  # The server's own checks are in the way: a quantity it cannot parse passes
  # kubeconform (the schema says string) but not the server. helm's check
  # against the server's OpenAPI document is turned off, so the refusal is
  # the server's.
  log "helm install of an invalid object (must be refused)"
  if "$helm" install lectern "$chart" -n lectern-invalid --create-namespace -f "$chart/values-dev.yaml" \
    --disable-openapi-validation --set roles.api.resources.requests.cpu=lots >"$scratch/invalid.log" 2>&1; then
    log "an invalid CPU request was accepted"
    failed=1
  elif ! grep -q "quantities must match" "$scratch/invalid.log"; then
    cat "$scratch/invalid.log" >&2
    log "refused, but not by the server's validation"
    failed=1
  else
    log "refused by the API server: $(grep -o 'Deployment[^:]*: [^,]*' "$scratch/invalid.log" | head -1)"
  fi
fi

((failed == 0)) || die "the chart check failed (see above)"
log "chart ok: helm $("$helm" version --short), kubeconform $("$kubeconform" -v)"
