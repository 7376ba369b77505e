#!/usr/bin/env bash
# The contract test of issue 8, line 4: schemathesis (from PyPI, pinned)
# against the embedded server's /openapi.json, every operation, once with an
# admin token and once with a learner token. Fails on any server error,
# response that the document does not describe, or schema-valid request the
# server refuses; prints schemathesis' summary of each run.
#
#   infra/local/schemathesis.sh              both runs, about 2 minutes each
#   LECTERN_SCHEMATHESIS_SECONDS=30 infra/local/schemathesis.sh
#
# The virtualenv is cached under ~/.cache/lectern; the server runs on a free
# port with a data folder of its own, and is stopped on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

version=4.32.5
seconds=${LECTERN_SCHEMATHESIS_SECONDS:-120}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/lectern
venv=$cache/schemathesis-$version

# 1. schemathesis, installed once into a virtualenv of its version. A virtualenv
# cannot be moved (its scripts name their interpreter by absolute path), so it
# is built where it stays and marked finished last: a broken install has no
# mark and is built again.
if [[ ! -f $venv/.installed ]]; then
  echo "installing schemathesis $version into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
  "$venv/bin/schemathesis" --version >/dev/null
  touch "$venv/.installed"
fi

PATH="$(infra/local/node.sh):$PATH"

# 2. The embedded server, alone: the engines' URLs of the caller are left out.
data=$(mktemp -d "${TMPDIR:-/tmp}/lectern-schemathesis-XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -u DATABASE_URL -u KAFKA_BROKERS -u CLICKHOUSE_URL -u EVENTSTORE_URL -u NODE_ENV \
  PORT="$port" LECTERN_DATA_DIR="$data" LOG_LEVEL=warn \
  node apps/server/src/main.ts >"$data/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$data"
}
trap stop EXIT
# Stopped by a timeout: exit through the EXIT trap, so the server never outlives the script.
trap 'exit 143' TERM INT
base=http://127.0.0.1:$port

# Ready, not only alive: routes answer 503 until the engines and consumers are up.
for _ in $(seq 1 240); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server stopped before it was ready:" >&2
    cat "$data/server.log" >&2
    exit 1
  fi
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null || {
  echo "the server was not ready within 120 s:" >&2
  curl -sS "$base/readyz" >&2 || true
  exit 1
}

# 3. One token per role, minted by the development route.
token() {
  curl -fsS -X POST "$base/api/dev/token" -H 'content-type: application/json' \
    -d "{\"sub\":\"$(python3 -c 'import uuid; print(uuid.uuid4())')\",\"roles\":[\"$1\"]}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

admin=$(token admin)
learner=$(token learner)

# 4. Both runs, every phase but the stateful one (the document declares no links).
failed=0
for role in admin learner; do
  echo "==> schemathesis as $role (${seconds}s at most)"
  if ! SCHEMATHESIS_HOOKS=infra/local/schemathesis_hooks.py "$venv/bin/schemathesis" --config-file infra/local/schemathesis.toml --no-color run "$base/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing \
    --max-time "$seconds" --workers 1 --seed 8 \
    -H "Authorization: Bearer $([[ $role == admin ]] && echo "$admin" || echo "$learner")" \
    --report junit --report-dir "$data/report-$role"; then
    failed=1
  fi
done
if ((failed)); then
  echo "schemathesis found the document and the server disagreeing (see above)" >&2
  tail -n 50 "$data/server.log" >&2
fi
exit "$failed"
