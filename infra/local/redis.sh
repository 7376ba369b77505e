#!/usr/bin/env bash
# A real Redis for development and CI, on loopback only, from Debian's
# redis-server package (Redis 7.0 on bookworm). The PresenceBus's Redis
# adapter (infra/src/presence/redis.ts) and its contract suite use it.
#
#   infra/local/redis.sh start|stop|status|url|password-file
#
# Port: LECTERN_REDIS_PORT (16379), not Redis's default 6379, so a Redis of
# the machine's own (the Debian package may start one) is never mistaken for ours.
# State (config, ACL file, data, log, pid): LECTERN_REDIS_DIR
# ($LECTERN_ENGINES_DIR/redis; /var/lib/redis-lectern as root, where the
# server runs as the package's `redis` user rather than as root).
# Credentials: the default user is off; the one user, `lectern`, has a
# password generated once into $LECTERN_ENGINES_DIR/redis.password (mode
# 0600). The server's ACL file holds its SHA-256 only; clients get the path
# (`password-file`), never the password in an environment, a URL or a log.
# `start` is idempotent: if something already answers on the port it is
# taken to be our server, provided it accepts that password and answers PING.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
PORT="${LECTERN_REDIS_PORT:-16379}"
# As root the server runs as the package's account, which cannot reach a
# folder under /root (mode 700); a folder of its own under /var/lib serves
# instead (postgres.sh and clickhouse.sh do the same).
if ((EUID == 0)); then
  default_redis_dir=/var/lib/redis-lectern
else
  default_redis_dir=$LECTERN_ENGINES_DIR/redis
fi
R_DIR="${LECTERN_REDIS_DIR:-$default_redis_dir}"
DATA="$R_DIR/data"
CONF="$R_DIR/redis.conf"
ACL="$R_DIR/users.acl"
PIDFILE="$R_DIR/redis.pid"
LOG="$R_DIR/redis.log"
USER_NAME=lectern
PASSWORD_FILE="$LECTERN_ENGINES_DIR/redis.password"
# The server's account when we are root: the Debian package creates it.
RUN_AS=redis

ensure_installed() {
  command -v redis-server >/dev/null && return 0
  apt_install redis-server
  command -v redis-server >/dev/null || die "redis-server installed but not on PATH"
}

# The password: generated once, then reused, so that a restart (or a wiped
# data folder) keeps the credentials every client has.
ensure_password() {
  if [[ ! -s $PASSWORD_FILE ]]; then
    mkdir -p "$(dirname "$PASSWORD_FILE")"
    (
      umask 077
      head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$PASSWORD_FILE.tmp"
    )
    mv "$PASSWORD_FILE.tmp" "$PASSWORD_FILE"
    log "generated the password of Redis's user $USER_NAME into $PASSWORD_FILE"
  fi
  chmod 600 "$PASSWORD_FILE"
}

# Rewritten on every start so that changing the port takes effect. Nothing
# under /etc/redis is used or changed.
write_config() {
  mkdir -p "$DATA"
  local hash
  hash=$(tr -d '\n' <"$PASSWORD_FILE" | sha256sum | awk '{print $1}')
  # The default user (what an unauthenticated client is) can do nothing.
  # `lectern` may use every key, every pub/sub channel and every command but
  # the server's administration (@admin: CONFIG, DEBUG, MODULE, SHUTDOWN,
  # REPLICAOF, …): CONFIG SET is how a leaked password becomes a file
  # written anywhere the server's account may write.
  (
    umask 077
    cat >"$ACL" <<EOF
user default off
user $USER_NAME on #$hash ~* &* +@all -@admin
EOF
    cat >"$CONF" <<EOF
# Written by infra/local/redis.sh on each start; edits here are lost.
bind $HOST
port $PORT
protected-mode yes
daemonize no
dir $DATA
aclfile $ACL
# Presence is ephemeral, rebuilt by heartbeats within seconds: no snapshots,
# no append-only file, so a restart starts empty and tests never wait on disk.
save ""
appendonly no
loglevel notice
EOF
  )
  chmod 600 "$ACL" "$CONF"
  if ((EUID == 0)); then
    id "$RUN_AS" >/dev/null 2>&1 || die "running as root but there is no '$RUN_AS' user to run the server as"
    chown -R "$RUN_AS:" "$R_DIR"
  fi
}

# ready: authenticates as our user and sends PING, in RESP over bash's
# /dev/tcp (no redis-cli needed). The password is read inside the inner
# shell from its file, so it never appears in a process's arguments.
ready() {
  [[ -r $PASSWORD_FILE ]] || return 1
  local answer
  # shellcheck disable=SC2016 # expanded by the inner bash
  answer=$(timeout 5 bash -c '
    pw=$(tr -d "\n" <"$3")
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "*3\r\n\$4\r\nAUTH\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n*1\r\n\$4\r\nPING\r\n" \
      "${#2}" "$2" "${#pw}" "$pw" >&3
    head -n 2 <&3' "$HOST" "$PORT" "$USER_NAME" "$PASSWORD_FILE" 2>/dev/null | tr -d '\r') || return 1
  [[ $answer == $'+OK\n+PONG' ]]
}

wait_until_ready() {
  local pid=$1 deadline=$((SECONDS + ENGINE_READY_SECONDS))
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before answering PING"
      show_log_tail "$LOG"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${ENGINE_READY_SECONDS}s waiting for PING on $HOST:$PORT"
      show_log_tail "$LOG"
      return 1
    fi
    sleep 0.3
  done
}

# The pid of our Redis, if it runs (see live_pid_from).
managed_pid() { live_pid_from "$PIDFILE" 'redis-server'; }

# The port in the config our server was started with.
managed_port() { sed -n 's/^port \([0-9]*\)$/\1/p' "$CONF" 2>/dev/null; }

cmd_start() {
  with_lock redis
  if port_open "$HOST" "$PORT"; then
    if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
      log "already running on $HOST:$PORT (pid $pid)"
    else
      log "something already answers on $HOST:$PORT; using it as the Redis server"
    fi
    ready || die "$HOST:$PORT answers but not as a Redis that accepts $USER_NAME's password ($PASSWORD_FILE)"
    return
  fi
  if pid=$(managed_pid); then
    die "server pid $pid is alive but $HOST:$PORT does not answer; see $LOG, or '$0 stop' and retry"
  fi
  ensure_installed
  ensure_password
  write_config
  log "starting $(redis-server --version | awk '{print $1, $2, $3}') on $HOST:$PORT (state in $R_DIR)"
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it and it never holds the caller's stdout (see kafka.sh). As root,
  # setpriv drops to the package's account and execs, so $! is the server.
  # 9>&-: do not inherit the fd of our start lock (see with_lock).
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  ((EUID == 0)) && launcher+=(setpriv "--reuid=$RUN_AS" "--regid=$RUN_AS" --init-groups)
  (cd "$R_DIR" && exec "${launcher[@]}" redis-server "$CONF" </dev/null >>"$LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  wait_until_ready "$pid" || die "Redis did not start"
  log "Redis ready: $(cmd_url) (pid $pid)"
}

cmd_stop() { stop_managed Redis "$PIDFILE" 'redis-server' "$HOST" "$PORT" "$R_DIR"; }

cmd_status() {
  local pid
  if pid=$(managed_pid); then
    echo "running on $HOST:$(managed_port) (pid $pid, state in $R_DIR)"
  fi
  if pid=$(managed_pid) && [[ $(managed_port) == "$PORT" ]]; then
    return 0
  elif port_open "$HOST" "$PORT"; then
    echo "something answers on $HOST:$PORT (not started from $R_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

# The URL Lectern and the tests use: the user, never the password (that is
# read from the file `password-file` names).
cmd_url() { echo "redis://$USER_NAME@$HOST:$PORT"; }

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  password-file) echo "$PASSWORD_FILE" ;;
  *)
    echo "usage: $0 start|stop|status|url|password-file" >&2
    exit 2
    ;;
esac
