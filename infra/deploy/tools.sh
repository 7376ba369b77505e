#!/usr/bin/env bash
# The tools that check the Helm chart (infra/deploy/helm/lectern), each made
# once per machine and version under $LECTERN_CACHE_DIR/tools/<name>-<version>/:
#
#   helm         go install helm.sh/helm/v3/cmd/helm (minutes on 2 cores)
#   kubeconform  go install github.com/yannh/kubeconform/cmd/kubeconform
#   schemas      the Kubernetes JSON schemas of the PyPI wheel
#                kubernetes-validate, rewritten so kubeconform reads them
#                offline (it cannot download its own here)
#
#   infra/deploy/tools.sh ensure [helm|kubeconform|schemas]...   make what is missing (default: all)
#   infra/deploy/tools.sh path helm|kubeconform|schemas            print where it is, or exit 3 if not made yet
#   infra/deploy/tools.sh status                                   one line per tool
#
# Stdout carries only what `path` prints; logs go to stderr.
set -euo pipefail
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

# Pinned: the newest each registry resolves (December 2026).
HELM_VERSION=v3.22.0
# Its k8s.io/client-go is v0.37: Kubernetes 1.37.
HELM_KUBERNETES_MINOR=37
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# Kubernetes versions the chart is validated against: the oldest its
# Chart.yaml accepts (kubeVersion) and the newest the wheel carries.
KUBERNETES_SCHEMA_VERSIONS=(1.30.0 1.37.0)
# The Go each module's go.mod asks for, as a minor version of 1.x.
HELM_GO_MINOR=26
KUBECONFORM_GO_MINOR=26

TOOLS_DIR="$LECTERN_CACHE_DIR/tools"
helm_home="$TOOLS_DIR/helm-$HELM_VERSION"
kubeconform_home="$TOOLS_DIR/kubeconform-$KUBECONFORM_VERSION"
schemas_home="$TOOLS_DIR/kubernetes-schemas-$KUBERNETES_VALIDATE_VERSION"

# Go on PATH, or where the official tarball puts it.
[[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null && PATH="/usr/local/go/bin:$PATH"

# What helm's Makefile sets and `go install` alone would not: its version,
# and the Kubernetes version of its client-go, which `helm template` and
# `helm lint` assume offline (v1.20 otherwise, below the chart's kubeVersion).
helm_ldflags() {
  local pkg=helm.sh/helm/v3
  printf -- '-X %s=%s ' \
    "$pkg/internal/version.version" "$HELM_VERSION" \
    "$pkg/pkg/chartutil.k8sVersionMajor" 1 "$pkg/pkg/chartutil.k8sVersionMinor" "$HELM_KUBERNETES_MINOR" \
    "$pkg/pkg/lint/rules.k8sVersionMajor" 1 "$pkg/pkg/lint/rules.k8sVersionMinor" "$HELM_KUBERNETES_MINOR"
}

schemas_ready() {
  local v
  for v in "${KUBERNETES_SCHEMA_VERSIONS[@]}"; do
    [[ -f $schemas_home/v$v-standalone-strict/deployment-apps-v1.json ]] || return 1
  done
}

path_of() {
  case "$1" in
    helm) [[ -x $helm_home/helm ]] && echo "$helm_home/helm" ;;
    kubeconform) [[ -x $kubeconform_home/kubeconform ]] && echo "$kubeconform_home/kubeconform" ;;
    schemas) schemas_ready && echo "$schemas_home" ;;
    *) die "unknown tool '$1' (helm, kubeconform or schemas)" ;;
  esac
}

# The wheel is a zip of JSON schemas per Kubernetes version
# (kubernetes_validate/kubernetes-json-schema/v1.30.0-local-strict/…). Each
# file names itself with an absolute `$id` and points at
# `/api/_definitions.json`; kubeconform resolves both against the network.
# Dropping `$id` and making the references relative lets it resolve them
# beside the file instead. The result is laid out as kubeconform's
# `{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}` folders.
make_schemas() {
  schemas_ready && return 0
  command -v python3 >/dev/null || apt_install python3 python3-pip
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  mkdir -p "$schemas_home"
  local wheel_dir="$schemas_home/wheel"
  if ! compgen -G "$wheel_dir/kubernetes_validate-$KUBERNETES_VALIDATE_VERSION-*.whl" >/dev/null; then
    log "downloading the kubernetes-validate $KUBERNETES_VALIDATE_VERSION wheel (PyPI)"
    rm -rf "$wheel_dir"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      -d "$wheel_dir" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  fi
  log "extracting the schemas of Kubernetes ${KUBERNETES_SCHEMA_VERSIONS[*]}"
  python3 - "$schemas_home" "$wheel_dir"/kubernetes_validate-*.whl "${KUBERNETES_SCHEMA_VERSIONS[@]}" <<'PY'
import json, os, sys, zipfile

home, wheel, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = 'kubernetes_validate/kubernetes-json-schema/'

def relative(node):
    if isinstance(node, dict):
        node.pop('$id', None)
        ref = node.get('$ref')
        if isinstance(ref, str) and ref.startswith('/api/_definitions.json'):
            node['$ref'] = ref[len('/api/'):]
        for value in node.values():
            relative(value)
    elif isinstance(node, list):
        for value in node:
            relative(value)

with zipfile.ZipFile(wheel) as z:
    for version in versions:
        source = f'{prefix}v{version}-local-strict/'
        names = [n for n in z.namelist() if n.startswith(source) and n.endswith('.json')]
        if not names:
            sys.exit(f'the wheel has no schemas for Kubernetes {version}')
        # Written beside, then renamed: an interrupted run leaves nothing later runs would trust.
        target = os.path.join(home, f'v{version}-standalone-strict')
        partial = target + '.partial'
        os.makedirs(partial, exist_ok=True)
        for name in names:
            schema = json.loads(z.read(name))
            relative(schema)
            with open(os.path.join(partial, os.path.basename(name)), 'w') as out:
                json.dump(schema, out)
        if os.path.isdir(target):
            os.rename(target, target + '.old')
        os.rename(partial, target)
PY
  rm -rf "$schemas_home"/*.old
  schemas_ready || die "schemas still missing after extracting $wheel_dir"
}

ensure() {
  local tool
  (($# > 0)) || set -- helm kubeconform schemas
  for tool in "$@"; do
    # Two ensures at once (two terminals, parallel CI steps) build once.
    with_lock "tools-$tool" "$BUILD_LOCK_SECONDS"
    case "$tool" in
      helm) go_build_once helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_GO_MINOR" "$helm_home" helm "$(helm_ldflags)" ;;
      kubeconform)
        go_build_once kubeconform github.com/yannh/kubeconform/cmd/kubeconform \
          "$KUBECONFORM_VERSION" "$KUBECONFORM_GO_MINOR" "$kubeconform_home" kubeconform \
          "-X main.version=$KUBECONFORM_VERSION"
        ;;
      schemas) make_schemas ;;
      *) die "unknown tool '$tool' (helm, kubeconform or schemas)" ;;
    esac
    exec 9>&- # release the lock before the next tool
  done
}

case "${1:-ensure}" in
  ensure)
    shift || true
    ensure "$@"
    ;;
  path)
    [[ $# -eq 2 ]] || die "usage: $0 path helm|kubeconform|schemas"
    path_of "$2" || exit 3
    ;;
  status)
    for tool in helm kubeconform schemas; do
      printf '%s: %s\n' "$tool" "$(path_of "$tool" || echo missing)"
    done
    ;;
  versions)
    # For a test or a report: what this checkout pins.
    echo "helm $HELM_VERSION"
    echo "kubeconform $KUBECONFORM_VERSION"
    echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION (Kubernetes ${KUBERNETES_SCHEMA_VERSIONS[*]})"
    ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
