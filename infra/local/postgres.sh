#!/usr/bin/env bash
# A real PostgreSQL for development and CI, on loopback only.
#
#   infra/local/postgres.sh start|stop|status|url
#
# Port: LECTERN_PG_PORT (15432: below Linux's ephemeral ports, 32768-60999, like
# every engine here, so no outgoing connection can hold it). Data and log: LECTERN_PG_DIR
# ($LECTERN_ENGINES_DIR/postgres; /var/lib/postgresql/lectern as root). Installs Debian's postgresql when missing.
# `start` is idempotent: if something already answers on the port it is taken
# to be our server (only the `lectern` database is ensured on it).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${LECTERN_PG_PORT:-15432}"
# As root the server runs as the `postgres` user, which cannot reach a folder
# under /root (mode 700); its own home is the natural place instead.
if ((EUID == 0)); then
  default_pg_dir=/var/lib/postgresql/lectern
else
  default_pg_dir=$LECTERN_ENGINES_DIR/postgres
fi
PG_DIR="${LECTERN_PG_DIR:-$default_pg_dir}"
DATA="$PG_DIR/data"
LOGFILE="$PG_DIR/postgres.log"
DB=lectern
HOST=127.0.0.1
# psql must never sit waiting on a half-open server.
export PGCONNECT_TIMEOUT=10

# Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<major>/bin.
# LECTERN_PG_BIN wins; then a pg_ctl on PATH (Homebrew, hand installs); then
# the newest Debian major.
find_bindir() {
  if [[ -n ${LECTERN_PG_BIN:-} ]]; then
    echo "$LECTERN_PG_BIN"
    return
  fi
  local d
  if d=$(command -v pg_ctl) && [[ -x $(dirname "$d")/initdb ]]; then
    dirname "$d"
    return
  fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r); do
    if [[ -x $d/pg_ctl && -x $d/initdb ]]; then
      echo "$d"
      return
    fi
  done
  return 1
}

ensure_installed() {
  if ! BIN=$(find_bindir); then
    apt_install postgresql
    BIN=$(find_bindir) || die "postgresql installed but no initdb/pg_ctl found"
  fi
  PSQL="$BIN/psql"
  [[ -x $PSQL ]] || PSQL=$(command -v psql) || die "psql not found"
}

# PostgreSQL refuses to run as root, so as root we run the server tools as the
# `postgres` OS user (created by the Debian package). `cd /` first: the
# caller's directory (often under /root) may be unreadable to that user, and
# initdb/pg_ctl fail when they cannot resolve their working directory.
run_pg() {
  if ((EUID == 0)); then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as"
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# As root, the data folder must be reachable by the postgres user. With the
# default engines dir under /root (mode 700) it is not, so we grant search
# permission (x, not read) on the blocking parent folders: other users can then
# reach paths whose names they know, but still cannot list /root.
prepare_dir() {
  mkdir -p "$PG_DIR"
  ((EUID == 0)) || return 0
  chown postgres:postgres "$PG_DIR"
  # Top down, so only the folders that actually block get changed.
  local d=
  local -a parts
  IFS=/ read -r -a parts <<<"${PG_DIR#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    if ! runuser -u postgres -- test -x "$d"; then
      log "granting search permission (o+x) on $d so the postgres user can reach $PG_DIR"
      chmod o+x "$d"
    fi
  done
}

psql_admin() {
  "$PSQL" -h "$HOST" -p "$PORT" -U postgres -d postgres -X -q -t -A -v ON_ERROR_STOP=1 "$@"
}

ensure_database() {
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'") ]]; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE $DB"
  fi
}

init_cluster() {
  log "initdb in $DATA"
  # Trust auth is safe only because the server listens on 127.0.0.1 alone and
  # has no Unix socket; it lets tests connect as the superuser `postgres`
  # without a password, which they need in order to CREATE DATABASE their own
  # throwaway databases. --locale=C: byte-order collation, same on every box.
  run_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >>"$PG_DIR/initdb.log"
  # Replace the generated rules (which also trust ::1 and local sockets) with
  # exactly one: TCP from IPv4 loopback.
  run_pg tee "$DATA/pg_hba.conf" >/dev/null <<'EOF'
# Written by infra/local/postgres.sh: loopback TCP only, no password.
host  all          all  127.0.0.1/32  trust
host  replication  all  127.0.0.1/32  trust
EOF
  # fsync stays on (the default): benchmark figures and crash behaviour should
  # be those of a real deployment, not of a server that may lose commits.
  run_pg tee -a "$DATA/postgresql.conf" >/dev/null <<'EOF'

# Added by infra/local/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = ''   # TCP only: nothing reachable through the filesystem
max_connections = 300          # parallel test files each open pools of their own
EOF
}

ours_running() {
  [[ -n ${BIN:-} && -f $DATA/postmaster.pid ]] && run_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# The port our server actually listens on (line 4 of postmaster.pid), which
# differs from $PORT if it was started with another LECTERN_PG_PORT.
ours_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }

cmd_start() {
  with_lock postgres
  ensure_installed
  if port_open "$HOST" "$PORT"; then
    if ours_running && [[ $(ours_port) == "$PORT" ]]; then
      log "already running on $HOST:$PORT (data $DATA)"
    else
      log "something already answers on $HOST:$PORT; using it as the PostgreSQL server"
    fi
    ensure_database
    return
  fi
  prepare_dir
  [[ -f $DATA/PG_VERSION ]] || init_cluster
  log "starting PostgreSQL on $HOST:$PORT (data $DATA, log $LOGFILE)"
  # The port is given on the command line, not in postgresql.conf, so the same
  # data folder can be started on another port by changing LECTERN_PG_PORT.
  # 9>&-: the server must not inherit the fd holding our start lock, or the
  # lock would stay taken for as long as the server runs.
  if ! run_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -o "-p $PORT" -w -t "$ENGINE_READY_SECONDS" -s start 9>&-; then
    show_log_tail "$LOGFILE"
    die "PostgreSQL did not start"
  fi
  wait_for_port "$HOST" "$PORT" "$ENGINE_READY_SECONDS" "" "$LOGFILE" || die "PostgreSQL does not answer on $HOST:$PORT"
  ensure_database
  log "PostgreSQL ready: $(cmd_url)"
}

cmd_stop() {
  BIN=$(find_bindir) || BIN=
  if ours_running; then
    log "stopping PostgreSQL (data $DATA)"
    # fast: roll back open sessions (tests may leave some) instead of waiting.
    run_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop
  elif port_open "$HOST" "$PORT"; then
    log "$HOST:$PORT is served by a PostgreSQL not started from $DATA; leaving it alone"
  else
    log "not running"
  fi
}

cmd_status() {
  BIN=$(find_bindir) || BIN=
  if ours_running; then
    echo "running on $HOST:$(ours_port) (data $DATA)"
  fi
  if ours_running && [[ $(ours_port) == "$PORT" ]]; then
    return 0
  elif port_open "$HOST" "$PORT"; then
    echo "something answers on $HOST:$PORT (not started from $DATA)"
  else
    echo "stopped"
    return 3
  fi
}

cmd_url() {
  echo "postgres://postgres@$HOST:$PORT/$DB"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
