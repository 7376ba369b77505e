#!/usr/bin/env bash
# `./dev image-check`: builds the image here (buildah, chroot isolation, the
# base from base.sh) and proves it, with podman and runc:
#   1. hadolint finds nothing in the Dockerfile;
#   2. the image builds; its size and the build context's size are reported;
#   3. the embedded profile, as the non-root user on a read-only root with
#      /tmp and the data folder writable: /healthz 200, /readyz 200, then a
#      learner registers, verifies through the development mailbox, PUTs their
#      profile and GETs it back; the time from `podman run` to ready is reported;
#   4. `podman stop` (SIGTERM) ends it with status 0 within the grace period;
#   5. when DATABASE_URL, KAFKA_BROKERS and CLICKHOUSE_URL are set (CI: they
#      must be), one container per role against them, each ready.
# In CI (CI=true) a missing prerequisite fails; it never skips.
#
#   infra/deploy/image/check.sh
#   LECTERN_IMAGE=localhost/lectern:dev  the tag to build (default localhost/lectern:check)
#   LECTERN_IMAGE_FFMPEG=false           build without ffmpeg (the WITH_FFMPEG build argument)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

image=${LECTERN_IMAGE:-localhost/lectern:check}
with_ffmpeg=${LECTERN_IMAGE_FFMPEG:-true}
# What Kubernetes gives a pod by default after SIGTERM; the server itself
# drains within LECTERN_SHUTDOWN_GRACE_MS (10 s) of it.
readonly GRACE_SECONDS=30
ci=false
[[ ${CI:-} == true ]] && ci=true
command -v curl >/dev/null || apt_install curl
command -v node >/dev/null || PATH="$(node24_bin):$PATH"

run_id="imgcheck$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/lectern-image-check.XXXXXX")
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do
    podman_ rm --force --time 0 "$c" >/dev/null 2>&1 || true
  done
  [[ -z ${throwaway_db:-} ]] || drop_throwaway_database || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# free_port: a TCP port nothing listens on now (the kernel's choice).
free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# json FIELD: a top-level field of the JSON document on stdin ('' when absent).
json() { node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const v = JSON.parse(s || "{}")[process.argv[1]]; process.stdout.write(v == null ? "" : String(v)); });' "$1"; }

# running NAME: the container is up.
running() { [[ $(podman_ inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# wait_ready NAME PORT PATH DEADLINE_SECONDS: polls until PATH answers 200;
# gives up when the container exits (showing its log) or at the deadline.
wait_ready() {
  local name=$1 port=$2 path=$3 deadline=$((SECONDS + $4))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port$path") == 200 ]]; do
    if ! running "$name"; then
      log "$name exited before $path answered 200; its log:"
      podman_ logs --tail 40 "$name" >&2 || true
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name: $path not 200 within $4s; its last answer and log:"
      curl -s --max-time 5 "http://127.0.0.1:$port$path" >&2 || true
      podman_ logs --tail 40 "$name" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

# The flags of every container here: runc (crun fails on this machine's
# cgroups), the limits the engines need, the image's own user, a read-only
# root with /tmp in memory and the data folder a host folder the user owns.
run_flags() {
  local data=$1
  mkdir -p "$data"
  chown 10001:10001 "$data"
  chmod 0700 "$data"
  printf '%s\n' --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    --read-only --tmpfs /tmp:rw,nosuid,nodev,size=256m --volume "$data:/var/lib/lectern"
}

# 0. In CI nothing is skipped: without the engines' URLs, fail now rather
# than after the build.
missing=()
for v in DATABASE_URL KAFKA_BROKERS CLICKHOUSE_URL; do [[ -n ${!v:-} ]] || missing+=("$v"); done
if ((${#missing[@]})) && [[ $ci == true ]]; then
  die "CI: ${missing[*]} unset; the per-role check needs the engines (eval \"\$(infra/local/up.sh)\")"
fi

# 1. hadolint.
"$IMAGE_DIR/hadolint.sh"

# 2. The image, on the base built here (cached by version), niced: tests may
# be running beside it.
ensure_container_tools
base=$("$IMAGE_DIR/base.sh")
ca_args=()
# The registry may be reached through a TLS-inspecting proxy whose CA only the
# system bundle holds: a build secret, so it never lands in a layer.
[[ -r /etc/ssl/certs/ca-certificates.crt ]] && ca_args=(--secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt)
log "building $image on $base (WITH_FFMPEG=$with_ffmpeg)"
started=$SECONDS
build() {
  nice -n 10 buildah --storage-driver vfs bud --isolation chroot --quiet \
    -f "$IMAGE_DIR/Dockerfile" --build-arg BASE_IMAGE="$base" --build-arg WITH_FFMPEG="$with_ffmpeg" \
    "${ca_args[@]}" -t "$image" . 2>"$build_log"
  local rc=$?
  cat "$build_log" >&2
  return "$rc"
}
# buildah's chroot isolation re-executes a sealed memfd copy of itself for
# each RUN; sealing can fail once with EBUSY ("Close_Fd sealing memfd copy:
# Device or resource busy", seen once in a CI run, not again on retry). That
# failure alone is tried once more; any other fails the check.
build_log=$(mktemp)
if ! build; then
  grep -q 'sealing memfd copy' "$build_log" || die "the image did not build"
  log "buildah could not seal its memfd copy (EBUSY); building once more"
  build || die "the image did not build"
fi
rm -f "$build_log"
build_seconds=$((SECONDS - started))
# The image this tag named before is now untagged; with vfs every layer is a
# full copy (over a gigabyte), so a machine that runs the check daily would
# fill its disk. Only this storage of ours is pruned.
podman_ image prune --force >/dev/null
size=$(podman_ image inspect --format '{{.Size}}' "$image")
# The context as the build saw it: the runtime stage copies all of it to /app.
root=$(podman_ image mount "$image")
context_bytes=$(du -sb --exclude=node_modules "$root/app" | cut -f1)
user=$(podman_ image inspect --format '{{.Config.User}}' "$image")
stop_signal=$(podman_ image inspect --format '{{.Config.StopSignal}}' "$image")
podman_ image unmount "$image" >/dev/null
log "built in ${build_seconds}s: $((size / 1000000)) MB; context $((context_bytes / 1000)) kB; user $user; stop signal $stop_signal"
[[ $user == 10001:10001 ]] || die "the image runs as '$user', not 10001:10001"
[[ $stop_signal == SIGTERM || $stop_signal == 15 ]] || die "the image's stop signal is '$stop_signal', not SIGTERM"

# 3. The embedded profile through the default bridge and a published port.
name="lectern-check-$run_id"
port=$(free_port)
mapfile -t flags < <(run_flags "$work/embedded")
# Created first: with the vfs driver, creating a container copies the whole
# image, which says nothing of how fast the server starts.
create_ns=$(date +%s%N)
podman_ create --name "$name" "${flags[@]}" --publish "127.0.0.1:$port:8000" \
  --env LOG_LEVEL=info "$image" >/dev/null
containers+=("$name")
create_ms=$((($(date +%s%N) - create_ns) / 1000000))
started_ns=$(date +%s%N)
podman_ start "$name" >/dev/null
wait_ready "$name" "$port" /healthz 120 || die "/healthz never answered 200"
alive_ms=$((($(date +%s%N) - started_ns) / 1000000))
wait_ready "$name" "$port" /readyz 300 || die "/readyz never answered 200"
ready_ms=$((($(date +%s%N) - started_ns) / 1000000))
log "embedded: created in ${create_ms} ms; /healthz 200 after ${alive_ms} ms, /readyz 200 after ${ready_ms} ms (from podman start)"
[[ $(podman_ exec "$name" id -u) == 10001 ]] || die "the server does not run as uid 10001"
if podman_ exec "$name" touch /app/written 2>/dev/null; then die "the root filesystem is writable"; fi

# A learner's round trip, as the e2e tests make it (apps/server/test/identity-flow.ts):
# register, read the link from the development mailbox, verify (which answers
# with tokens), PUT the profile, GET it back with the consistency token.
api="http://127.0.0.1:$port"
email="image-check-$run_id@example.org"
post_json() { curl -s --max-time 30 -H 'content-type: application/json' "$@"; }
registered=$(post_json -o /dev/null -w '%{http_code}' "$api/api/identity/register" \
  -d "{\"email\":\"$email\",\"password\":\"image check passphrase $run_id\"}")
[[ $registered == 201 ]] || die "register answered $registered"
verify_token=''
deadline=$((SECONDS + 60))
until [[ -n $verify_token ]]; do
  ((SECONDS < deadline)) || die "no verify-email message for $email within 60s"
  sleep 0.5
  verify_token=$(curl -s --max-time 10 "$api/api/dev/outbox?to=$email" |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = (JSON.parse(s).items ?? []).find((i) => i.template === "verify-email");
      process.stdout.write(/#token=([A-Za-z0-9._-]+)/.exec(m?.text ?? "")?.[1] ?? "");
    });')
done
# The tokens never reach an argument list or a log: headers go through files.
umask 077
post_json -o "$work/tokens.json" "$api/api/identity/verify-email" -d @- <<<"{\"token\":\"$verify_token\"}"
printf 'authorization: Bearer %s\n' "$(json accessToken <"$work/tokens.json")" >"$work/auth.header"
[[ -s $work/auth.header && $(wc -c <"$work/auth.header") -gt 40 ]] || die "verify-email gave no access token"
put_status=$(post_json -X PUT -o "$work/put.json" -D "$work/put.headers" -w '%{http_code}' \
  -H @"$work/auth.header" "$api/api/profile" -d '{"displayName":"Image Check","locale":"fr"}')
[[ $put_status == 200 ]] || die "PUT /api/profile answered $put_status: $(cat "$work/put.json")"
consistency=$(tr -d '\r' <"$work/put.headers" | sed -n 's/^x-consistency-token: //Ip')
[[ -n $consistency ]] || die "PUT /api/profile gave no X-Consistency-Token"
get_status=$(curl -s --max-time 30 -o "$work/get.json" -w '%{http_code}' -H @"$work/auth.header" \
  -H "x-consistency-token: $consistency" "$api/api/profile")
[[ $get_status == 200 ]] || die "GET /api/profile answered $get_status: $(cat "$work/get.json")"
[[ $(json displayName <"$work/get.json") == 'Image Check' && $(json locale <"$work/get.json") == fr ]] ||
  die "GET /api/profile does not show the PUT: $(cat "$work/get.json")"
log "embedded: register → verify → PUT /api/profile 200 → GET /api/profile 200 shows it"

# 4. A graceful stop: SIGTERM, drained, status 0, within the grace period.
started_ns=$(date +%s%N)
podman_ stop --time "$GRACE_SECONDS" "$name" >/dev/null
stop_ms=$((($(date +%s%N) - started_ns) / 1000000))
status=$(podman_ inspect --format '{{.State.ExitCode}}' "$name")
[[ $status == 0 ]] || {
  podman_ logs --tail 40 "$name" >&2 || true
  die "the server exited $status after SIGTERM (137: killed at the end of the ${GRACE_SECONDS}s grace)"
}
podman_ logs "$name" 2>&1 | grep -q '"msg":"shutting down"' || die "the log does not show the SIGTERM being handled"
log "embedded: stopped by SIGTERM in ${stop_ms} ms with status 0 (grace ${GRACE_SECONDS}s)"

# 5. One container per role against the engines of infra/local.
if ((${#missing[@]})); then
  log "per role: skipped (${missing[*]} unset; eval \"\$(infra/local/up.sh)\" first to run it)"
else
  # A database, a ClickHouse database and a namespace of this run's own, as
  # the e2e tests take them: nothing of another run is read or left behind.
  command -v psql >/dev/null || apt_install postgresql-client
  admin_database_url=$DATABASE_URL admin_clickhouse_url=$CLICKHOUSE_URL
  drop_throwaway_database() {
    psql "$admin_database_url" -qAt -c "drop database if exists $throwaway_db with (force)" >/dev/null
    curl -sf --max-time 30 "${admin_clickhouse_url%/*}/" --data-binary "DROP DATABASE IF EXISTS $throwaway_db" >/dev/null
  }
  throwaway_db="lectern_${run_id}"
  psql "$admin_database_url" -qAt -c "create database $throwaway_db" >/dev/null
  export DATABASE_URL="${DATABASE_URL%/*}/$throwaway_db"
  export CLICKHOUSE_URL="${CLICKHOUSE_URL%/*}/$throwaway_db"
  export KAFKA_BROKERS LECTERN_NAMESPACE="$run_id"
  for role in api relay projections workers realtime; do
    name="lectern-check-$run_id-$role"
    port=$(free_port)
    mapfile -t flags < <(run_flags "$work/$role")
    started_ns=$(date +%s%N)
    # --env NAME without a value passes the variable from here, so a URL that
    # carries a password never shows in an argument list.
    podman_ run --detach --name "$name" "${flags[@]}" --network host \
      --env PORT="$port" --env LECTERN_ROLES="$role" --env LOG_LEVEL=warn \
      --env DATABASE_URL --env KAFKA_BROKERS --env CLICKHOUSE_URL --env LECTERN_NAMESPACE \
      "$image" >/dev/null
    containers+=("$name")
    wait_ready "$name" "$port" /readyz 300 || die "role $role never became ready"
    log "role $role: /readyz 200 after $((($(date +%s%N) - started_ns) / 1000000)) ms"
  done
  for role in api relay projections workers realtime; do
    name="lectern-check-$run_id-$role"
    podman_ stop --time "$GRACE_SECONDS" "$name" >/dev/null
    status=$(podman_ inspect --format '{{.State.ExitCode}}' "$name")
    [[ $status == 0 ]] || die "role $role exited $status after SIGTERM"
  done
  log "per role: api, relay, projections, workers and realtime each ready, each stopped with status 0"
fi

log "ok: $image $((size / 1000000)) MB (built in ${build_seconds}s), context $((context_bytes / 1000)) kB, ready in ${ready_ms} ms, stopped in ${stop_ms} ms"
