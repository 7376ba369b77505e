#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, to install the chart into:
# etcd and kube-apiserver, so every object the chart makes passes the
# server's own decoding, defaulting, validation and admission (what helm
# template and kubeconform cannot see); the deployment, replica-set and
# service-account controllers and the scheduler, so Deployments become pods
# on nodes; and kwok, which fakes two nodes and reports the pods bound to
# them running and ready (no container runs: infra/deploy/kwok/stages.yaml).
#
# Each binary is built once per machine from the Go module proxy, in a small
# wrapper module (the upstream modules carry replace lines into their own
# repositories, which `go install pkg@version` refuses), under
# $LECTERN_CACHE_DIR/tools/<name>-<version>/.
#
#   infra/deploy/kube.sh build         build what is missing (minutes; the API server the longest)
#   infra/deploy/kube.sh start         start it all on a fresh state; prints `export KUBECONFIG=...`
#   infra/deploy/kube.sh stop | status
#   infra/deploy/kube.sh get /api/...  GET from the API server (JSON on stdout)
#   infra/deploy/kube.sh restricted-namespace NAME   a namespace enforcing Pod Security "restricted"
#
# The API server listens on 127.0.0.1:$LECTERN_KUBE_APISERVER_PORT (26443)
# with a certificate it makes itself and one bearer token generated at start
# (a member of system:masters), kept in a 0600 file under $LECTERN_KUBE_DIR;
# etcd on 127.0.0.1:$LECTERN_KUBE_ETCD_PORT (23790).
set -euo pipefail
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

KUBERNETES_VERSION=v1.37.2
ETCD_VERSION=v3.7.4
KWOK_VERSION=v0.8.0
GO_MIN_MINOR=26
# Loopback ports, clear of the engines' (infra/local/) and their stress copies.
ETCD_PORT=${LECTERN_KUBE_ETCD_PORT:-23790}
ETCD_PEER_PORT=${LECTERN_KUBE_ETCD_PEER_PORT:-23800}
APISERVER_PORT=${LECTERN_KUBE_APISERVER_PORT:-26443}
KUBE_DIR="${LECTERN_KUBE_DIR:-$LECTERN_ENGINES_DIR/kube}"

TOOLS_DIR="$LECTERN_CACHE_DIR/tools"
[[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null && PATH="/usr/local/go/bin:$PATH"

# build_wrapped NAME MODULE VERSION PACKAGE BINARY LDFLAGS [REPLACE...]
# Builds PACKAGE of MODULE@VERSION inside a wrapper module that requires it,
# with REPLACE lines ("old => new version") standing in for its own, and
# LDFLAGS for what the project's own build would set.
build_wrapped() {
  local name=$1 module=$2 version=$3 package=$4 binary=$5 ldflags=$6
  shift 6
  local home="$TOOLS_DIR/$name-$version"
  [[ -x $home/$binary ]] && return 0
  command -v go >/dev/null || die "Go 1.$GO_MIN_MINOR or later is needed to build $name (https://go.dev/dl)"
  local src="$home/src" started=$SECONDS
  rm -rf "$src"
  mkdir -p "$src"
  {
    echo "module lectern.local/build/$name"
    echo
    echo "go 1.$GO_MIN_MINOR"
    echo
    echo "require $module $version"
    local line
    for line in "$@"; do echo "replace $line"; done
  } >"$src/go.mod"
  # A blank import keeps `go mod tidy` from dropping what we build.
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$package" >"$src/tools.go"
  log "building $name $version with $(go env GOVERSION) (once per machine; log: $home/build.log)"
  if ! (cd "$src" && export CGO_ENABLED=0 GOFLAGS=-mod=mod &&
    go mod tidy && nice -n 10 go build -trimpath -ldflags "-s -w $ldflags" -o "$home/$binary.partial" "$package") \
    </dev/null >"$home/build.log" 2>&1; then
    show_log_tail "$home/build.log"
    die "could not build $name (full log: $home/build.log)"
  fi
  mv "$home/$binary.partial" "$home/$binary"
  log "built $name in $((SECONDS - started))s: $home/$binary ($(du -h "$home/$binary" | cut -f1))"
}

# The k8s.io modules kubernetes builds from its staging folder, at the
# version published for this release (v1.37.2 → v0.37.2).
staging_replaces() {
  local gomod staging
  gomod=$(cd "$TOOLS_DIR" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  staging="v0.${KUBERNETES_VERSION#v1.}"
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
    while read -r m; do echo "$m => $m $staging"; done
}

# Under its own lock, in a subshell so that a caller holding the start lock
# (fd 9, see with_lock) keeps it: two builds at once (.ci/run's background
# build and a chart check) would each remove the other's work.
build() {
  (
    with_lock kube-build "$BUILD_LOCK_SECONDS"
    build_all
  )
}

build_all() {
  mkdir -p "$TOOLS_DIR"
  build_wrapped etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd "" \
    "go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION" \
    "go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION" \
    "go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION" \
    "go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION"
  local replaces=()
  mapfile -t replaces < <(staging_replaces)
  ((${#replaces[@]} > 0)) || die "found no staging modules in k8s.io/kubernetes@$KUBERNETES_VERSION's go.mod"
  # The version its Makefile stamps: without it the server calls itself
  # v0.0.0-master, which helm's kubeVersion check (>=1.30) refuses.
  local component pkg minor=${KUBERNETES_VERSION#v1.} ldflags=""
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+="-X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor "
    ldflags+="-X $pkg.gitTreeState=clean "
  done
  for component in kube-apiserver kube-controller-manager kube-scheduler; do
    build_wrapped "$component" k8s.io/kubernetes "$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/$component" "$component" "$ldflags" "${replaces[@]}"
  done
  build_wrapped kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok kwok ""
}


ETCD="$TOOLS_DIR/etcd-$ETCD_VERSION/etcd"
APISERVER="$TOOLS_DIR/kube-apiserver-$KUBERNETES_VERSION/kube-apiserver"
CONTROLLER_MANAGER="$TOOLS_DIR/kube-controller-manager-$KUBERNETES_VERSION/kube-controller-manager"
SCHEDULER="$TOOLS_DIR/kube-scheduler-$KUBERNETES_VERSION/kube-scheduler"
KWOK="$TOOLS_DIR/kwok-$KWOK_VERSION/kwok"
HOST=127.0.0.1

etcd_pid() { live_pid_from "$KUBE_DIR/etcd.pid" etcd; }
apiserver_pid() { live_pid_from "$KUBE_DIR/kube-apiserver.pid" kube-apiserver; }

# launch NAME COMMAND...: in a session of its own, logging to $KUBE_DIR/NAME.log,
# without our lock's descriptor (as minio.sh).
launch() {
  local name=$1
  shift
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  ("${launcher[@]}" "$@" </dev/null >>"$KUBE_DIR/$name.log" 2>&1 9>&-) &
  echo $! >"$KUBE_DIR/$name.pid"
}

# What kubeadm would make and the API server needs: a key pair to sign
# service-account tokens with, and one bearer token for us, all generated
# here and readable by this user only. Its serving certificate it makes itself.
make_credentials() {
  local token
  (
    umask 077
    mkdir -p "$KUBE_DIR/pki"
    openssl genrsa -out "$KUBE_DIR/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$KUBE_DIR/pki/sa.key" -pubout -out "$KUBE_DIR/pki/sa.pub" 2>/dev/null
    token=$(openssl rand -hex 32)
    printf '%s,lectern-admin,lectern-admin,"system:masters"\n' "$token" >"$KUBE_DIR/tokens.csv"
    printf '%s' "$token" >"$KUBE_DIR/token"
    # For curl's -H @file: the token never appears on a command line.
    printf 'Authorization: Bearer %s\n' "$token" >"$KUBE_DIR/auth-header"
    cat >"$KUBE_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster:
      server: https://$HOST:$APISERVER_PORT
      certificate-authority: $KUBE_DIR/pki/apiserver.crt
contexts:
  - name: local
    context: { cluster: local, user: admin, namespace: default }
current-context: local
users:
  - name: admin
    user:
      tokenFile: $KUBE_DIR/token
EOF
  )
}

# GET PATH on the API server as us; the body on stdout.
api_get() {
  curl -sf --cacert "$KUBE_DIR/pki/apiserver.crt" -H "@$KUBE_DIR/auth-header" "https://$HOST:$APISERVER_PORT$1"
}

# POST PATH JSON on the API server as us.
api_post() {
  curl -sf --cacert "$KUBE_DIR/pki/apiserver.crt" -H "@$KUBE_DIR/auth-header" \
    -H 'content-type: application/json' --data-binary "$2" "https://$HOST:$APISERVER_PORT$1"
}

cmd_start() {
  with_lock kube
  if apiserver_pid >/dev/null && etcd_pid >/dev/null; then
    log "already running (API server on $HOST:$APISERVER_PORT)"
    echo "export KUBECONFIG=$KUBE_DIR/kubeconfig"
    return
  fi
  if port_open "$HOST" "$APISERVER_PORT" || port_open "$HOST" "$ETCD_PORT"; then
    die "$HOST:$APISERVER_PORT or $HOST:$ETCD_PORT is taken by something not started from $KUBE_DIR"
  fi
  build
  # A fresh cluster each time: a check must not see a previous run's objects.
  rm -rf "$KUBE_DIR"
  mkdir -p "$KUBE_DIR"
  make_credentials
  log "starting etcd $ETCD_VERSION on $HOST:$ETCD_PORT"
  launch etcd "$ETCD" --name lectern --data-dir "$KUBE_DIR/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "lectern=http://$HOST:$ETCD_PEER_PORT" --log-level warn
  wait_until_ok "$HOST" "$ETCD_PORT" /health "$(cat "$KUBE_DIR/etcd.pid")" "$KUBE_DIR/etcd.log" ||
    die "etcd did not start"
  log "starting kube-apiserver $KUBERNETES_VERSION on $HOST:$APISERVER_PORT"
  # No endpoint reconciler: it refuses a loopback address for the
  # `kubernetes` Service, and no pod here ever calls the API through it.
  # No TaintNodesByCondition: it taints every new node not-ready, a taint
  # only the node lifecycle controller lifts, which is not run (above).
  launch kube-apiserver "$APISERVER" \
    --etcd-servers "http://$HOST:$ETCD_PORT" \
    --bind-address "$HOST" --advertise-address "$HOST" --secure-port "$APISERVER_PORT" \
    --endpoint-reconciler-type none --disable-admission-plugins TaintNodesByCondition \
    --cert-dir "$KUBE_DIR/pki" \
    --token-auth-file "$KUBE_DIR/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$KUBE_DIR/pki/sa.pub" \
    --service-account-signing-key-file "$KUBE_DIR/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16
  local pid deadline=$((SECONDS + ENGINE_READY_SECONDS))
  pid=$(cat "$KUBE_DIR/kube-apiserver.pid")
  until [[ -f $KUBE_DIR/pki/apiserver.crt ]] && api_get /readyz >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail "$KUBE_DIR/kube-apiserver.log"
      die "kube-apiserver exited"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$KUBE_DIR/kube-apiserver.log"
      die "kube-apiserver not ready within ${ENGINE_READY_SECONDS}s"
    fi
    sleep 0.5
  done
  # The controllers that turn a Deployment into pods, the scheduler that
  # puts them on nodes, and kwok, whose fake nodes report them running
  # (infra/deploy/kwok/stages.yaml). Only the controllers the chart needs:
  # the others (the node lifecycle's taints and evictions among them) would
  # only get in the way of nodes that never run anything.
  log "starting kube-controller-manager, kube-scheduler and kwok $KWOK_VERSION"
  launch kube-controller-manager "$CONTROLLER_MANAGER" --kubeconfig "$KUBE_DIR/kubeconfig" \
    --leader-elect=false --secure-port 0 \
    --controllers deployment-controller,replicaset-controller,serviceaccount-controller,garbage-collector-controller
  launch kube-scheduler "$SCHEDULER" --kubeconfig "$KUBE_DIR/kubeconfig" --leader-elect=false --secure-port 0
  launch kwok "$KWOK" --kubeconfig "$KUBE_DIR/kubeconfig" --config "$LECTERN_ROOT/infra/deploy/kwok/stages.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --node-lease-duration-seconds 40
  local node name
  for node in kwok-node-0 kwok-node-1; do
    api_post /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$node\",
      \"annotations\":{\"kwok.x-k8s.io/node\":\"fake\"},
      \"labels\":{\"kubernetes.io/hostname\":\"$node\",\"type\":\"kwok\"}}}" >/dev/null ||
      die "could not create the node $node"
  done
  for name in kube-controller-manager kube-scheduler kwok; do
    kill -0 "$(cat "$KUBE_DIR/$name.pid")" 2>/dev/null || {
      show_log_tail "$KUBE_DIR/$name.log"
      die "$name exited"
    }
  done
  log "ready: https://$HOST:$APISERVER_PORT (pid $pid; etcd pid $(cat "$KUBE_DIR/etcd.pid")), nodes kwok-node-0 and kwok-node-1"
  echo "export KUBECONFIG=$KUBE_DIR/kubeconfig"
}

cmd_stop() {
  local name
  for name in kwok kube-scheduler kube-controller-manager; do
    stop_managed "$name" "$KUBE_DIR/$name.pid" "$name" "$HOST" 1 "$KUBE_DIR"
  done
  stop_managed kube-apiserver "$KUBE_DIR/kube-apiserver.pid" kube-apiserver "$HOST" "$APISERVER_PORT" "$KUBE_DIR"
  stop_managed etcd "$KUBE_DIR/etcd.pid" etcd "$HOST" "$ETCD_PORT" "$KUBE_DIR"
}

cmd_status() {
  local pid
  if pid=$(apiserver_pid); then
    echo "running: https://$HOST:$APISERVER_PORT (pid $pid); KUBECONFIG=$KUBE_DIR/kubeconfig"
  else
    echo "stopped"
    return 3
  fi
}

case "${1:-}" in
  build) build ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  get) api_get "${2:?usage: $0 get /api/path}" ;;
  restricted-namespace)
    # A namespace where the Pod Security admission enforces the `restricted`
    # standard: a pod that breaks it is refused when its ReplicaSet makes it.
    api_post /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{
      \"name\":\"${2:?usage: $0 restricted-namespace NAME}\",
      \"labels\":{\"pod-security.kubernetes.io/enforce\":\"restricted\",\"pod-security.kubernetes.io/warn\":\"restricted\"}}}" >/dev/null ||
      die "could not create the namespace $2"
    ;;
  *)
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
