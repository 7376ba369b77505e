#!/usr/bin/env bash
# A real ClickHouse server for development and CI, on loopback only, from
# Debian's clickhouse-server package (ClickHouse 18.16, the oldest server the
# analytics SQL supports).
#
#   infra/local/clickhouse.sh start|stop|status|url|analyst-password-file
#
# Ports: LECTERN_CLICKHOUSE_HTTP_PORT (18123), LECTERN_CLICKHOUSE_TCP_PORT
# (19000), not the defaults 8123/9000, so a ClickHouse of the machine's own
# is never mistaken for ours.
# State (config, data, logs): LECTERN_CLICKHOUSE_DIR
# ($LECTERN_ENGINES_DIR/clickhouse; /var/lib/clickhouse-lectern as root).
# Users: `default` without a password (loopback only, as PostgreSQL's trust
# rule), and `analyst`, read-only (profile readonly=1) and limited to the
# database `lectern`, whose password is generated once into
# $LECTERN_ENGINES_DIR/clickhouse-analyst.password (mode 0600).
# `start` is idempotent: if something already answers on the HTTP port it is
# taken to be our server (only the `lectern` database is ensured on it).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOST=127.0.0.1
HTTP_PORT="${LECTERN_CLICKHOUSE_HTTP_PORT:-18123}"
TCP_PORT="${LECTERN_CLICKHOUSE_TCP_PORT:-19000}"
# As root the server runs as the package's `clickhouse` user, which cannot
# reach a folder under /root (mode 700); a folder beside the package's own
# /var/lib/clickhouse serves instead (postgres.sh does the same).
if ((EUID == 0)); then
  default_ch_dir=/var/lib/clickhouse-lectern
else
  default_ch_dir=$LECTERN_ENGINES_DIR/clickhouse
fi
CH_DIR="${LECTERN_CLICKHOUSE_DIR:-$default_ch_dir}"
DATA="$CH_DIR/data"
LOG_DIR="$CH_DIR/log"
PIDFILE="$CH_DIR/clickhouse.pid"
STDOUT_LOG="$LOG_DIR/stdout.log" # crashes, bad options
SERVER_LOG="$LOG_DIR/clickhouse-server.log"
DB=lectern
PASSWORD_FILE="$LECTERN_ENGINES_DIR/clickhouse-analyst.password"
# The server's account when we are root: the Debian package creates it.
RUN_AS=clickhouse

ensure_installed() {
  command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null && return 0
  apt_install clickhouse-server clickhouse-client
  command -v clickhouse-server >/dev/null || die "clickhouse-server installed but not on PATH"
}

# GET / with a query over HTTP; prints the body, fails unless the status is 200.
# bash's /dev/tcp, so nothing but bash is needed; HTTP/1.0 closes after one answer.
http_query() {
  local query=$1 response status
  # shellcheck disable=SC2016 # expanded by the inner bash
  response=$(timeout 10 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "POST /?user=default HTTP/1.0\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s" "$0" "${#2}" "$2" >&3
    cat <&3' "$HOST" "$HTTP_PORT" "$query" 2>/dev/null) || return 1
  status=$(head -n 1 <<<"$response" | awk '{print $2}')
  # The body follows the first empty line (headers end with CRLF CRLF).
  sed '1,/^\r\{0,1\}$/d' <<<"$response"
  [[ $status == 200 ]]
}

# The analyst's password: generated once, then reused, so that analysts'
# saved connections survive a restart or a wiped data folder.
analyst_password() {
  if [[ ! -s $PASSWORD_FILE ]]; then
    mkdir -p "$(dirname "$PASSWORD_FILE")"
    (
      umask 077
      head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$PASSWORD_FILE.tmp"
    )
    mv "$PASSWORD_FILE.tmp" "$PASSWORD_FILE"
    log "generated the analyst's password into $PASSWORD_FILE"
  fi
  chmod 600 "$PASSWORD_FILE"
  tr -d '\n' <"$PASSWORD_FILE"
}

# Rewritten on every start so that changing the ports takes effect. The
# server's own files live in $CH_DIR; nothing under /etc is used or changed.
write_config() {
  mkdir -p "$DATA" "$LOG_DIR"
  local hash
  hash=$(printf '%s' "$(analyst_password)" | sha256sum | awk '{print $1}')
  cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by infra/local/clickhouse.sh on each start; edits here are lost. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>$SERVER_LOG</log>
        <errorlog>$LOG_DIR/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <path>$DATA/</path>
    <tmp_path>$DATA/tmp/</tmp_path>
    <user_files_path>$DATA/user_files/</user_files_path>
    <format_schema_path>$DATA/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <!-- Dates of events are UTC days whatever the machine's zone. -->
    <timezone>UTC</timezone>
    <max_connections>1024</max_connections>
    <!-- Longer than clients' idle-socket timers (2.5 s for @clickhouse/client),
         so a kept-alive socket is not closed under a request being sent. -->
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- Caches are allocated on demand; these bounds suit a shared dev box. -->
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>
    <mlock_executable>false</mlock_executable>
</yandex>
EOF
  cat >"$CH_DIR/users.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by infra/local/clickhouse.sh on each start; edits here are lost. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
        <!-- readonly=1: SELECT only, and no changing of settings either. -->
        <analyst>
            <readonly>1</readonly>
            <max_memory_usage>2000000000</max_memory_usage>
            <max_execution_time>300</max_execution_time>
        </analyst>
    </profiles>
    <users>
        <!-- No password: the server listens on loopback only (see listen_host). -->
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <analyst>
            <password_sha256_hex>$hash</password_sha256_hex>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>analyst</profile>
            <quota>default</quota>
            <allow_databases>
                <database>$DB</database>
            </allow_databases>
        </analyst>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
  # The server reads users.xml, which holds the password's hash: its own
  # account only.
  chmod 600 "$CH_DIR/config.xml" "$CH_DIR/users.xml"
  if ((EUID == 0)); then
    id "$RUN_AS" >/dev/null 2>&1 || die "running as root but there is no '$RUN_AS' user to run the server as"
    chown -R "$RUN_AS:" "$CH_DIR"
  fi
}

# The pid of our ClickHouse server, if it runs (see live_pid_from).
managed_pid() { live_pid_from "$PIDFILE" 'clickhouse-server'; }

# The HTTP port in the config our server was started with.
managed_port() {
  sed -n 's|.*<http_port>\([0-9]*\)</http_port>.*|\1|p' "$CH_DIR/config.xml" 2>/dev/null
}

wait_for_select() {
  local pid=$1 deadline=$((SECONDS + ENGINE_READY_SECONDS))
  until [[ $(http_query 'SELECT 1' 2>/dev/null) == 1 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "process $pid exited before answering SELECT 1"
      show_log_tail "$STDOUT_LOG"
      show_log_tail "$LOG_DIR/clickhouse-server.err.log"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${ENGINE_READY_SECONDS}s waiting for SELECT 1 on $HOST:$HTTP_PORT"
      show_log_tail "$LOG_DIR/clickhouse-server.err.log"
      return 1
    fi
    sleep 0.3
  done
}

ensure_database() {
  http_query "CREATE DATABASE IF NOT EXISTS $DB" >/dev/null || die "could not create database $DB"
}

cmd_start() {
  with_lock clickhouse
  if port_open "$HOST" "$HTTP_PORT"; then
    if pid=$(managed_pid) && [[ $(managed_port) == "$HTTP_PORT" ]]; then
      log "already running on $HOST:$HTTP_PORT (pid $pid)"
    else
      log "something already answers on $HOST:$HTTP_PORT; using it as the ClickHouse server"
    fi
    [[ $(http_query 'SELECT 1' 2>/dev/null) == 1 ]] || die "$HOST:$HTTP_PORT answers but not as ClickHouse"
    ensure_database
    return
  fi
  if pid=$(managed_pid); then
    die "server pid $pid is alive but $HOST:$HTTP_PORT does not answer; see $SERVER_LOG, or '$0 stop' and retry"
  fi
  ensure_installed
  write_config
  log "starting ClickHouse $(clickhouse-client --version | sed 's/.*version //; s/\.$//') on $HOST:$HTTP_PORT (native $TCP_PORT, state in $CH_DIR)"
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not
  # reach it and it never holds the caller's stdout (see kafka.sh). As root,
  # setpriv drops to the package's account and execs, so $! is the server.
  # 9>&-: do not inherit the fd of our start lock (see with_lock).
  local launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  ((EUID == 0)) && launcher+=(setpriv "--reuid=$RUN_AS" "--regid=$RUN_AS" --init-groups)
  (cd "$CH_DIR" && exec "${launcher[@]}" clickhouse-server --config-file="$CH_DIR/config.xml" \
    </dev/null >>"$STDOUT_LOG" 2>&1 9>&-) &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  wait_for_select "$pid" || die "ClickHouse did not start"
  ensure_database
  log "ClickHouse ready: $(cmd_url) (pid $pid)"
}

cmd_stop() { stop_managed ClickHouse "$PIDFILE" 'clickhouse-server' "$HOST" "$HTTP_PORT" "$CH_DIR"; }

cmd_status() {
  local pid
  if pid=$(managed_pid); then
    echo "running on $HOST:$(managed_port) (pid $pid, state in $CH_DIR)"
  fi
  if pid=$(managed_pid) && [[ $(managed_port) == "$HTTP_PORT" ]]; then
    return 0
  elif port_open "$HOST" "$HTTP_PORT"; then
    echo "something answers on $HOST:$HTTP_PORT (not started from $CH_DIR)"
  else
    echo "stopped"
    return 3
  fi
}

# The URL Lectern and the tests use: user `default`, no password, database
# `lectern` (@clickhouse/client reads the database from the path).
cmd_url() {
  echo "http://default@$HOST:$HTTP_PORT/$DB"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  analyst-password-file) echo "$PASSWORD_FILE" ;;
  *)
    echo "usage: $0 start|stop|status|url|analyst-password-file" >&2
    exit 2
    ;;
esac
